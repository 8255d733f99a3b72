"""Kafka out (kafka-python): publish committed events; the settings shared with the consumer.

Publisher — every committed event, in global order, to the outbound topic (default
`casechain.events`): key = case id (so one case's events share a partition and keep their
order), value = the exported envelope (as `casechain export` writes it: seq, position,
recorded_at, prev_hash, hash), headers `type`, `schema_version`, `event_id`. The position
published up to is tracked in the store, and only after the broker has acknowledged every
message of a page (acks=all, one request in flight per connection, so retries cannot reorder).
A restart resumes after the tracked position; a broker outage stops the publisher at a page
it then sends again. Delivery is at least once: a consumer dedupes by `event_id`.

The consumer of inbound envelopes drives the engine: `casechain.entrypoints.kafka_consumer`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from eventsourcing.persistence import Tracking
from kafka import KafkaProducer
from kafka.errors import KafkaError

from casechain.adapters import codec
from casechain.adapters.storage import CaseChainRecorder, map_db_errors
from casechain.errors import STORE_DOWN, CaseChainError, ConfigurationError

__all__ = ["KafkaSettings", "OutboundPublisher"]

log = structlog.get_logger("casechain.kafka")

#: Client settings passed through to kafka-python unchanged (security and tuning).
PASSED_THROUGH = ("security_protocol", "sasl_mechanism", "sasl_plain_username",
                  "sasl_plain_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
                  "ssl_password", "ssl_check_hostname", "client_id", "request_timeout_ms")


#: The position cannot be read: the store is down or failing.
_UNREADABLE: tuple[type[Exception], ...] = (*STORE_DOWN, CaseChainError)


@dataclass(frozen=True)
class KafkaSettings:
    """Where and how to reach the brokers, and the topics."""

    bootstrap_servers: str
    outbound_topic: str = "casechain.events"
    inbound_topic: str = "casechain.inbound"
    dead_letter_topic: str = "casechain.rejected"
    group_id: str = "casechain"
    client: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            raise ConfigurationError("Kafka bootstrap servers: none given (--bootstrap-servers "
                                     "or CASECHAIN_KAFKA_BOOTSTRAP, e.g. kafka1:9092,kafka2:9092)")
        unknown = sorted(set(self.client) - set(PASSED_THROUGH))
        if unknown:
            raise ConfigurationError(f"Kafka client setting(s) {', '.join(unknown)} are not "
                                     f"passed through; known: {', '.join(PASSED_THROUGH)}")

    def servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def producer(self, **options: Any) -> KafkaProducer:
        """A producer that keeps order under retries and waits for every replica."""
        # Idempotence off: order comes from one request in flight, and a producer id the
        # broker has forgotten (a restarted broker) would stall an idempotent producer;
        # delivery is at least once by design, consumers dedupe by event_id.
        return KafkaProducer(bootstrap_servers=self.servers(), acks="all", retries=2**31 - 1,
                             max_in_flight_requests_per_connection=1, linger_ms=5,
                             enable_idempotence=False, reconnect_backoff_max_ms=2000,
                             **{**self.client, **options})


# -- outbound ------------------------------------------------------------------------------
class OutboundPublisher:
    """Publishes the store's committed events after its tracked position, page by page."""

    def __init__(self, store: CaseChainRecorder, settings: KafkaSettings, page: int = 1000,
                 flush_timeout: float = 30.0) -> None:
        self.store = store
        self.settings = settings
        self.page = page
        self.flush_timeout = flush_timeout
        self.tracking_name = f"kafka-publisher:{settings.outbound_topic}"
        self._producer: KafkaProducer | None = None
        self._pending: _Page | None = None

    def position(self) -> int:
        """The last position the broker has acknowledged."""
        return self.store.max_tracking_id(self.tracking_name) or 0

    def publish_page(self) -> int:
        """Send the next page of events, wait for the broker's acknowledgements, then track
        the position; the events published (0 when caught up). Raises KafkaError when the
        broker does not acknowledge in time: nothing is tracked, and the next call waits for
        the same sends (the producer keeps retrying them, in order) rather than sending the
        page again; only sends that failed for good make the page go again."""
        if self._pending is None:
            rows = self.store.select_states(self.position(), self.page)
            if not rows:
                return 0
            producer = self._producer or self._connect()
            topic = self.settings.outbound_topic
            futures = [producer.send(topic, key=record["case_id"].encode(),
                                     value=orjson.dumps(record), headers=_headers(record))
                       for record in (_exported(position, state) for position, state in rows)]
            self._pending = _Page(rows[0][0], rows[-1][0], futures)
        page = self._pending
        assert self._producer is not None
        self._producer.flush(timeout=self.flush_timeout)  # KafkaTimeoutError: try again later
        self._pending = None
        failed = next((f for f in page.futures if not f.succeeded()), None)
        if failed is not None:  # given up by the producer: the whole page goes again
            raise failed.exception or KafkaError("a send was not acknowledged")
        with map_db_errors(), self.store.engine.connect() as conn:
            conn = conn.execution_options(casechain_write=True)
            with conn.begin():
                self.store.track_in(conn, Tracking(self.tracking_name, page.last))
        log.info("kafka.published", topic=self.settings.outbound_topic, first=page.first,
                 last=page.last)
        return page.last - page.first + 1

    def run(self, stop: threading.Event, interval: float = 0.5, backoff: float = 1.0) -> int:
        """Publish until `stop` is set: pages while there are events, then poll every
        `interval` seconds; on a broker or store failure wait `backoff` and try the same
        page again. Events published in all."""
        published = 0
        while not stop.is_set():
            try:
                sent = self.publish_page()
            except (KafkaError, CaseChainError, *STORE_DOWN) as exc:
                log.warning("kafka.publish_failed", error=str(exc), position=self._safe_position())
                stop.wait(backoff)
                continue
            published += sent
            if sent < self.page:
                stop.wait(interval)
        self.close()
        return published

    def close(self) -> None:
        """Close the producer (what it could not deliver is sent again by the next run)."""
        self._pending = None
        self._drop_producer()

    def _connect(self) -> KafkaProducer:
        self._producer = self.settings.producer(max_block_ms=int(self.flush_timeout * 1000))
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=1)
            except KafkaError as exc:  # closing a producer of a dead broker
                log.warning("kafka.close_failed", error=str(exc))

    def _safe_position(self) -> int | None:
        try:
            return self.position()
        except _UNREADABLE:
            return None


@dataclass(frozen=True)
class _Page:
    """A page of events sent and not yet acknowledged: its positions and the send futures."""

    first: int
    last: int
    futures: list[Any]


def _exported(position: int, state: bytes) -> dict[str, Any]:
    record = codec.decode_record(state)
    record["position"] = position
    return record


def _headers(record: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [("type", record["type"].encode()),
            ("schema_version", str(record.get("schema_version", 1)).encode()),
            ("event_id", record["event_id"].encode())]
