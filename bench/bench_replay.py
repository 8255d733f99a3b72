"""Replay and simulation benchmark (issue 8), SQLite.

    python bench/bench_replay.py [--cases 80000] [--json OUT]

* simulation: `casechain.application.simulation.simulate` writing JSON Lines to a file, events/s;
* import alone: the log imported into a fresh SQLite file (the `casechain import` path);
* replay: `casechain.bootstrap.replay_log` — import into a throw-away store plus every view rebuilt,
  the digest and the alerts — in the same run.

Each of import and replay runs in its own process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _simulate(cases: int, path: Path) -> dict[str, Any]:
    import orjson

    from casechain.adapters.rulepack_files import calendar_of, load_pack
    from casechain.application.simulation import simulate

    pack = load_pack()
    calendar = calendar_of(pack)
    started = time.perf_counter()
    events = 0
    with path.open("wb") as handle:
        for envelope in simulate(cases, 11, date(2025, 1, 2), 12, pack, calendar):
            handle.write(orjson.dumps(envelope) + b"\n")
            events += 1
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds)}


def _child(mode: str, log: str, folder: str) -> None:
    from casechain.adapters.logging import configure_logging

    configure_logging("json", "warning")
    started = time.perf_counter()
    if mode == "import":
        from casechain.application.importing import import_file
        from casechain.bootstrap import open_case_log

        case_log = open_case_log(f"sqlite:///{Path(folder) / 'import.db'}")
        summary = import_file(case_log, Path(log))
        case_log.close()
        events = summary.appended
    else:
        from casechain.bootstrap import replay_log as replay
        from casechain.domain.calendar import SHANGHAI

        result = replay(Path(log), None, datetime(2026, 1, 1, tzinfo=SHANGHAI))
        events = result.appended
    seconds = time.perf_counter() - started
    print(json.dumps({"events": events, "seconds": round(seconds, 2),
                      "events_per_s": round(events / seconds),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=80_000, help="about 12 events each")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=3, default=None)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as name:
        log = Path(name) / "simulated.jsonl"
        sim = _simulate(args.cases, log)
        print(f"simulate: {sim['events']} events, {sim['events_per_s']} events/s", flush=True)
        runs = {}
        for mode in ("import", "replay"):
            proc = subprocess.run([sys.executable, __file__, "--child", mode, str(log), name],
                                  capture_output=True, text=True, check=True)
            runs[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{mode}: {runs[mode]}", flush=True)
    ratio = round(runs["replay"]["seconds"] / runs["import"]["seconds"], 2)
    print(f"replay / import alone: {ratio}x (target: at most 3x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"simulate": sim, **runs, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
