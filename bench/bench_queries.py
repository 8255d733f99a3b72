"""Supervisors' queries as of an instant: deadlines (`/v1/deadlines`, `casechain alerts`'s
deadline part) and alerts, on a simulated city year in PostgreSQL.

    python bench/bench_queries.py [--cases 25000] [--json OUT]

The log is `casechain simulate` (the whole city, cases interleaved over twelve months),
imported and projected (not timed). Then, for several instants and scopes, median of three:
- clocks, every one: read every clock of the scope and evaluate each at the instant (how the
  queries worked before clocks were filtered in SQL; the baseline of the same run);
- clocks, running only: read the clocks running at the instant and evaluate those;
- cross-case checks over every row (the baseline) and over the rows the scope's cases depend
  on (the subjects met inside the scope, wherever recorded);
- `deadlines_as_of` and `alerts_as_of` as the API calls them (alerts add the cross-case checks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INSTANTS = ("2025-04-01T09:00:00+08:00", "2025-12-31T18:00:00+08:00",
            "2026-06-30T18:00:00+08:00")
SCOPES = ("3301", "330106")


def _median_ms(call: Callable[[], Any]) -> tuple[float, Any]:
    times, answer = [], None
    for _ in range(3):
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=25_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from casechain.adapters.logging import configure_logging
    from casechain.adapters.rulepack_files import calendar_of, load_pack
    from casechain.application.queries import alerts_as_of, cross_case_as_of, deadlines_as_of
    from casechain.application.simulation import simulate
    from casechain.bootstrap import open_case_log, open_projections, recorder_of
    from casechain.domain.deadlines import evaluate
    from casechain.projections import read_clocks
    from tests.pg import create_database, drop_database

    configure_logging("json", "warning")
    pack = load_pack()
    url = create_database()
    results: dict[str, Any] = {"cases": args.cases, "runs": []}
    try:
        log = open_case_log(url)
        events = list(simulate(args.cases, 3, date(2025, 1, 2), 12, pack, calendar_of(pack)))
        for start in range(0, len(events), 10_000):
            list(log.append_many(events[start:start + 10_000]))
        runner = open_projections(log)
        runner.catch_up()
        table: Any = runner.views["deadlines"].table  # type: ignore[attr-defined]
        results["events"] = len(events)
        print(f"{len(events)} events of {args.cases} cases on PostgreSQL")

        def clocks(scope: str, moment: datetime, running: bool) -> int:
            with recorder_of(log).read() as conn:
                read = list(read_clocks(conn, table, scope, None,
                                        running=moment if running else None))
            return sum(1 for c in read if evaluate(c, moment) is not None)

        for text in INSTANTS:
            moment = datetime.fromisoformat(text)
            for scope in SCOPES:
                run: dict[str, Any] = {"as_of": text, "scope": scope}
                run["every_clock_ms"], every = _median_ms(partial(clocks, scope, moment, False))
                run["running_clocks_ms"], running = _median_ms(
                    partial(clocks, scope, moment, True))
                assert every == running, (every, running)
                run["running_deadlines"] = running
                run["crosscase_every_row_ms"], _ = _median_ms(
                    partial(cross_case_as_of, runner, moment))
                run["crosscase_scoped_ms"], _ = _median_ms(
                    partial(cross_case_as_of, runner, moment, None, scope))
                run["deadlines_as_of_ms"], _ = _median_ms(
                    partial(deadlines_as_of, runner, moment, scope))
                run["alerts_as_of_ms"], found = _median_ms(
                    partial(alerts_as_of, runner, moment, scope))
                run["alerts"] = len(found)
                results["runs"].append(run)
                print(f"as of {text[:16]} scope {scope:>6}: {running:>5} running deadlines; "
                      f"clocks every {run['every_clock_ms']:5.0f} ms, running only "
                      f"{run['running_clocks_ms']:4.0f} ms; cross-case every row "
                      f"{run['crosscase_every_row_ms']:5.0f} ms, scoped "
                      f"{run['crosscase_scoped_ms']:5.0f} ms; deadlines_as_of "
                      f"{run['deadlines_as_of_ms']:4.0f} ms; alerts_as_of "
                      f"{run['alerts_as_of_ms']:5.0f} ms ({len(found)} alerts)")
        log.close()
    finally:
        drop_database(url)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
