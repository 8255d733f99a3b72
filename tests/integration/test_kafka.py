"""Kafka in and out against a real Kafka-protocol broker (Tansu), with kafka-python."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from casechain.adapters.kafka_producer import KafkaSettings, OutboundPublisher
from casechain.application.case_log import CaseLog
from casechain.bootstrap import open_case_log, recorder_of
from casechain.entrypoints.kafka_consumer import InboundConsumer
from tests.factories import case_walk, envelope
from tests.helpers import wait_for
from tests.kafka_broker import Broker, topic_names
from tests.pg import outage

pytestmark = pytest.mark.slow  # (kafka-python's unclosed sockets: see pyproject's filters)
FAST_GROUP = {"max_poll_interval_ms": 6000, "session_timeout_ms": 6000}  # rebalance in ~3 s


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    """A Tansu broker for the module (restarted by the tests that stop it)."""
    running = Broker()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def sqlite_log(sqlite_url: str) -> Iterator[CaseLog]:
    """A case log on a fresh SQLite store (the broker tests need no second backend)."""
    log = open_case_log(sqlite_url)
    yield log
    log.close()


def _walks(n: int, prefix: str = "HZ-K") -> list[dict[str, Any]]:
    """n whole cases, their events interleaved (case 0 step 1, case 1 step 1, …)."""
    walks = [case_walk(f"{prefix}{i:03d}") for i in range(n)]
    return [walk[step] for step in range(len(walks[0])) for walk in walks]


def _per_case_first_seen(records: list[Any]) -> dict[str, list[int]]:
    """Each case's seqs in the order first received (redeliveries dropped by event_id)."""
    seen: set[str] = set()
    order: dict[str, list[int]] = {}
    for record in records:
        value = orjson.loads(record.value)
        if value["event_id"] in seen:
            continue
        seen.add(value["event_id"])
        assert record.key.decode() == value["case_id"]
        order.setdefault(value["case_id"], []).append(value["seq"])
    return order


def _produce(broker: Broker, topic: str, values: list[bytes], keys: list[bytes | None]) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for key, value in zip(keys, values, strict=True):
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


# -- publisher ---------------------------------------------------------------------------
def test_every_committed_event_is_published_keyed_by_case_in_case_order(
        broker: Broker, sqlite_log: CaseLog) -> None:
    """90 events of 5 cases reach the topic once each, keyed by case id, each case in seq
    order, with type and schema_version headers and the exported envelope as value."""
    outbound, _, _ = topic_names()
    broker.create_topics(outbound)
    list(sqlite_log.append_many(_walks(5)))
    publisher = OutboundPublisher(recorder_of(sqlite_log), KafkaSettings(broker.bootstrap,
                                                                outbound_topic=outbound), page=40)
    sent = [publisher.publish_page() for _ in range(4)]
    publisher.close()
    records = broker.read_all(outbound, 90)
    assert sent == [40, 40, 10, 0]
    assert publisher.position() == 90
    assert len(records) == 90
    assert _per_case_first_seen(records) == {f"HZ-K{i:03d}": list(range(1, 19)) for i in range(5)}
    first: Any = records[0]
    headers = dict(first.headers)
    value = orjson.loads(first.value)
    assert headers["type"].decode() == value["type"]
    assert headers["schema_version"] == b"1"
    assert {"seq", "position", "recorded_at", "prev_hash", "hash"} <= set(value)


