"""The case log's storage contract, run on SQLite and on PostgreSQL (docs/contract.md, envelope)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from casechain.application.case_log import CaseLog
from casechain.domain.case import Case
from casechain.domain.hashing import GENESIS_HASH, event_hash
from tests.factories import case_walk, envelope

ROOT = Path(__file__).resolve().parents[2]


def _chain_is_intact(records: list[dict[str, object]]) -> bool:
    prev = GENESIS_HASH
    for expected_seq, record in enumerate(records, start=1):
        hashed = {k: v for k, v in record.items() if k not in ("hash", "position")}
        if record["seq"] != expected_seq or record["prev_hash"] != prev:
            return False
        if event_hash(hashed) != record["hash"]:
            return False
        prev = str(record["hash"])
    return True


def test_events_get_a_seq_per_case_and_a_gap_free_global_position(case_log: CaseLog) -> None:
    """seq counts from 1 within each case; position counts 1, 2, 3 ... across all cases."""
    outcomes = list(case_log.append_many([envelope(case_id="A"), envelope(case_id="B"),
                                          envelope("penalty.evidence_collected", case_id="A")]))
    assert [(o.case_id, o.seq, o.position) for o in outcomes] == [("A", 1, 1), ("B", 1, 2),
                                                                  ("A", 2, 3)]


def test_a_walk_through_all_four_stages_is_stored_and_chained(case_log: CaseLog) -> None:
    """Every step of a case is kept, in order, each hash chained to the one before."""
    outcomes = list(case_log.append_many(case_walk("HZ-1")))
    assert {o.status for o in outcomes} == {"appended"}
    records = case_log.case_records("HZ-1")
    assert [r["type"] for r in records] == [e["type"] for e in case_walk()]
    assert _chain_is_intact(records)
    assert records[0]["prev_hash"] == GENESIS_HASH


def test_the_library_repository_rebuilds_the_case(case_log: CaseLog) -> None:
    """The Case aggregate read back through eventsourcing has the case's seq and stage."""
    list(case_log.append_many(case_walk("HZ-1")))
    case = case_log.get_case("HZ-1")
    assert isinstance(case, Case)
    assert (case.version, case.file.stage, case.file.state) == (18, "evaluation", "completed")


def test_the_same_event_id_again_is_a_duplicate_that_appends_nothing(
        case_log: CaseLog, store_url: str) -> None:
    """A repeated event_id is reported as duplicate, also after a restart of the engine."""
    first = envelope()
    assert case_log.append(first).status == "appended"
    assert case_log.append(first).status == "duplicate"
    restarted = CaseLog(store_url)
    try:
        assert restarted.append(first).status == "duplicate"
        assert restarted.append(dict(first, source="resent")).status == "duplicate"
        assert len(restarted.case_records(first["case_id"])) == 1
    finally:
        restarted.close()


def test_a_repeat_inside_one_batch_is_a_duplicate(case_log: CaseLog) -> None:
    """The same event twice in one import batch is appended once."""
    event = envelope()
    assert [o.status for o in case_log.append_many([event, event])] == ["appended", "duplicate"]


def test_expected_seq_must_match_the_case(case_log: CaseLog) -> None:
    """expected_seq other than the case's seq is CONCURRENCY_CONFLICT; the matching one passes."""
    case_log.append(envelope())
    stale = case_log.append(envelope("penalty.evidence_collected", expected_seq=0))
    assert stale.status == "rejected"
    assert [r.code for r in stale.rejections] == ["CONCURRENCY_CONFLICT"]
    assert "expected_seq is 0 but the case is at seq 1" in stale.rejections[0].message
    assert case_log.append(envelope("penalty.evidence_collected", expected_seq=1)).seq == 2


def test_a_rejected_event_appends_nothing(case_log: CaseLog) -> None:
    """An envelope that breaks a rule leaves the store as it was."""
    case_log.append(envelope())
    bad = envelope("penalty.decided", payload={"outcome": "penalty"})
    assert case_log.append(bad).status == "rejected"
    assert len(list(case_log.export())) == 1


def test_the_engine_sets_recorded_at(case_log: CaseLog) -> None:
    """A new event may not bring its own recorded_at or seq: the engine sets them."""
    outcome = case_log.append(envelope(recorded_at="2020-01-01T00:00:00+00:00", seq=7))
    assert outcome.status == "rejected"
    assert outcome.rejections[0].field == "hash"
    case_log.append(envelope())
    assert next(case_log.export())["recorded_at"] > "2026"


