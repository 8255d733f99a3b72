"""`casechain simulate`: a realistic log, valid under the rules, deterministic for a seed."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from casechain.adapters.rulepack_files import load_pack
from casechain.entrypoints.cli.main import app

runner = CliRunner()


@lru_cache(maxsize=1)
def _simulated() -> tuple[Path, list[dict[str, Any]]]:
    folder = Path(__import__("tempfile").mkdtemp(prefix="casechain-sim-"))
    log = folder / "sim.jsonl"
    made = runner.invoke(app, ["simulate", "--cases", "1500", "--seed", "7", "--start",
                               "2025-01-02", "--months", "12", "-o", str(log)])
    assert made.exit_code == 0, made.output
    return log, [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_every_simulated_event_is_valid_under_the_rules(tmp_path: Path) -> None:
    """Imported with the bundled pack, nothing is rejected."""
    log, events = _simulated()
    imported = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db"),
                                   "--json"])
    summary = json.loads(imported.stdout)
    assert imported.exit_code == 0 and summary["rejected"] == 0, summary["rejections"][:3]
    assert summary["appended"] == len(events)


def test_the_log_looks_like_a_bureaus_year(tmp_path: Path) -> None:
    """Nine teams with 综合执法 the largest, 10–20 events a case, supervision with urgent
    clues and joint inspections, hearings, referrals (some never reported), late payments,
    reconsiderations, reoffending subjects."""
    _, events = _simulated()
    pack = load_pack().versions[-1]
    teams = Counter(pack.item(e["payload"]["item_code"]).team  # type: ignore[union-attr]
                    for e in events if e["type"] == "penalty.case_filed")
    assert len(teams) == 9 and teams.most_common(1)[0][0] == "综合执法"
    per_case = Counter(e["case_id"] for e in events)
    assert 10 <= len(events) / len(per_case) <= 20
    types = Counter(e["type"] for e in events)
    for kind in ("supervision.arrived", "supervision.inspected", "approval.granted",
                 "penalty.hearing_held", "penalty.hearing_waived", "penalty.deadline_extended",
                 "penalty.clock_suspended", "penalty.measure_imposed", "referral.transferred",
                 "referral.police_declined", "referral.returned",
                 "evaluation.reconsideration_decided"):
        assert types[kind] > 0, kind
    filed = types["penalty.case_filed"]
    assert 0.01 < types["referral.reported"] / filed < 0.08
    subjects = Counter(e["payload"]["subject"]["id"] for e in events
                       if e["type"] == "penalty.case_filed")
    assert any(n > 1 for n in subjects.values())
    months = {e["occurred_at"][:7] for e in events if e["type"] == "penalty.case_filed"}
    assert len(months) >= 12


def test_the_simulated_year_raises_the_supervisors_alerts(tmp_path: Path) -> None:
    """Missing referrals, fines in place of transfers, overdue payments and measures, late
    hearing notices; and 1315 shares under 100%: what a supervisor would see."""
    log, _ = _simulated()
    db = tmp_path / "a.db"
    runner.invoke(app, ["import", str(log), "--db", str(db)])
    shown = runner.invoke(app, ["alerts", "--db", str(db), "--as-of", "2026-01-15T00:00:00",
                                "--json"])
    codes = Counter(a["code"] for a in json.loads(shown.stdout))
    for code in ("REFERRAL_MISSING", "PENALTY_INSTEAD_OF_REFERRAL", "PAYMENT_OVERDUE",
                 "HEARING_NOTICE_LATE"):
        assert codes[code] > 0, (code, codes)
    shares = json.loads(runner.invoke(app, ["response", "--db", str(db), "--json"]).stdout)
    assert shares and min(s["arrived_within_15_min"] for s in shares) < 1


def test_the_same_seed_gives_the_same_log_and_another_seed_another(tmp_path: Path) -> None:
    """Deterministic for a seed, byte for byte."""
    paths = []
    for n, seed in enumerate(("3", "3", "4")):
        path = tmp_path / f"{n}.jsonl"
        runner.invoke(app, ["simulate", "--cases", "200", "--seed", seed, "-o", str(path)])
        paths.append(path.read_bytes())
    assert paths[0] == paths[1] and paths[0] != paths[2]


def test_one_district_only(tmp_path: Path) -> None:
    """--district keeps every case in that district's streets."""
    path = tmp_path / "d.jsonl"
    runner.invoke(app, ["simulate", "--cases", "100", "--district", "330106", "-o", str(path)])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert {e["jurisdiction"][:6] for e in lines} == {"330106"}