def test_a_publisher_killed_mid_stream_resumes_after_its_tracked_position(
        broker: Broker, tmp_path: Path) -> None:
    """`casechain kafka publish` killed with SIGKILL and started again publishes every event,
    each case's events first seen in seq order, re-sending at most one page."""
    outbound, _, _ = topic_names()
    broker.create_topics(outbound)
    db = f"sqlite:///{tmp_path / 'casechain.db'}"
    log = open_case_log(db)
    events = _walks(50)
    list(log.append_many(events))
    log.close()
    command = [str(Path(sys.executable).parent / "casechain"), "kafka", "publish", "--db", db,
               "--bootstrap-servers", broker.bootstrap, "--topic", outbound, "--page", "200"]
    first = subprocess.Popen(command, env={**os.environ, "CASECHAIN_LOG_LEVEL": "info"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert first.stderr is not None
    for line in first.stderr:  # wait for a few pages to be acknowledged, then kill
        if b'"kafka.published"' in line and b'"last":400' in line:
            break
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stderr.close()
    second = subprocess.run([*command, "--once"], capture_output=True, text=True, timeout=120,
                            check=True)
    records = broker.read_all(outbound, 0, timeout=30, enough=lambda got: len(
        {orjson.loads(r.value)["event_id"] for r in got}) == len(events))
    assert f"position {len(events)}" in second.stdout
    assert 0 <= len(records) - len(events) <= 200
    assert _per_case_first_seen(records) == {f"HZ-K{i:03d}": list(range(1, 19))
                                             for i in range(50)}


def test_a_broker_outage_delays_publishing_but_drops_nothing(sqlite_log: CaseLog) -> None:
    """Events committed while the broker cannot be reached are published once it can; every
    event arrives, each case in order. (The broker keeps running behind a gate the test
    closes: a Kafka cluster keeps its topics through an outage, while Tansu, restarted,
    would come back empty and let a retrying producer write to a topic it no longer has.)"""
    broker = Broker(gated=True)
    broker.start()
    try:
        outbound, _, _ = topic_names()
        broker.create_topics(outbound)
        list(sqlite_log.append_many(_walks(10)[:100]))
        publisher = OutboundPublisher(recorder_of(sqlite_log), KafkaSettings(broker.bootstrap,
                                                                    outbound_topic=outbound),
                                      page=50, flush_timeout=2)
        stop = threading.Event()
        worker = threading.Thread(target=publisher.run, args=(stop, 0.1, 0.5))
        worker.start()
        try:
            assert wait_for(lambda: publisher.position() == 100, 30)
            with broker.unreachable():
                list(sqlite_log.append_many(_walks(10)[100:]))  # committed during the outage
                assert not wait_for(lambda: publisher.position() > 100, 3)  # none acknowledged
            assert wait_for(lambda: publisher.position() == 180, 60)
        finally:
            stop.set()
            worker.join(30)
        whole = {f"HZ-K{i:03d}": list(range(1, 19)) for i in range(10)}
        records = broker.read_all(outbound, 0, enough=lambda got: {
            case: sorted(seqs) for case, seqs in _per_case_first_seen(got).items()
        } == whole)  # a page sent again may come twice: read until every event is there
        assert _per_case_first_seen(records) == whole
    finally:
        broker.stop()


# -- consumer ----------------------------------------------------------------------------
def _consume_until(consumer: InboundConsumer, condition: Any, timeout: float = 60) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop, 0.5))
    worker.start()
    try:
        assert wait_for(condition, timeout), consumer.stats
    finally:
        stop.set()
        worker.join(30)


