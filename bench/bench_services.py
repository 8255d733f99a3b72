"""HTTP and Kafka benchmark (issue 7), on PostgreSQL, each beside its in-process baseline.

    python bench/bench_services.py [--seconds 20] [--clients 16] [--kafka-events 50000] [--json OUT]

* HTTP: `casechain serve` (one uvicorn process) on loopback; `--clients` threads, each with a
  keep-alive connection, post single events (`POST /v1/events`) of their own cases for
  `--seconds`; requests/s of 201 answers, latency median and 99th percentile. Baseline, same
  run: the same append path (`entrypoints.http.routes._append_all`: scope check, `CaseLog.append_many` of one
  event) called in-process in one thread for the same time. The load generator shares the
  machine's two cores with the server.
* Kafka: `--kafka-events` envelopes are produced to an inbound topic of a Tansu broker first;
  then an `InboundConsumer` appends them (poll, append, dead letters, commit); events/s from
  the first poll to the last commit, and including the group join. Baseline, same run:
  `CaseLog.append_many` of the same envelopes in-process. Then the `OutboundPublisher`
  publishes the store to an outbound topic: events/s until acknowledged.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from casechain.adapters.kafka_producer import KafkaSettings, OutboundPublisher  # noqa: E402
from casechain.adapters.logging import configure_logging  # noqa: E402
from casechain.adapters.tokens import issue_token  # noqa: E402
from casechain.application.synthetic import EVENTS_PER_CASE, generate  # noqa: E402
from casechain.bootstrap import open_case_log, open_projections, open_service, recorder_of  # noqa: E402
from casechain.entrypoints.http.routes import _append_all  # noqa: E402
from casechain.entrypoints.kafka_consumer import InboundConsumer  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from tests.kafka_broker import Broker, free_port, topic_names  # noqa: E402
from tests.pg import create_database, drop_database  # noqa: E402

CASECHAIN = str(Path(sys.executable).with_name("casechain"))


def _streams(clients: int, cases: int) -> list[list[dict[str, Any]]]:
    """The events of `cases` synthetic cases split by case among `clients` streams, each
    stream keeping its cases' events in order."""
    streams: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
    for event in generate(cases, seed=11):
        streams[int(event["case_id"].rsplit("-", 1)[-1]) % clients].append(event)
    return streams


def bench_in_process(seconds: float, events: list[dict[str, Any]], tokens: Path) -> dict[str, Any]:
    url = create_database()
    case_log = open_case_log(url)
    try:
        components = open_service(case_log, open_projections(case_log), tokens)
        principal = components.tokens.principal(_TOKENS["service"])
        done, started = 0, time.perf_counter()
        for event in events:
            (outcome,) = _append_all(components, principal, [event])
            assert outcome.status == "appended", outcome.as_dict()
            done += 1
            if time.perf_counter() - started >= seconds:
                break
        elapsed = time.perf_counter() - started
    finally:
        case_log.close()
        drop_database(url)
    return {"events": done, "seconds": round(elapsed, 2), "per_s": round(done / elapsed)}