def test_export_then_import_into_an_empty_store_restores_it_exactly(
        case_log: CaseLog, tmp_path: Path) -> None:
    """Same seq, recorded_at, prev_hash, hash and position after a round trip."""
    list(case_log.append_many(case_walk("A") + case_walk("B")))
    exported = list(case_log.export())
    copy = CaseLog(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        outcomes = list(copy.append_many(json.loads(json.dumps(e)) for e in exported))
        assert {o.status for o in outcomes} == {"appended"}
        assert list(copy.export()) == exported
    finally:
        copy.close()


def test_an_export_altered_after_the_fact_is_refused(case_log: CaseLog, tmp_path: Path) -> None:
    """Editing one payload value in an exported log gives HASH_MISMATCH; the rest of that
    case cannot follow (its chain is broken) while other cases import."""
    list(case_log.append_many(case_walk("A") + case_walk("B")))
    exported = list(case_log.export())
    paid = next(i for i, e in enumerate(exported) if e["case_id"] == "A"
                and e["type"] == "penalty.paid")
    exported[paid]["payload"]["amount"] = 50
    copy = CaseLog(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        outcomes = list(copy.append_many(exported))
        assert outcomes[paid].status == "rejected"
        assert outcomes[paid].rejections[0].code == "HASH_MISMATCH"
        assert "altered after export" in outcomes[paid].rejections[0].message
        later_a = [o for o in outcomes[paid + 1:] if o.case_id == "A"]
        assert later_a and all(o.rejections[0].code == "HASH_MISMATCH" for o in later_a)
        assert len(copy.case_records("B")) == 18
    finally:
        copy.close()


def test_racing_threads_on_one_case_lose_and_duplicate_nothing(store_url: str) -> None:
    """Eight writers, each with its own engine, append 25 events each to one case, and also
    resend each other's events: 200 stored, seq 1..200, chain intact, no id twice."""
    events = [envelope("penalty.evidence_collected", case_id="RACE") for _ in range(200)]
    logs = [CaseLog(store_url) for _ in range(8)]
    statuses: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        mine = events[n * 25:(n + 1) * 25]
        theirs = events[((n + 1) % 8) * 25:((n + 1) % 8) * 25 + 5]
        for event in mine + theirs:
            outcome = logs[n].append(event)
            with lock:
                statuses.append(outcome.status)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = logs[0].case_records("RACE")
    for log in logs:
        log.close()
    assert statuses.count("appended") == 200
    assert statuses.count("duplicate") == 40
    assert len({r["event_id"] for r in records}) == 200
    assert [r["seq"] for r in records] == list(range(1, 201))
    assert _chain_is_intact(records)


_WRITER = """
import json, sys
from casechain.adapters.logging import configure_logging
from casechain.application.case_log import CaseLog
configure_logging("json", "warning")
url, path = sys.argv[1], sys.argv[2]
log = CaseLog(url)
counts = {}
for line in open(path):
    status = log.append(json.loads(line)).status
    counts[status] = counts.get(status, 0) + 1
log.close()
print(json.dumps(counts))
"""


@pytest.mark.slow
def test_racing_processes_on_one_case_lose_and_duplicate_nothing(
        store_url: str, tmp_path: Path) -> None:
    """Four processes append to one case at once, each also resending the others' events:
    every event is stored exactly once, in one unbroken chain."""
    events = [envelope("penalty.evidence_collected", case_id="RACE") for _ in range(160)]
    files = []
    for n in range(4):
        path = tmp_path / f"writer{n}.jsonl"
        mine = events[n * 40:(n + 1) * 40]
        resent = events[((n + 1) % 4) * 40:((n + 1) % 4) * 40 + 10]
        path.write_text("".join(json.dumps(e) + "\n" for e in mine + resent))
        files.append(path)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, store_url, str(path)],
                              stdout=subprocess.PIPE, cwd=ROOT) for path in files]
    totals = {"appended": 0, "duplicate": 0}
    for proc in procs:
        stdout, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        for status, count in json.loads(stdout).items():
            totals[status] += count
    log = CaseLog(store_url)
    try:
        records = log.case_records("RACE")
    finally:
        log.close()
    assert totals == {"appended": 160, "duplicate": 40}
    assert sorted(r["event_id"] for r in records) == sorted(e["event_id"] for e in events)
    assert _chain_is_intact(records)


def test_an_unknown_case_is_reported_as_not_found(case_log: CaseLog) -> None:
    """Reading a case that has no events raises CaseNotFound, naming the case."""
    from casechain.application.case_log import CaseNotFound

    with pytest.raises(CaseNotFound, match="NOPE"):
        case_log.case_records("NOPE")
    with pytest.raises(CaseNotFound):
        case_log.get_case(str(uuid.uuid4()))
