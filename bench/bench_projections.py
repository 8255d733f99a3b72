"""Projection benchmark (issue 4): catch-up rate of all CaseChain views, and in the same run
the eventsourcing library's own ProjectionRunner on a trivial count-by-type view.

    python bench/bench_projections.py [--cases 100000] [--baseline-events 20000] [--json OUT]

On PostgreSQL: the log is imported with `casechain import` (not timed), then every view is
rebuilt from position 0 (timed: log events per second, all views together). The baseline
stores events through eventsourcing-sqlalchemy with a plain Application and runs the library's
ProjectionRunner (one transaction per event) over them until the view has tracked them all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def casechain_views(url: str, log_path: Path) -> dict[str, Any]:
    from casechain.adapters.logging import configure_logging
    from casechain.application.importing import import_file
    from casechain.bootstrap import open_case_log, open_projections

    configure_logging("json", "warning")
    log = open_case_log(url)
    summary = import_file(log, log_path)
    runner = open_projections(log)
    started = time.perf_counter()
    runner.rebuild()
    seconds = time.perf_counter() - started
    log.close()
    return {"events": summary.appended, "seconds": seconds,
            "events_per_s": summary.appended / seconds, "views": len(runner.views)}


def library_runner(url: str, events: int) -> dict[str, Any]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.persistence import Tracking
    from eventsourcing.projection import Projection, ProjectionRunner
    from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
    from sqlalchemy import text

    class Thing(Aggregate):
        def __init__(self) -> None:
            self.n = 0

        @event("Stepped")
        def step(self) -> None:
            self.n += 1

    class Plain(Application[Any]):
        pass

    class CountsView(SQLAlchemyTrackingRecorder):
        def create_table(self) -> None:
            super().create_table()
            with self.transaction(commit=True) as session:
                session.execute(text("CREATE TABLE IF NOT EXISTS bench_counts "
                                     "(topic TEXT PRIMARY KEY, n BIGINT NOT NULL)"))

        def incr(self, topic: str, tracking: Tracking) -> None:
            with self.transaction(commit=True) as session:
                session.execute(text("INSERT INTO bench_counts (topic, n) VALUES (:t, 1) "
                                     "ON CONFLICT (topic) DO UPDATE SET n = bench_counts.n + 1"),
                                {"t": topic})
                self._insert_tracking(session, tracking)

    class CountByType(Projection[CountsView]):
        name = "countbytype"

        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            self.view.incr(type(domain_event).__qualname__, tracking)

    env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url}
    os.environ.update(env)
    app: Application[Any] = Plain(env)
    things = [Thing() for _ in range(100)]
    for n in range(events - len(things)):
        things[n % 100].step()
    app.save(*things)
    total = app.recorder.max_notification_id() or 0
    started = time.perf_counter()
    runner = ProjectionRunner(application_class=Plain, projection_class=CountByType,
                              view_class=CountsView, env=env)
    with runner:
        runner.wait(total, timeout=3600)
    seconds = time.perf_counter() - started
    return {"events": total, "seconds": seconds, "events_per_s": total / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="10 events each")
    parser.add_argument("--baseline-events", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import orjson

    from casechain.application.synthetic import generate
    from tests.pg import create_database, drop_database

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "log.jsonl"
        with log_path.open("wb") as handle:
            for envelope in generate(args.cases, seed=5):
                handle.write(orjson.dumps(envelope) + b"\n")
        url = create_database()
        try:
            results["casechain_views"] = casechain_views(url, log_path)
        finally:
            drop_database(url)
    url = create_database()
    try:
        results["library_runner"] = library_runner(url, args.baseline_events)
    finally:
        drop_database(url)
    ours, theirs = results["casechain_views"], results["library_runner"]
    results["ratio"] = ours["events_per_s"] / theirs["events_per_s"]
    print(f"postgres  casechain, all {ours['views']} views  {ours['events']:>9} events "
          f"{ours['events_per_s']:>9.0f} events/s")
    print(f"postgres  library ProjectionRunner, count by type  {theirs['events']:>9} events "
          f"{theirs['events_per_s']:>9.0f} events/s")
    print(f"ratio {results['ratio']:.1f}x (target: all views >= 15,000 events/s, 50x the "
          "library runner)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
