"""An import shared among worker processes by case (`import --workers N`, PostgreSQL): every
line gets the outcome it gets when the file is imported line after line — each case's
records (hashes included) are the same — a device's own events are appended alone, and a
worker that fails stops the import with its reason instead of hanging it."""

from __future__ import annotations

import multiprocessing
import random
import zlib
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.application.importing import (
    ImportFailed,
    ImportSummary,
    import_file,
    import_in_parallel,
)
from casechain.application.simulation import simulate
from casechain.bootstrap import open_case_log
from tests.pg import create_database, drop_database

RECORDED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _fixed() -> datetime:
    return RECORDED


def _worker(case_id: str) -> int:
    """The worker of two that a case's lines go to (as the dispatcher deals them)."""
    return zlib.crc32(case_id.encode()) % 2


def _write(tmp_path: Path, events: list[Any]) -> Path:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(e if isinstance(e, bytes) else orjson.dumps(e)
                               for e in events) + b"\n")
    return log


def _in_turn(url: str, log: Path) -> ImportSummary:
    case_log = open_case_log(url, clock=_fixed)
    try:
        return import_file(case_log, log, batch_size=37)
    finally:
        case_log.close()


def _in_parallel(url: str, log: Path, chunk: int = 50) -> ImportSummary:
    open_case_log(url).close()  # the schema, as the command makes it before the workers
    return import_in_parallel(partial(open_case_log, url, None, _fixed), log, workers=2,
                              batch_size=37, chunk=chunk)


