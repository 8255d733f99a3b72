"""`casechain replay`: a throw-away store, the same digest every time (SQLite and PostgreSQL),
and what-if between two rule packs."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from casechain.application.replay import REPLAY_RECORDED_AT
from casechain.bootstrap import open_case_log, open_projections
from casechain.entrypoints.cli.main import app
from tests.crosscase_stories import at, concluded, fined
from tests.factories import write_log

runner = CliRunner()
AS_OF = "2025-10-01T00:00:00"


def _log(tmp_path: Path) -> Path:
    """A fake-goods case of 30,000 yuan fined 60,000 (under today's 50,000 threshold)."""
    story = fined(concluded("HZ-W1", "2025-09-02", 30000), 60000, at("2025-09-10T10:00:00"))
    return write_log(tmp_path / "log.jsonl", story.events)


def _replay(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["replay", *args, "--as-of", AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _pack(tmp_path: Path, name: str, change: Any) -> Path:
    data = yaml.safe_load((files("casechain") / "data" / "default_rules.yaml").read_text("utf-8"))
    item = next(i for i in data["versions"][0]["items"] if i["code"] == "330221001")
    change(item)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_replay_twice_gives_the_same_digest_and_leaves_no_store(tmp_path: Path,
                                                                monkeypatch: Any) -> None:
    """Two replays of one log agree on counts, alerts and digest; nothing is written where
    the command runs."""
    log = _log(tmp_path)
    monkeypatch.chdir(tmp_path)
    first, second = _replay(str(log)), _replay(str(log))
    assert first["digest"] == second["digest"] and first["views"] == second["views"]
    assert first["appended"] == len(log.read_text().splitlines())
    assert first["views"]["casechain_view_timeline"] == first["appended"]
    assert not list(tmp_path.glob("*.db"))


def test_the_digest_is_the_same_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """The log imported into PostgreSQL with the replay's recording instant gives the
    replay's digest."""
    log = _log(tmp_path)
    expected = _replay(str(log))["digest"]
    case_log = open_case_log(pg_url, clock=lambda: REPLAY_RECORDED_AT)
    try:
        envelopes = [json.loads(line) for line in log.read_text().splitlines()]
        assert all(o.status == "appended" for o in case_log.append_many(envelopes))
        views = open_projections(case_log)
        views.catch_up()
        assert views.digest()[0] == expected
    finally:
        case_log.close()


def test_what_if_a_lower_threshold_shows_the_alerts_that_appear(tmp_path: Path) -> None:
    """With the prosecution standard at 20,000 of sales the fined case becomes 以罚代刑 and
    应移未移."""
    log = _log(tmp_path)
    lower = _pack(tmp_path, "lower",
                  lambda item: item["criminal_threshold"][0]["any_of"][0].update(value=20000))
    diff = _replay(str(log), "--rules", str(lower), "--compare", "bundled:default_rules.yaml")
    change = diff["cases"]["HZ-W1"]
    assert {a["code"] for a in change["alerts_appear"]} == {"PENALTY_INSTEAD_OF_REFERRAL",
                                                            "REFERRAL_MISSING"}
    assert change["newly_rejected"] == [] and change["alerts_disappear"] == []


def test_what_if_a_narrower_benchmark_shows_the_events_rejected(tmp_path: Path) -> None:
    """With the normal band at 1–1.5 × the amount, the 60,000 fine (2 ×) would be refused."""
    log = _log(tmp_path)

    def narrower(item: dict[str, Any]) -> None:
        for kind in ("person", "organisation"):
            item["benchmarks"]["normal"][kind]["multiple"] = [1, 1.5]

    pack = _pack(tmp_path, "narrow", narrower)
    diff = _replay(str(log), "--rules", str(pack), "--compare", "bundled:default_rules.yaml")
    rejected = diff["cases"]["HZ-W1"]["newly_rejected"]
    assert [r["codes"] for r in rejected] == [["DISCRETION_OUT_OF_RANGE"]]
    text = runner.invoke(app, ["replay", str(log), "--rules", str(pack), "--compare",
                               "bundled:default_rules.yaml", "--as-of", AS_OF])
    assert "DISCRETION_OUT_OF_RANGE" in text.stdout and "案件 HZ-W1" in text.stdout
