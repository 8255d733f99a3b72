"""An import judges each batch while the batch before it is written (PostgreSQL): the
outcomes, hashes and positions are those of judging one batch after another, and another
writer appending meanwhile is neither lost nor judged against."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.adapters.storage import STATISTICS_FLOOR
from casechain.application.case_log import AppendOutcome, CaseLog, CaseNotFound
from casechain.application.importing import import_file
from casechain.application.simulation import simulate
from casechain.batching import one_of
from casechain.bootstrap import open_case_log, recorder_of
from casechain.domain.case import case_uuid
from tests.factories import envelope
from tests.pg import create_database, drop_database

RECORDED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _fixed() -> datetime:
    return RECORDED


def _log_with_mistakes() -> list[dict[str, Any]]:
    """A simulated log (devices, referrals, decisions) with lines repeated — some in the
    next batch, some far on — an event id reused for another case, and a broken line."""
    pack = load_pack()
    events = list(simulate(150, 3, date(2025, 1, 2), 6, pack, calendar_of(pack)))
    rng = random.Random(7)
    for _ in range(40):
        at = rng.randrange(len(events))
        events.insert(min(len(events), at + rng.choice([1, 30, 45, 400])), dict(events[at]))
    reused = dict(events[500], case_id=events[10]["case_id"])
    events.insert(900, reused)
    events.insert(1200, {"case_id": "HZ-BROKEN", "type": "penalty.case_filed"})
    return events


def _imported(url: str, events: list[dict[str, Any]], ahead: bool
              ) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    case_log = open_case_log(url, clock=_fixed)
    try:
        outcomes = [(o.index, o.status, o.case_id, o.seq, o.position,
                     tuple(r.code for r in o.rejections))
                    for o in case_log.append_many(events, batch_size=37, ahead=ahead)]
        return outcomes, list(case_log.export())
    finally:
        case_log.close()


def test_judging_ahead_gives_the_outcomes_hashes_and_positions_of_judging_in_turn() -> None:
    """The same log imported batch after batch and judged ahead: every outcome (appended,
    duplicate, rejected with its codes), every stored record, hash and position equal."""
    events = _log_with_mistakes()
    urls = [create_database(), create_database()]
    try:
        in_turn = _imported(urls[0], events, ahead=False)
        ahead = _imported(urls[1], events, ahead=True)
    finally:
        for url in urls:
            drop_database(url)
    statuses = {status for _, status, *_ in in_turn[0]}
    assert statuses == {"appended", "duplicate", "rejected"}
    assert ahead[0] == in_turn[0]
    assert ahead[1] == in_turn[1]


def _with_writer_between(events: list[dict[str, Any]], after: int,
                         write: Any) -> Iterator[dict[str, Any]]:
    for number, event in enumerate(events):
        if number == after:
            write()  # while the batch before is being written, before this one is judged
        yield event


def _once_written(case_log: CaseLog, case_id: str) -> None:
    """Wait until the batch in flight has written `case_id`'s first event."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            case_log.case_records(case_id)
            return
        except CaseNotFound:
            time.sleep(0.01)
    raise AssertionError(f"{case_id} was never written")


def test_a_case_moved_by_another_writer_meanwhile_is_judged_again_on_what_it_holds() -> None:
    """Another writer appends to case A once the import's first batch is written: the
    second batch, judged ahead on A as the first batch left it, is judged again under the
    lock, so its `expected_seq` (the seq after the other writer's event) is met, not
    refused; the third batch, judged ahead after the second, waits for it to be written
    again: every position follows the file."""
    url = create_database()
    try:
        importer, other = CaseLog(url), CaseLog(url)
        first = [envelope(case_id="A"), envelope(case_id="B")]
        second = [envelope("penalty.investigation_concluded", case_id="A", expected_seq=2),
                  envelope("penalty.evidence_collected", case_id="B")]
        third = [envelope(case_id="D"), envelope(case_id="E")]
        theirs = envelope("penalty.evidence_collected", case_id="A")
        moved: list[AppendOutcome] = []

        def write() -> None:
            _once_written(importer, "A")
            moved.append(other.append(theirs))

        log = _with_writer_between(first + second + third, 2, write)
        outcomes = list(importer.append_many(log, batch_size=2, ahead=True))
        assert (moved[0].status, moved[0].seq, moved[0].position) == ("appended", 2, 3)
        assert [(o.status, o.case_id, o.seq, o.position) for o in outcomes] == [
            ("appended", "A", 1, 1), ("appended", "B", 1, 2), ("appended", "A", 3, 4),
            ("appended", "B", 2, 5), ("appended", "D", 1, 6), ("appended", "E", 1, 7)]
        a_records = importer.case_records("A")
        assert [r["event_id"] for r in a_records] == [
            first[0]["event_id"], theirs["event_id"], second[0]["event_id"]]
        for records in (a_records, importer.case_records("B")):
            assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
        importer.close()
        other.close()
    finally:
        drop_database(url)