def _cases(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every case's records as stored, without the global position."""
    case_log = open_case_log(url)
    try:
        cases: dict[str, list[dict[str, Any]]] = {}
        for record in case_log.export():
            record.pop("position")
            cases.setdefault(record["case_id"], []).append(record)
        return cases
    finally:
        case_log.close()


def _outcomes(summary: ImportSummary) -> tuple[Any, ...]:
    return (summary.lines, summary.appended, summary.duplicates, summary.rejected,
            sorted((r.line, tuple(x["code"] for x in r.rejections))
                   for r in summary.rejected_lines))


def _simulated(cases: int) -> list[dict[str, Any]]:
    pack = load_pack()
    return list(simulate(cases, 3, date(2025, 1, 2), 6, pack, calendar_of(pack)))


def test_each_line_gets_its_outcome_of_the_file_order_and_each_case_its_records(
        tmp_path: Path) -> None:
    """A simulated log with lines repeated (in the next batch, far on), an event id reused
    for another case of the same worker, a line that is no envelope, one that is no JSON:
    imported by two workers, every line's outcome (appended, duplicate, refused with its
    codes) and every case's records — payloads, seqs, hashes — are those of the import line
    after line."""
    events: list[Any] = _simulated(150)
    rng = random.Random(7)
    for _ in range(40):
        at = rng.randrange(len(events))
        events.insert(min(len(events), at + rng.choice([1, 30, 45, 400])), dict(events[at]))
    original = events[500]
    other = next(e["case_id"] for e in events
                 if e["case_id"] != original["case_id"]
                 and _worker(e["case_id"]) == _worker(original["case_id"]))
    events.insert(900, dict(original, case_id=other))
    events.insert(1200, {"case_id": "HZ-BROKEN", "type": "penalty.case_filed"})
    events.insert(1300, b'{"case_id": "HZ-CUT", "type": "penalty.ca')
    log = _write(tmp_path, events)
    urls = [create_database(), create_database()]
    try:
        in_turn = _in_turn(urls[0], log)
        parallel = _in_parallel(urls[1], log)
        assert _outcomes(parallel) == _outcomes(in_turn)
        assert in_turn.duplicates >= 40 and in_turn.rejected >= 3
        assert {901, 1201, 1301} <= {r.line for r in parallel.rejected_lines}
        assert _cases(urls[1]) == _cases(urls[0])
    finally:
        for url in urls:
            drop_database(url)


def test_an_event_id_reused_across_workers_is_kept_once(tmp_path: Path) -> None:
    """A case's filing sent again with its event id as the filing of a new case that the
    other worker holds: the event id is stored once; of the two lines, one is refused for
    naming an event already recorded for another case (which one: the one committed
    second)."""
    events = _simulated(40)
    first: dict[str, int] = {}
    for number, event in enumerate(events):
        first.setdefault(event["case_id"], number)
    at = min(n for n in first.values() if n >= 60)
    original = events[at]
    other = next(f"HZ-REUSED-{n}" for n in range(100)
                 if _worker(f"HZ-REUSED-{n}") != _worker(original["case_id"]))
    events.insert(at + 40, dict(original, case_id=other))
    url = create_database()
    try:
        summary = _in_parallel(url, _write(tmp_path, events))
        reused = [r for r in summary.rejected_lines if r.line in (at + 1, at + 41)
                  and any("already recorded for another case" in x["message"]
                          for x in r.rejections)]
        assert len(reused) == 1
        assert reused[0].event_id == original["event_id"]
        case_log = open_case_log(url)
        owners = [r["case_id"] for r in case_log.export()
                  if r["event_id"] == original["event_id"]]
        case_log.close()
        assert owners in ([original["case_id"]], [other])
    finally:
        drop_database(url)


def test_a_device_is_registered_for_the_lines_after_it_and_not_before(tmp_path: Path) -> None:
    """The devices registered half-way through the log, then one retired: the penalties
    resting on a capture before the registration are refused (APL Art. 41: the device is
    not registered), those after it appended — in the parallel import as line after line,
    whichever worker holds the penalty's case and the device."""
    events = _simulated(400)
    devices = [e for e in events if e["type"] == "device.registered"]
    rest = [e for e in events if e["type"] != "device.registered"]
    decided = [n for n, e in enumerate(rest) if e["type"] == "penalty.decided"
               and any(c["case_id"] == e["case_id"] and "captured_at" in str(c["payload"])
                       for c in rest[:n])]
    middle = decided[len(decided) // 2]
    retired = dict(devices[0], event_id="5c7c37a4-8a52-4a43-9b3f-9d2f5f1c0d11",
                   type="device.retired", payload={},
                   occurred_at=rest[middle]["occurred_at"])
    events = rest[:middle] + devices + rest[middle:] + [retired]
    log = _write(tmp_path, events)
    urls = [create_database(), create_database()]
    try:
        in_turn = _in_turn(urls[0], log)
        codes = [x["code"] for r in in_turn.rejected_lines for x in r.rejections]
        assert codes.count("DEVICE_NOT_APPROVED") >= 1, codes
        for chunk in (1, 50):
            drop_database(urls[1])
            urls[1] = create_database()
            parallel = _in_parallel(urls[1], log, chunk=chunk)
            assert _outcomes(parallel) == _outcomes(in_turn)
            assert _cases(urls[1]) == _cases(urls[0])
    finally:
        for url in urls:
            drop_database(url)


def test_a_worker_that_fails_stops_the_import_with_its_reason(tmp_path: Path) -> None:
    """A worker that cannot open the case log (a rule pack that is not there): the import
    raises ImportFailed carrying the worker's error, and no process is left behind."""
    url = create_database()
    try:
        open_case_log(url).close()
        with pytest.raises(ImportFailed) as failed:
            import_in_parallel(partial(open_case_log, url, str(tmp_path / "no-pack.yaml")),
                               _write(tmp_path, _simulated(5)), workers=2)
        assert "no-pack.yaml" in str(failed.value)
    finally:
        drop_database(url)


def test_a_worker_killed_midway_stops_the_import_and_the_file_imports_again(
        tmp_path: Path) -> None:
    """A worker killed while the file is being dealt out: the import raises ImportFailed
    naming the worker and its exit code, returns (nothing waits on the chunks the dead
    worker never took), and importing the same file again appends exactly the lines that
    were not committed — every line once, each case whole."""
    log = _write(tmp_path, _simulated(400))
    url = create_database()
    try:
        open_case_log(url).close()

        def kill_worker(_: int) -> None:
            for child in multiprocessing.active_children():
                if child.name == "casechain-import-1":
                    child.kill()

        with pytest.raises(ImportFailed, match=r"import worker 1 stopped \(exit code -9\)"):
            import_in_parallel(partial(open_case_log, url), log, workers=2, chunk=20,
                               on_bytes=kill_worker)
        again = _in_parallel(url, log)
        assert again.rejected == 0
        assert 0 < again.duplicates < again.lines
        assert again.appended + again.duplicates == again.lines
        case_log = open_case_log(url)
        assert sum(1 for _ in case_log.export()) == again.lines
        case_log.close()
    finally:
        drop_database(url)
