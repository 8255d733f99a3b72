"""Ledger benchmark (issue 6), on PostgreSQL by default.

    python bench/bench_ledger.py [--events 1000000] [--append-events 200000] [--json OUT]

* appends with the ledger off and on, same run: importing `--append-events` events into a
  fresh store (the `casechain import` path), then, with the ledger on, bringing the tree up
  to date (`Ledger.catch_up`, what `import` does after its last batch); twice each,
  alternating, best of two;
* verification rate: `Ledger.verify` (every case chain, the whole tree, the recorded leaves,
  one signed checkpoint) over a store of `--events` events;
* inclusion-proof latency: `Ledger.inclusion` for 200 random events of that store (a fresh
  read transaction each, as `casechain proof` does), median, 95th percentile and maximum.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from casechain.adapters.ledger import Ledger, generate_key  # noqa: E402
from casechain.adapters.logging import configure_logging  # noqa: E402
from casechain.application.importing import import_file  # noqa: E402
from casechain.application.synthetic import EVENTS_PER_CASE, generate  # noqa: E402
from casechain.bootstrap import open_case_log, recorder_of  # noqa: E402
from tests.pg import create_database, drop_database  # noqa: E402


def _write_log(path: Path, events: int) -> None:
    with path.open("wb") as handle:
        for envelope in generate(events // EVENTS_PER_CASE, seed=5):
            handle.write(orjson.dumps(envelope) + b"\n")


def _append(url: str, log: Path, ledger_on: bool) -> dict[str, float]:
    case_log = open_case_log(url)
    try:
        started = time.perf_counter()
        summary = import_file(case_log, log)
        imported = time.perf_counter() - started
        tree = 0.0
        if ledger_on:
            started = time.perf_counter()
            Ledger(recorder_of(case_log)).catch_up()
            tree = time.perf_counter() - started
    finally:
        case_log.close()
    total = imported + tree
    return {"events": summary.appended, "seconds": round(total, 3),
            "tree_seconds": round(tree, 3), "events_per_s": round(summary.appended / total)}


def _appends(log: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for _ in range(2):
        for mode in ("off", "on"):
            url = create_database()
            try:
                runs[mode].append(_append(url, log, mode == "on"))
            finally:
                drop_database(url)
    best = {mode: max(r["events_per_s"] for r in rs) for mode, rs in runs.items()}
    return {"runs": runs, "best_off": best["off"], "best_on": best["on"],
            "slowdown": round(1 - best["on"] / best["off"], 4)}


def _verify_and_proofs(log: Path, folder: Path) -> dict[str, Any]:
    url = create_database()
    try:
        case_log = open_case_log(url)
        try:
            import_file(case_log, log)
            ledger = Ledger(recorder_of(case_log))
            key = generate_key(folder / "bench.pem", folder / "bench.pub")
            started = time.perf_counter()
            checkpoint = ledger.checkpoint(key)
            tree_seconds = time.perf_counter() - started
            started = time.perf_counter()
            result = ledger.verify(key.public_key())
            verify_seconds = time.perf_counter() - started
            assert result.intact, result.as_dict()["first_problem"]
            rng = random.Random(9)
            size = checkpoint.tree_size
            latencies = []
            for _ in range(200):
                position = rng.randint(1, size)
                started = time.perf_counter()
                ledger.inclusion(position, size)
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            case_log.close()
    finally:
        drop_database(url)
    latencies.sort()
    return {"events": result.events, "tree_catch_up_seconds": round(tree_seconds, 2),
            "verify_seconds": round(verify_seconds, 2),
            "verify_events_per_s": round(result.events / verify_seconds),
            "proof_ms_median": round(statistics.median(latencies), 2),
            "proof_ms_p95": round(latencies[int(0.95 * len(latencies))], 2),
            "proof_ms_max": round(latencies[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--append-events", type=int, default=200_000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--skip-appends", action="store_true")
    args = parser.parse_args()
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        small, big = folder / "append.jsonl", folder / "verify.jsonl"
        appends: dict[str, Any] = {}
        if not args.skip_appends:
            _write_log(small, args.append_events)
            appends = _appends(small)
            print(f"appends, {args.append_events} events, PostgreSQL: ledger off "
                  f"{appends['best_off']} ev/s, on {appends['best_on']} ev/s "
                  f"({appends['slowdown']:.1%} slower)", flush=True)
        _write_log(big, args.events)
        checks = _verify_and_proofs(big, folder)
        print(f"verify, {checks['events']} events, PostgreSQL: "
              f"{checks['verify_events_per_s']} ev/s ({checks['verify_seconds']} s); "
              f"inclusion proof median {checks['proof_ms_median']} ms, p95 "
              f"{checks['proof_ms_p95']} ms, max {checks['proof_ms_max']} ms", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"appends": appends, "verify": checks}, indent=2))


if __name__ == "__main__":
    main()
