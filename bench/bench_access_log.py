"""The access log (查阅留痕) at a year's size, PostgreSQL.

    python bench/bench_access_log.py [--entries 1000000] [--json OUT]

A year of a city's case reads is millions of access-log entries. This loads `--entries`
chained entries (reads of 300,000 cases by 3,000 officers) into a fresh database, then times
what an auditor's `GET /v1/access-log` costs, in-process, best of three:

* the baseline: what every call did before the log was paged — the whole chain recomputed
  and the latest 1,000 entries read;
* a page of 1,000 with its total and the next page's cursor (an unscoped reader), the
  second page after that cursor, and one case's reads (through the resource index);
* the chain recomputed alone (what `verify=true`, the default, adds to a page);
* the entries counted per case (what a scoped reader's total starts from; the lookup of
  where those cases lie is not measured here: the views are empty).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from casechain.adapters.access_log import GENESIS, AccessLog, entry_hash  # noqa: E402
from casechain.application import authorisation  # noqa: E402
from casechain.bootstrap import open_case_log, open_projections, recorder_of  # noqa: E402
from casechain.domain.access import Principal  # noqa: E402
from tests.pg import create_database, drop_database  # noqa: E402

AUDITOR = Principal("city-auditor", ("auditor",), "")


def _load(log: AccessLog, engine: Any, entries: int) -> float:
    started, rows, prev = time.perf_counter(), [], GENESIS
    for seq in range(1, entries + 1):
        entry = {"at": "2025-06-01T09:00:00+00:00", "principal": f"O{seq % 3000:04d}",
                 "roles": "officer", "action": "case.read", "resource": f"HZ-{seq % 300_000}"}
        digest = entry_hash(prev, seq, entry)
        rows.append({"seq": seq, **entry, "prev_hash": prev, "hash": digest})
        prev = digest
        if len(rows) == 20_000 or seq == entries:
            with engine.begin() as conn:
                conn.execute(log.table.insert(), rows)
            rows = []
            print(f"\r  loaded {seq:,} of {entries:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {log.table.name}")
    return time.perf_counter() - started


def _best(step: Callable[[], Any]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    url = create_database()
    try:
        case_log = open_case_log(url)
        runner = open_projections(case_log)
        log = AccessLog(recorder_of(case_log))
        loaded = _load(log, recorder_of(case_log).engine, args.entries)
        first = authorisation.accesses_page(runner, log, AUDITOR, None, 1000)
        timings = {
            "baseline: the chain recomputed and the latest 1,000": _best(
                lambda: (log.verify(), log.entries(None, 1000))),
            "a page of 1,000 with its total": _best(
                lambda: authorisation.accesses_page(runner, log, AUDITOR, None, 1000)),
            "the next page after its cursor": _best(
                lambda: authorisation.accesses_page(runner, log, AUDITOR, None, 1000,
                                                    first.next_cursor)),
            "one case's reads": _best(
                lambda: authorisation.accesses_page(runner, log, AUDITOR, "HZ-77", 1000)),
            "the chain recomputed alone": _best(log.verify),
            "the entries counted per case": _best(log.counts_by_resource),
        }
        case_log.close()
    finally:
        drop_database(url)
    print(f"{args.entries:,} access-log entries loaded in {loaded:.1f} s (PostgreSQL)")
    for name, ms in timings.items():
        print(f"  {name:<55} {ms:>9,.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({"entries": args.entries, "load_seconds": loaded,
                                         "ms": timings}, indent=2))


if __name__ == "__main__":
    main()
