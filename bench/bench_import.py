"""Import benchmark (issue 2): CaseChain's import against plain eventsourcing, same run.

    python bench/bench_import.py [--cases 10000] [--stores sqlite,postgres] [--json OUT]

Each measurement runs in its own process (so peak memory is its own) on a fresh store:

* casechain-import   the `casechain import` path: read JSON Lines, validate, the lifecycle
                     and legal rules of the bundled pack, idempotency check, hash chain,
                     subject index, batched append;
* plain-per-event    an eventsourcing Application on eventsourcing-sqlalchemy saving after
                     every event (what a team without CaseChain would write first);
* plain-100-aggs     the same Application saving 100 aggregates per `save` call (the fastest
                     plain path: no validation, no idempotency, no hashing).

Reports events/s, the ratio of CaseChain to the 100-aggregate path, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_casechain(url: str, log_path: str) -> dict[str, Any]:
    from casechain.adapters.logging import configure_logging
    from casechain.application.importing import import_file
    from casechain.bootstrap import open_case_log

    configure_logging("json", "warning")
    case_log = open_case_log(url)  # the bundled rule pack: lifecycle and legal rules on
    started = time.perf_counter()
    summary = import_file(case_log, Path(log_path))
    elapsed = time.perf_counter() - started
    case_log.close()
    assert summary.appended == summary.lines, summary
    return {"events": summary.appended, "seconds": elapsed}


def run_plain(url: str, log_path: str, per_save: int) -> dict[str, Any]:
    import orjson
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class PlainCase(Aggregate):
        def __init__(self, case_id: str, envelope: dict[str, Any]) -> None:
            self.case_id = case_id
            self.steps = [envelope["type"]]

        @event("Recorded")
        def record(self, envelope: dict[str, Any]) -> None:
            self.steps.append(envelope["type"])

    os.environ.update(PERSISTENCE_MODULE="eventsourcing_sqlalchemy", SQLALCHEMY_URL=url)
    app: Application[Any] = Application()
    cases: dict[str, PlainCase] = {}
    pending: dict[str, PlainCase] = {}
    count = 0
    started = time.perf_counter()
    with open(log_path, "rb") as handle:
        for line in handle:
            envelope = orjson.loads(line)
            case = cases.get(envelope["case_id"])
            if case is None:
                case = cases[envelope["case_id"]] = PlainCase(envelope["case_id"], envelope)
            else:
                case.record(envelope)
            count += 1
            if per_save == 0:
                app.save(case)
            else:
                pending[case.case_id] = case
                if len(pending) >= per_save:
                    app.save(*pending.values())
                    pending.clear()
    if pending:
        app.save(*pending.values())
    elapsed = time.perf_counter() - started
    return {"events": count, "seconds": elapsed}


def _child(args: argparse.Namespace) -> None:
    if args.mode == "casechain":
        result = run_casechain(args.url, args.log)
    else:
        result = run_plain(args.url, args.log, per_save=0 if args.mode == "plain-per-event" else 100)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def _fresh_store(kind: str, folder: Path, name: str) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{folder / (name + '.db')}", None
    from tests.pg import create_database, drop_database

    url = create_database()
    return url, lambda: drop_database(url)


def _measure(mode: str, kind: str, log_path: Path, folder: Path) -> dict[str, Any]:
    url, cleanup = _fresh_store(kind, folder, f"{mode}-{kind}")
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url,
                               "--log", str(log_path)], capture_output=True, text=True,
                              check=False, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"{mode} on {kind} failed:\n{proc.stderr}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if cleanup:
            cleanup()
    result["events_per_s"] = result["events"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--per-event-cases", type=int, default=None,
                        help="cases for the slow one-save-per-event baseline "
                             "[default: same as --cases]")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--memory-cases", default="1000,10000,50000",
                        help="log sizes (cases) for the peak-memory series of the import "
                             "on SQLite; empty to skip")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None)
    parser.add_argument("--url", default=None)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    if args.child:
        args.mode = args.child
        _child(args)
        return

    import orjson

    from casechain.application.synthetic import EVENTS_PER_CASE, generate

    results: dict[str, Any] = {"cases": args.cases, "events": args.cases * EVENTS_PER_CASE, "runs": []}
    stores = [kind for kind in args.stores.split(",") if kind and kind != "none"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log_path = folder / "log.jsonl"
        with log_path.open("wb") as handle:
            for envelope in generate(args.cases, seed=7):
                handle.write(orjson.dumps(envelope) + b"\n")
        small_path = log_path
        if args.per_event_cases and args.per_event_cases < args.cases:
            small_path = folder / "small.jsonl"
            with small_path.open("wb") as handle:
                for envelope in generate(args.per_event_cases, seed=7):
                    handle.write(orjson.dumps(envelope) + b"\n")
        for kind in stores:
            for mode in ("casechain", "plain-100-aggs", "plain-per-event"):
                path = small_path if mode == "plain-per-event" else log_path
                result = _measure(mode, kind, path, folder)
                result.update(mode=mode, store=kind)
                results["runs"].append(result)
                print(f"{kind:9} {mode:16} {result['events']:>8} events "
                      f"{result['events_per_s']:>9.0f} events/s  "
                      f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    for kind in stores:
        rate = {r["mode"]: r["events_per_s"] for r in results["runs"] if r["store"] == kind}
        ratio_fast = rate["casechain"] / rate["plain-100-aggs"]
        ratio_slow = rate["casechain"] / rate["plain-per-event"]
        results[f"{kind}_ratio_vs_100_aggs"] = ratio_fast
        results[f"{kind}_ratio_vs_per_event"] = ratio_slow
        print(f"{kind}: CaseChain import is {ratio_fast:.2f}x the 100-aggregate plain path "
              f"and {ratio_slow:.1f}x one save per event (target: >= 2x the 100-aggregate path)")
    results["memory"] = _memory_series(args.memory_cases)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _memory_series(sizes: str) -> list[dict[str, Any]]:
    """Peak RSS of `casechain import` for logs of growing size: flat means streamed."""
    import orjson

    from casechain.application.synthetic import generate

    series = []
    for cases in [int(n) for n in sizes.split(",") if n]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            log_path = folder / "log.jsonl"
            with log_path.open("wb") as handle:
                for envelope in generate(cases, seed=11):
                    handle.write(orjson.dumps(envelope) + b"\n")
            result = _measure("casechain", "sqlite", log_path, folder)
        series.append({"cases": cases, "events": result["events"],
                       "events_per_s": result["events_per_s"],
                       "peak_rss_mb": result["peak_rss_mb"]})
        print(f"memory    casechain {result['events']:>8} events "
              f"{result['events_per_s']:>9.0f} events/s  peak RSS {result['peak_rss_mb']:.0f} MB",
              flush=True)
    return series


if __name__ == "__main__":
    main()