def test_a_cached_case_moved_by_another_writer_is_judged_on_what_the_store_holds() -> None:
    """Another writer appends to case A after the batch that wrote A was settled (A's file
    is in the importer's cache): the batch naming A again, judged ahead, is judged on A as
    the store holds it, not as the cache remembers it."""
    url = create_database()
    try:
        importer, other = CaseLog(url), CaseLog(url)
        first = [envelope(case_id="A"), envelope(case_id="B")]
        second = [envelope(case_id="C"), envelope(case_id="D")]
        third = [envelope("penalty.investigation_concluded", case_id="A", expected_seq=2),
                 envelope("penalty.evidence_collected", case_id="B")]
        theirs = envelope("penalty.evidence_collected", case_id="A")

        def write() -> None:
            other.append(theirs)

        log = _with_writer_between(first + second + third, 4, write)
        outcomes = list(importer.append_many(log, batch_size=2, ahead=True))
        assert [(o.status, o.case_id, o.seq) for o in outcomes] == [
            ("appended", "A", 1), ("appended", "B", 1), ("appended", "C", 1),
            ("appended", "D", 1), ("appended", "A", 3), ("appended", "B", 2)]
        records = importer.case_records("A")
        assert [r["event_id"] for r in records] == [
            first[0]["event_id"], theirs["event_id"], third[0]["event_id"]]
        assert records[2]["prev_hash"] == records[1]["hash"]
        importer.close()
        other.close()
    finally:
        drop_database(url)


def test_an_import_keeps_the_planner_statistics_so_case_heads_are_read_by_index(
        tmp_path: Path) -> None:
    """A bulk import into PostgreSQL takes the events table's statistics as the table grows
    (this server runs without autovacuum), and a lookup of cases' heads, as each batch makes
    it (`one_of`: a batch's thousand case ids as one array), is answered from the index or
    a hash of the ids.
    At the city's year it read the whole table without statistics (docs/scaling.md); on a
    table of this size, with the ids as `= ANY(array)`, the planner scanned the table and
    compared every row with each id in turn (5 s a lookup at 40,000 events: an in-order
    log imported at 2,400 events/s instead of over 20,000)."""
    pack = load_pack()
    events = list(simulate(1500, 5, date(2025, 1, 2), 12, pack, calendar_of(pack)))
    log_file = tmp_path / "year.jsonl"
    log_file.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    url = create_database()
    try:
        case_log = open_case_log(url)
        summary = import_file(case_log, log_file, batch_size=1000)
        assert summary.appended == len(events) > STATISTICS_FLOOR
        table = recorder_of(case_log).tables.events
        with recorder_of(case_log).read() as conn:
            described = conn.execute(sa.text(
                "SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table.name}).scalar()
            ids = sorted({case_uuid(e["case_id"]) for e in events})[:1000]
            (condition,) = one_of(conn, table.c.originator_id, ids)
            heads = sa.select(table.c.originator_id, sa.func.max(table.c.originator_version)
                              ).where(condition).group_by(table.c.originator_id)
            compiled = heads.compile(dialect=conn.dialect)
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                "EXPLAIN " + str(compiled), compiled.params))
            found = conn.execute(heads).all()
        assert described is not None and described >= STATISTICS_FLOOR
        # Probed through the index or hashed, never each row against every id in turn.
        assert "= ANY" not in plan, plan
        assert "casechain_events_stream" in plan or "Hash Join" in plan, plan
        assert len(found) == 1000
        case_log.close()
    finally:
        drop_database(url)