def bench_http(seconds: float, streams: list[list[dict[str, Any]]], tokens: Path
               ) -> dict[str, Any]:
    url = create_database()
    port = free_port()
    server = subprocess.Popen([CASECHAIN, "serve", "--db", url, "--tokens", str(tokens),
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _ready(base), 60), "the server did not become ready"
        stop = threading.Event()
        results: list[tuple[int, list[float], int]] = []
        lock = threading.Lock()

        def client(stream: list[dict[str, Any]]) -> None:
            ok, latencies, other = 0, [], 0
            headers = {"Authorization": f"Bearer {_TOKENS['service']}",
                       "Content-Type": "application/json"}
            with httpx.Client(base_url=base, timeout=30) as session:
                for event in stream:
                    if stop.is_set():
                        break
                    sent = time.perf_counter()
                    response = session.post("/v1/events", content=orjson.dumps(event),
                                            headers=headers)
                    latencies.append((time.perf_counter() - sent) * 1000)
                    if response.status_code == 201:
                        ok += 1
                    else:
                        other += 1
            with lock:
                results.append((ok, latencies, other))

        workers = [threading.Thread(target=client, args=(s,)) for s in streams]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        time.sleep(seconds)
        stop.set()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        drop_database(url)
    ok = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    return {"requests_201": ok, "other_status": sum(r[2] for r in results),
            "seconds": round(elapsed, 2), "per_s": round(ok / elapsed),
            "latency_ms_median": round(statistics.median(latencies), 2),
            "latency_ms_p99": round(latencies[int(0.99 * len(latencies))], 2)}


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def bench_kafka(events: list[dict[str, Any]]) -> dict[str, Any]:
    broker = Broker()
    broker.start()
    try:
        outbound, inbound, rejected = topic_names()
        broker.create_topics(inbound, rejected, outbound, partitions=3)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
        started = time.perf_counter()
        for event in events:
            producer.send(inbound, key=event["case_id"].encode(), value=orjson.dumps(event))
        producer.flush()
        producer.close()
        produce_seconds = time.perf_counter() - started

        baseline = _append_in_process(events)
        url = create_database()
        case_log = open_case_log(url)
        try:
            first_poll: list[float] = []
            consumer = InboundConsumer(case_log, KafkaSettings(
                broker.bootstrap, inbound_topic=inbound, dead_letter_topic=rejected,
                group_id=f"bench-{inbound}"), max_poll_interval_ms=6000, session_timeout_ms=6000)
            original = consumer._append

            def timed_append(raws: list[Any]) -> Any:
                if not first_poll:
                    first_poll.append(time.perf_counter())
                return original(raws)

            consumer._append = timed_append  # type: ignore[method-assign]
            stop = threading.Event()
            started = time.perf_counter()
            worker = threading.Thread(target=consumer.run, args=(stop,))
            worker.start()
            assert wait_for(lambda: consumer.stats.read >= len(events), 1800), consumer.stats
            finished = time.perf_counter()
            stop.set()
            worker.join(60)
            assert consumer.stats.appended == len(events), consumer.stats
            publisher = OutboundPublisher(recorder_of(case_log), KafkaSettings(
                broker.bootstrap, outbound_topic=outbound), page=2000)
            published_started = time.perf_counter()
            while publisher.publish_page():
                pass
            publish_seconds = time.perf_counter() - published_started
            publisher.close()
        finally:
            case_log.close()
            drop_database(url)
    finally:
        broker.stop()
    consume = finished - first_poll[0]
    return {"events": len(events), "produce_per_s": round(len(events) / produce_seconds),
            "consume_per_s": round(len(events) / consume),
            "consume_with_group_join_per_s": round(len(events) / (finished - started)),
            "in_process_append_many_per_s": baseline,
            "publish_per_s": round(len(events) / publish_seconds)}


def _append_in_process(events: list[dict[str, Any]]) -> int:
    url = create_database()
    case_log = open_case_log(url)
    try:
        started = time.perf_counter()
        outcomes = list(case_log.append_many(events))
        elapsed = time.perf_counter() - started
        assert all(o.status == "appended" for o in outcomes)
    finally:
        case_log.close()
        drop_database(url)
    return round(len(events) / elapsed)


_TOKENS: dict[str, str] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--kafka-events", type=int, default=50_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as folder:
        tokens = Path(folder) / "tokens.yaml"
        _TOKENS["service"] = issue_token(tokens, "bench", ["service"], "", None)
        streams = _streams(args.clients, 30_000)
        results: dict[str, Any] = {}
        results["in_process_single_append"] = bench_in_process(
            args.seconds, [e for s in streams for e in s][:2_000_000], tokens)
        print("in-process", results["in_process_single_append"], flush=True)
        results["http_single_append"] = bench_http(args.seconds, streams, tokens)
        print("http", results["http_single_append"], flush=True)
        results["http_vs_in_process"] = round(results["http_single_append"]["per_s"]
                                              / results["in_process_single_append"]["per_s"], 3)
        kafka_events = list(generate(args.kafka_events // EVENTS_PER_CASE, seed=12))
        results["kafka"] = bench_kafka(kafka_events)
        print("kafka", results["kafka"], flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
