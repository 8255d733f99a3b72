"""The Kafka consumer (kafka-python): inbound envelopes from backend services.

Reads envelopes from the inbound topic (default `casechain.inbound`) in a consumer group,
appends each poll's records with `CaseLog.append_many` (the rules, bounds and idempotency of
`import`), sends each rejection to the dead-letter topic (default `casechain.rejected`) with
its code, and commits the offsets only after the append and the dead letters are
acknowledged. A crash before the commit redelivers; redelivered envelopes are duplicates and
append nothing. A message it cannot read (not JSON, too large, too deep, a tombstone) is
dead-lettered like any rejection; the consumer goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from casechain.application.case_log import AppendOutcome, CaseLog
from casechain.domain.bounds import MAX_ENVELOPE_BYTES
from casechain.errors import STORE_DOWN, CaseChainError, Rejection

if TYPE_CHECKING:
    from casechain.bootstrap import KafkaSettings

__all__ = ["ConsumeStats", "InboundConsumer"]

log = structlog.get_logger("casechain.kafka")


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
