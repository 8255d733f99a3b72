"""Kafka in and out (kafka-python): publish committed events, consume inbound envelopes.

Publisher — every committed event, in global order, to the outbound topic (default
`casechain.events`): key = case id (so one case's events share a partition and keep their
order), value = the exported envelope (as `casechain export` writes it: seq, position,
recorded_at, prev_hash, hash), headers `type`, `schema_version`, `event_id`. The position
published up to is tracked in the store, and only after the broker has acknowledged every
message of a page (acks=all, one request in flight per connection, so retries cannot reorder).
A restart resumes after the tracked position; a broker outage stops the publisher at a page
it then sends again. Delivery is at least once: a consumer dedupes by `event_id`.

Consumer — reads envelopes from the inbound topic (default `casechain.inbound`) in a
consumer group, appends each poll's records with `CaseLog.append_many` (the rules and
idempotency of `import`), sends each rejection to the dead-letter topic (default
`casechain.rejected`) with its code, and commits the offsets only after the append and the
dead letters are acknowledged. A crash before the commit redelivers; redelivered envelopes
are duplicates and append nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from eventsourcing.persistence import Tracking
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from casechain.adapters import codec
from casechain.adapters.storage import STORE_DOWN, CaseChainRecorder, map_db_errors
from casechain.domain.bounds import MAX_ENVELOPE_BYTES
from casechain.errors import CaseChainError, ConfigurationError, Rejection
from casechain.service import AppendOutcome, CaseLog

__all__ = ["ConsumeStats", "InboundConsumer", "KafkaSettings", "OutboundPublisher"]

log = structlog.get_logger("casechain.kafka")

#: Client settings passed through to kafka-python unchanged (security and tuning).
PASSED_THROUGH = ("security_protocol", "sasl_mechanism", "sasl_plain_username",
                  "sasl_plain_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
                  "ssl_password", "ssl_check_hostname", "client_id", "request_timeout_ms")


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
        except (CaseChainError, *STORE_DOWN):
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


# -- inbound ------------------------------------------------------------------------------
@dataclass
class ConsumeStats:
    """What a consumer did: messages read, appended, duplicates, dead-lettered."""

    read: int = 0
    appended: int = 0
    duplicates: int = 0
    rejected: int = 0

    def add(self, outcomes: Iterable[AppendOutcome]) -> None:
        """Count append outcomes."""
        for outcome in outcomes:
            if outcome.status == "appended":
                self.appended += 1
            elif outcome.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1


class InboundConsumer:
    """Appends envelopes from the inbound topic; rejections go to the dead-letter topic."""

    def __init__(self, case_log: CaseLog, settings: KafkaSettings, max_poll_records: int = 1000,
                 max_poll_interval_ms: int = 300_000, session_timeout_ms: int = 10_000,
                 on_appended: Callable[[int], object] | None = None) -> None:
        self.case_log = case_log
        self.settings = settings
        self.stats = ConsumeStats()
        self.on_appended = on_appended
        self._options = {"max_poll_records": max_poll_records,
                         "max_poll_interval_ms": max_poll_interval_ms,
                         "session_timeout_ms": session_timeout_ms,
                         "heartbeat_interval_ms": max(session_timeout_ms // 3, 100)}
        self._consumer: KafkaConsumer | None = None
        self._dead_letters: KafkaProducer | None = None

    def run(self, stop: threading.Event, backoff: float = 1.0) -> ConsumeStats:
        """Consume until `stop` is set; the offsets of a poll are committed after its append."""
        try:
            while not stop.is_set():
                try:
                    self.consume_once()
                except (KafkaError, CaseChainError, *STORE_DOWN) as exc:
                    log.warning("kafka.consume_failed", error=str(exc))
                    self._rewind()
                    stop.wait(backoff)
        finally:
            self.close()
        return self.stats

    def consume_once(self, timeout_ms: int = 500) -> int:
        """Poll once, append, dead-letter, commit; the messages handled."""
        consumer = self._consumer or self._connect()
        polled = consumer.poll(timeout_ms=timeout_ms)
        records = [r for tp in sorted(polled, key=lambda t: t.partition) for r in polled[tp]]
        if not records:
            return 0
        raws = [_decoded(record.value) for record in records]
        outcomes = self._append(raws)
        letters = [(record, raw, outcome) for record, raw, outcome in zip(records, raws, outcomes,
                                                                         strict=True)
                   if outcome.status == "rejected"]
        if letters:
            self._send_dead_letters(letters)
        consumer.commit()  # the positions polled: everything above has been handled
        self.stats.read += len(records)
        self.stats.add(outcomes)
        appended = sum(1 for o in outcomes if o.status == "appended")
        if appended and self.on_appended:
            self.on_appended(appended)
        log.info("kafka.consumed", messages=len(records), appended=appended,
                 rejected=len(letters))
        return len(records)

    def _append(self, raws: list[Any]) -> list[AppendOutcome]:
        good = [(i, raw) for i, raw in enumerate(raws) if not isinstance(raw, _NotJson)]
        outcomes: dict[int, AppendOutcome] = {}
        for (index, _), outcome in zip(good, self.case_log.append_many(raw for _, raw in good),
                                       strict=True):
            outcome.index = index
            outcomes[index] = outcome
        for index, raw in enumerate(raws):
            if isinstance(raw, _NotJson):
                outcomes[index] = AppendOutcome(index, "rejected", rejections=(Rejection(
                    "SCHEMA_INVALID", raw.error),))
        return [outcomes[i] for i in range(len(raws))]

    def _send_dead_letters(self, letters: list[tuple[Any, Any, AppendOutcome]]) -> None:
        producer = self._dead_letters or self._connect_dead_letters()
        for record, raw, outcome in letters:
            first = outcome.rejections[0]
            body = {"code": first.code, "message": "; ".join(r.message for r in outcome.rejections),
                    "rejections": [r.as_dict() for r in outcome.rejections],
                    "source": {"topic": record.topic, "partition": record.partition,
                               "offset": record.offset},
                    "envelope": raw if not isinstance(raw, _NotJson) else None,
                    "raw": raw.text if isinstance(raw, _NotJson) else None}
            producer.send(self.settings.dead_letter_topic, key=record.key,
                          value=_dead_letter(body, record.value),
                          headers=[("code", first.code.encode())])
            log.warning("kafka.dead_lettered", code=first.code, case_id=outcome.case_id,
                        event_id=outcome.event_id, offset=record.offset)
        producer.flush(timeout=30)

    def _connect(self) -> KafkaConsumer:
        self._consumer = KafkaConsumer(
            self.settings.inbound_topic, bootstrap_servers=self.settings.servers(),
            group_id=self.settings.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", **self._options, **self.settings.client)
        return self._consumer

    def _connect_dead_letters(self) -> KafkaProducer:
        self._dead_letters = self.settings.producer()
        return self._dead_letters

    def _rewind(self) -> None:
        """After a failed poll: go back to the committed offsets, so nothing is skipped."""
        consumer = self._consumer
        if consumer is None:
            return
        try:
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is not None:
                    consumer.seek(tp, committed)
                else:
                    consumer.seek_to_beginning(tp)
        except KafkaError as exc:  # the broker is away: drop the client, start afresh
            log.warning("kafka.rewind_failed", error=str(exc))
            self.close()

    def close(self) -> None:
        """Close the consumer (leaving the group) and the dead-letter producer."""
        consumer, self._consumer = self._consumer, None
        producer, self._dead_letters = self._dead_letters, None
        for client in (consumer, producer):
            if client is not None:
                try:
                    client.close()
                except KafkaError as exc:
                    log.warning("kafka.close_failed", error=str(exc))


def _decoded(value: bytes | None) -> Any:
    """A message's envelope, or why it is none (too large, empty, not JSON): never raises."""
    if value is None:
        return _NotJson(None, "the message has no value (a tombstone); an envelope was expected")
    if len(value) > MAX_ENVELOPE_BYTES:
        return _NotJson(value, f"the message is {len(value):,} bytes; an envelope is at most "
                        f"{MAX_ENVELOPE_BYTES:,} bytes (256 KiB)")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _NotJson(value, f"the message is not JSON ({exc})")


#: The most of a rejected message's own bytes a dead letter carries (brokers refuse
#: messages over about 1 MB by default; a dead letter must always be deliverable).
DEAD_LETTER_RAW = 64 * 1024


def _dead_letter(body: dict[str, Any], value: bytes | None) -> bytes:
    """The dead letter's bytes; an envelope that JSON cannot carry back (nested too deep, say)
    or a long raw text is replaced by the first bytes of the message as text."""
    if body["raw"] is not None and len(body["raw"]) > DEAD_LETTER_RAW:
        body = {**body, "raw": body["raw"][:DEAD_LETTER_RAW], "raw_truncated": True}
    try:
        return orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError):
        text = (value or b"")[:DEAD_LETTER_RAW].decode("utf-8", errors="replace")
        return orjson.dumps({**body, "envelope": None, "raw": text,
                             "raw_truncated": len(value or b"") > DEAD_LETTER_RAW})


@dataclass(frozen=True)
class _NotJson:
    value: bytes | None
    error: str

    @property
    def text(self) -> str:
        return (self.value or b"").decode("utf-8", errors="replace")