@pytest.mark.postgres
def test_a_service_posts_a_whole_case_life_over_kafka_and_poison_goes_to_dead_letters(
        broker: Broker, store_url: str) -> None:
    """A case's 18 events are appended from the inbound topic; a message that is not JSON,
    an event that breaks the lifecycle, one nested 1,000 deep (it once stopped the consumer
    on every start) and one over 256 KiB go to the dead-letter topic with their codes; the
    offsets are committed after the append."""
    _, inbound, rejected = topic_names()
    broker.create_topics(inbound, rejected)
    walk = case_walk("HZ-KAFKA")
    wrong = envelope("penalty.decided", "HZ-NOT-FILED")
    deep = orjson.dumps(envelope("supervision.clue_registered", "HZ-DEEP")).replace(
        b'"payload":{', b'"payload":{"extra":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b",")
    big = orjson.dumps(envelope("supervision.clue_registered", "HZ-BIG",
                                payload={"description": "x" * 300_000}))
    values = [orjson.dumps(e) for e in walk[:9]] + [b"{not json"] + [orjson.dumps(wrong)] + [
        deep, big] + [orjson.dumps(e) for e in walk[9:]]
    keys = [e["case_id"].encode() for e in walk[:9]] + [b"HZ-POISON", b"HZ-NOT-FILED"] + [
        b"HZ-DEEP", b"HZ-BIG"] + [e["case_id"].encode() for e in walk[9:]]
    _produce(broker, inbound, values, keys)
    log = open_case_log(store_url)
    try:
        consumer = InboundConsumer(log, KafkaSettings(
            broker.bootstrap, inbound_topic=inbound, dead_letter_topic=rejected,
            group_id=f"g-{inbound}"), **FAST_GROUP)
        _consume_until(consumer, lambda: consumer.stats.read == 22)
        records = log.case_records("HZ-KAFKA")
    finally:
        log.close()
    letters = broker.read_all(rejected, 4)
    codes = sorted(dict(r.headers)["code"].decode() for r in letters)  # type: ignore[attr-defined]
    bodies = [orjson.loads(r.value) for r in letters]  # type: ignore[attr-defined]
    assert [r["seq"] for r in records] == list(range(1, 19))
    assert (consumer.stats.appended, consumer.stats.rejected) == (18, 4)
    assert codes == ["LIFECYCLE_ORDER", "SCHEMA_INVALID", "SCHEMA_INVALID", "SCHEMA_INVALID"]
    assert any("32 levels" in b["message"] for b in bodies)
    assert any("256 KiB" in b["message"] for b in bodies)
    assert {b["source"]["topic"] for b in bodies} == {inbound}
    assert any(b["raw"] == "{not json" for b in bodies)


def test_redelivered_envelopes_append_nothing(broker: Broker, sqlite_log: CaseLog) -> None:
    """The same envelopes sent twice (as a redelivery would) are appended once."""
    _, inbound, rejected = topic_names()
    broker.create_topics(inbound, rejected)
    walk = case_walk("HZ-TWICE")[:6]
    values = [orjson.dumps(e) for e in walk] * 2
    _produce(broker, inbound, values, [b"HZ-TWICE"] * 12)
    consumer = InboundConsumer(sqlite_log, KafkaSettings(
        broker.bootstrap, inbound_topic=inbound, dead_letter_topic=rejected,
        group_id=f"g-{inbound}"), **FAST_GROUP)
    _consume_until(consumer, lambda: consumer.stats.read == 12)
    assert (consumer.stats.appended, consumer.stats.duplicates) == (6, 6)
    assert len(sqlite_log.case_records("HZ-TWICE")) == 6


def test_two_consumers_in_one_group_share_the_partitions(broker: Broker,
                                                         sqlite_log: CaseLog) -> None:
    """Two consumers of one group each take part of a four-partition topic; every case is
    appended whole and nothing twice."""
    _, inbound, rejected = topic_names()
    broker.create_topics(inbound, rejected, partitions=4)
    events = _walks(40, "HZ-G")[:400]
    _produce(broker, inbound, [orjson.dumps(e) for e in events],
             [e["case_id"].encode() for e in events])
    settings = KafkaSettings(broker.bootstrap, inbound_topic=inbound, dead_letter_topic=rejected,
                             group_id=f"g-{inbound}")
    first = InboundConsumer(sqlite_log, settings, max_poll_records=20, **FAST_GROUP)
    second = InboundConsumer(sqlite_log, settings, max_poll_records=20, **FAST_GROUP)
    stop = threading.Event()
    workers = [threading.Thread(target=c.run, args=(stop, 0.5)) for c in (first, second)]
    for worker in workers:
        worker.start()
    try:
        assert wait_for(lambda: first.stats.appended + second.stats.appended == 400, 90)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    assert first.stats.read > 0 and second.stats.read > 0
    assert first.stats.rejected + second.stats.rejected == 0
    assert recorder_of(sqlite_log).max_notification_id() == 400


def test_the_consumer_rides_out_a_broker_restart(sqlite_log: CaseLog) -> None:
    """Envelopes sent before a broker outage and after it are all appended. (The broker is
    made unreachable rather than restarted: a Kafka cluster keeps its topics and offsets
    through an outage, while Tansu, restarted, comes back empty, its offsets starting again
    at 0 behind a consumer that had read to 9 — a flake of the test, not of the consumer.)"""
    broker = Broker(gated=True)
    broker.start()
    try:
        _, inbound, rejected = topic_names()
        broker.create_topics(inbound, rejected)
        walk = case_walk("HZ-RESTART")
        _produce(broker, inbound, [orjson.dumps(e) for e in walk[:9]], [b"HZ-RESTART"] * 9)
        consumer = InboundConsumer(sqlite_log, KafkaSettings(
            broker.bootstrap, inbound_topic=inbound, dead_letter_topic=rejected,
            group_id=f"g-{inbound}"), **FAST_GROUP)
        stop = threading.Event()
        worker = threading.Thread(target=consumer.run, args=(stop, 0.5))
        worker.start()
        try:
            assert wait_for(lambda: consumer.stats.appended == 9, 60)
            with broker.unreachable():
                assert not wait_for(lambda: consumer.stats.read > 9, 3)
            _produce(broker, inbound, [orjson.dumps(e) for e in walk[9:]], [b"HZ-RESTART"] * 9)
            assert wait_for(lambda: consumer.stats.appended == 18, 90), consumer.stats
        finally:
            stop.set()
            worker.join(30)
    finally:
        broker.stop()
    assert [r["seq"] for r in sqlite_log.case_records("HZ-RESTART")] == list(range(1, 19))


def test_a_database_outage_delays_both_directions_and_loses_nothing(broker: Broker,
                                                                    pg_url: str) -> None:
    """PostgreSQL refuses connections for a while under a running consumer and publisher:
    the envelopes sent meanwhile are appended once it is back (each once, in case order),
    and every event reaches the outbound topic."""
    outbound, inbound, rejected = topic_names()
    broker.create_topics(outbound, inbound, rejected)
    log = open_case_log(pg_url)
    walk = case_walk("HZ-DBDOWN")
    settings = KafkaSettings(broker.bootstrap, outbound_topic=outbound, inbound_topic=inbound,
                             dead_letter_topic=rejected, group_id=f"g-{inbound}")
    consumer = InboundConsumer(log, settings, **FAST_GROUP)
    publisher = OutboundPublisher(recorder_of(log), settings, page=50, flush_timeout=2)
    stop = threading.Event()
    workers = [threading.Thread(target=consumer.run, args=(stop, 0.5)),
               threading.Thread(target=publisher.run, args=(stop, 0.1, 0.5))]
    for worker in workers:
        worker.start()
    try:
        _produce(broker, inbound, [orjson.dumps(e) for e in walk[:9]], [b"HZ-DBDOWN"] * 9)
        assert wait_for(lambda: consumer.stats.appended == 9, 60), consumer.stats
        with outage(pg_url):
            _produce(broker, inbound, [orjson.dumps(e) for e in walk[9:]], [b"HZ-DBDOWN"] * 9)
            assert not wait_for(lambda: consumer.stats.appended > 9, 3)
        assert wait_for(lambda: consumer.stats.appended == 18, 60), consumer.stats
        assert wait_for(lambda: publisher.position() == 18, 60)
        alive = all(worker.is_alive() for worker in workers)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    try:
        assert alive
        assert [r["seq"] for r in log.case_records("HZ-DBDOWN")] == list(range(1, 19))
        assert _per_case_first_seen(broker.read_all(outbound, 18)) == {
            "HZ-DBDOWN": list(range(1, 19))}
    finally:
        log.close()


def test_kafka_consume_with_a_key_signs_checkpoints_itself(broker: Broker, tmp_path: Path
                                                           ) -> None:
    """`casechain kafka consume --key K --checkpoint-events 5`, as a process: the events it
    appends are covered by checkpoints it signs itself, which `verify` checks with the
    public key."""
    from casechain.adapters.ledger import Ledger, generate_key
    _, inbound, rejected = topic_names()
    broker.create_topics(inbound, rejected)
    generate_key(tmp_path / "k.pem", tmp_path / "k.pub")
    db = f"sqlite:///{tmp_path / 'casechain.db'}"
    walk = case_walk("HZ-SIGNED")
    _produce(broker, inbound, [orjson.dumps(e) for e in walk], [b"HZ-SIGNED"] * len(walk))
    casechain = str(Path(sys.executable).parent / "casechain")
    worker = subprocess.Popen(
        [casechain, "kafka", "consume", "--db", db, "--bootstrap-servers", broker.bootstrap,
         "--topic", inbound, "--dead-letter-topic", rejected, "--group", f"g-{inbound}",
         "--max-poll-interval-ms", "6000", "--key", str(tmp_path / "k.pem"),
         "--checkpoint-events", "5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open_case_log(db)
    try:
        ledger = Ledger(recorder_of(log))
        signed = wait_for(lambda: getattr(ledger.latest_checkpoint(), "tree_size", 0) == 18, 60)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        log.close()
    verified = subprocess.run([casechain, "verify", "--db", db, "--public-key",
                               str(tmp_path / "k.pub")], capture_output=True, text=True)
    assert signed
    assert verified.returncode == 0, verified.stdout + verified.stderr
