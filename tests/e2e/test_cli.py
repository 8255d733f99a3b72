"""The `casechain` command line as an officer or an integrator uses it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from casechain.entrypoints.cli.main import app
from tests.factories import case_walk, envelope, write_log

runner = CliRunner()
CASECHAIN = str(Path(sys.executable).with_name("casechain"))


def test_import_appends_a_whole_case_and_says_so(tmp_path: Path) -> None:
    """A clean log imports with exit 0 and a summary of what was appended."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1"))
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    assert "18 lines: 18 appended, 0 duplicate, 0 rejected" in result.output


def test_import_reports_every_rejected_line_and_exits_non_zero(tmp_path: Path) -> None:
    """Each bad line is named by number and code; the good lines around it are appended."""
    bad_type = envelope("penalty.fined", case_id="HZ-2")
    bad_field = envelope(case_id="HZ-3", jurisdiction="West Lake")
    log = write_log(tmp_path / "log.jsonl", [envelope(case_id="HZ-1"), "{not json", bad_type,
                                            bad_field, envelope(case_id="HZ-4")])
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert "line 2: SCHEMA_INVALID line 2 is not valid JSON" in result.output
    assert "line 3: UNKNOWN_EVENT_TYPE" in result.output
    assert "line 4: SCHEMA_INVALID case HZ-3: field jurisdiction value 'West Lake'" in result.output
    assert "5 lines: 2 appended, 0 duplicate, 3 rejected" in result.output


def test_import_json_lists_rejections_with_line_numbers(tmp_path: Path) -> None:
    """--json gives the counts and each rejected line with its codes, in line order."""
    first = envelope(case_id="HZ-1")
    log = write_log(tmp_path / "log.jsonl", [first, first, envelope("penalty.decided",
                                                                    payload={}, case_id="HZ-1")])
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["lines"], report["appended"], report["duplicates"], report["rejected"]) == (
        3, 1, 1, 1)
    (rejected,) = report["rejections"]
    assert rejected["line"] == 3
    assert {r["field"] for r in rejected["rejections"]} == {
        "payload.outcome", "payload.penalties", "payload.discretion_level"}


def test_importing_the_same_log_twice_appends_it_once(tmp_path: Path) -> None:
    """A re-run of an import reports duplicates and exits 0."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1"))
    db = str(tmp_path / "s.db")
    runner.invoke(app, ["import", str(log), "--db", db])
    again = runner.invoke(app, ["import", str(log), "--db", db])
    assert again.exit_code == 0
    assert "0 appended, 18 duplicate" in again.output


def test_export_and_reimport_reproduce_the_same_hashes(tmp_path: Path) -> None:
    """export writes engine-set fields; importing it into an empty store gives the same log."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1") + case_walk("HZ-2"))
    runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db")])
    exported = runner.invoke(app, ["export", "--db", str(tmp_path / "a.db")]).stdout
    first = json.loads(exported.splitlines()[0])
    assert {"seq", "position", "recorded_at", "prev_hash", "hash"} <= set(first)
    copy = write_log(tmp_path / "copy.jsonl", exported.splitlines())
    assert runner.invoke(app, ["import", str(copy), "--db", str(tmp_path / "b.db")]).exit_code == 0
    assert runner.invoke(app, ["export", "--db", str(tmp_path / "b.db")]).stdout == exported


def test_export_of_one_case_holds_only_that_case(tmp_path: Path) -> None:
    """export --case writes the case's events in seq order."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1") + case_walk("HZ-2"))
    runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db")])
    out = tmp_path / "one.jsonl"
    result = runner.invoke(app, ["export", "--db", str(tmp_path / "a.db"), "--case", "HZ-2",
                                 "-o", str(out)])
    assert result.exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["case_id"] for r in records} == {"HZ-2"}
    assert [r["seq"] for r in records] == list(range(1, 19))


def test_case_show_gives_stage_state_and_the_full_timeline(tmp_path: Path) -> None:
    """case show --json: current stage and state, and who did what, when, from where."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1")[:13])
    runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db")])
    result = runner.invoke(app, ["case", "show", "HZ-1", "--db", str(tmp_path / "a.db"), "--json"])
    view = json.loads(result.stdout)
    assert (view["stage"], view["stage_label"], view["state"], view["seq"]) == (
        "penalty", "处罚", "decided", 13)
    step = view["timeline"][6]
    assert (step["type"], step["label"], step["actor"]["cert_no"], step["source"]) == (
        "penalty.case_filed", "立案", "33010012345", "mobile-app")
    assert step["occurred_at"] == "2024-03-07T10:00:00+08:00"
    assert step["recorded_at"] > "2026"
    assert step["rules_version"] == "2022-03-01"  # the version in force in 2024 (医师法 from 2022-03-01)


def test_case_show_in_text_names_the_steps_in_chinese(tmp_path: Path) -> None:
    """The text view is for people: zh-CN labels beside the event types."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1"))
    runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db")])
    result = runner.invoke(app, ["case", "show", "HZ-1", "--db", str(tmp_path / "a.db")])
    assert "案件 HZ-1 · 监督评价 evaluation · state completed" in result.stdout
    assert "立案 penalty.case_filed" in result.stdout
    assert "执法证 33010012345" in result.stdout


def _empty_store(path: Path) -> str:
    """A store that exists and holds nothing yet (importing an empty log creates it)."""
    assert runner.invoke(app, ["import", str(write_log(path.with_suffix(".jsonl"), [])),
                               "--db", str(path)]).exit_code == 0
    return str(path)


def test_case_show_of_an_unknown_case_fails_clearly(tmp_path: Path) -> None:
    """An unknown case id exits 1 naming the case."""
    result = runner.invoke(app, ["case", "show", "NOPE", "--db", _empty_store(tmp_path / "a.db")])
    assert result.exit_code == 1
    assert "no case 'NOPE'" in result.output


@pytest.mark.parametrize("args", [["case", "show", "HZ-1"], ["alerts"], ["referrals"],
                                  ["board"], ["verify"], ["projections", "status"],
                                  ["breaches"], ["export"]])
def test_a_read_of_a_store_that_does_not_exist_is_refused_and_creates_nothing(
        tmp_path: Path, args: list[str]) -> None:
    """A mistyped --db is one line naming the path, exit 2, and no empty store left behind."""
    typo = tmp_path / "typo.db"
    result = runner.invoke(app, [*args, "--db", str(typo)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: no store at {typo}")
    assert result.output.count("\n") == 1
    assert not typo.exists()


def test_without_db_a_read_does_not_create_a_store_in_the_working_folder(tmp_path: Path) -> None:
    """With neither --db nor CASECHAIN_DB, `case show` refuses rather than create ./casechain.db."""
    proc = subprocess.run([str(Path(sys.executable).parent / "casechain"), "case", "show", "HZ-1"],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={k: v for k, v in os.environ.items() if k != "CASECHAIN_DB"})
    assert proc.returncode == 2 and "no store at" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_store_comes_from_casechain_db(tmp_path: Path) -> None:
    """CASECHAIN_DB selects the store when --db is not given."""
    log = write_log(tmp_path / "log.jsonl", [envelope(case_id="HZ-1")])
    db = tmp_path / "env.db"
    result = runner.invoke(app, ["import", str(log)], env={"CASECHAIN_DB": f"sqlite:///{db}"})
    assert result.exit_code == 0
    assert db.exists()


def test_import_into_postgresql_by_url(tmp_path: Path, pg_url: str) -> None:
    """--db takes a PostgreSQL URL."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1"))
    result = runner.invoke(app, ["import", str(log), "--db", pg_url])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["case", "show", "HZ-1", "--db", pg_url, "--json"])
    assert json.loads(shown.stdout)["seq"] == 18


def test_import_with_workers_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    """--workers 2 shares the cases between two processes: the same summary, each case
    whole, a bad line still named by its number (the real command: the workers are
    spawned processes)."""
    walks = [case_walk(f"HZ-{n}") for n in range(1, 5)]
    lines = [line for walk in zip(*walks, strict=True) for line in walk]  # interleaved
    log = write_log(tmp_path / "log.jsonl", [*lines[:30], "{not json", *lines[30:]])
    proc = subprocess.run([CASECHAIN, "import", str(log), "--db", pg_url, "--workers", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "line 31: SCHEMA_INVALID line 31 is not valid JSON" in proc.stdout
    assert "73 lines: 72 appended, 0 duplicate, 1 rejected" in proc.stdout
    for n in range(1, 5):
        shown = runner.invoke(app, ["case", "show", f"HZ-{n}", "--db", pg_url, "--json"])
        assert json.loads(shown.stdout)["seq"] == 18


def test_import_with_workers_keeps_the_ledger_following_and_it_verifies(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --workers the Merkle ledger follows the log on a thread while the workers append
    (here every 50 ms): it stores chunks during the import, and `casechain verify` then finds
    every leaf and node equal to those recomputed from the events."""
    from casechain.adapters.ledger import Ledger
    from casechain.entrypoints.cli import cases

    followed: list[int] = []
    catch_up = Ledger.catch_up

    def counted(ledger: Ledger, on_page: Any = None) -> int:
        added = catch_up(ledger, on_page)
        if threading.current_thread().name == "casechain-ledger":
            followed.append(added)
        return added

    monkeypatch.setattr(cases, "_LEDGER_EVERY", 0.05)
    monkeypatch.setattr(Ledger, "catch_up", counted)
    walks = [case_walk(f"HZ-{n}") for n in range(1, 201)]
    log = write_log(tmp_path / "log.jsonl",
                    [line for walk in zip(*walks, strict=True) for line in walk])
    result = runner.invoke(app, ["import", str(log), "--db", pg_url, "--workers", "2",
                                 "--batch-size", "100"])
    assert result.exit_code == 0, result.output
    assert "3600 lines: 3600 appended" in result.output
    assert sum(followed) >= 256, followed  # chunks stored while the workers appended
    verified = runner.invoke(app, ["verify", "--db", pg_url, "--json"])
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert (report["events"], report["problems"]) == (3600, [])


def test_import_with_workers_refuses_a_sqlite_store(tmp_path: Path) -> None:
    """SQLite takes one writer at a time: --workers 2 is refused (exit 2), naming the
    option; nothing is imported."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1"))
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db"),
                                 "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers 2: a SQLite store takes one writer at a time" in result.output
    shown = runner.invoke(app, ["case", "show", "HZ-1", "--db", str(tmp_path / "s.db")])
    assert shown.exit_code == 1


def test_import_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the real command draws a progress bar on stderr."""
    log = write_log(tmp_path / "log.jsonl", case_walk("HZ-1"))
    primary, secondary = pty.openpty()
    proc = subprocess.run([CASECHAIN, "import", str(log), "--db", str(tmp_path / "a.db")],
                          stdout=subprocess.PIPE, stderr=secondary, check=False,
                          env={**os.environ, "COLUMNS": "100"}, timeout=60)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert b"importing log.jsonl" in shown
    assert b"18 appended" in proc.stdout


def test_debug_logs_are_json_lines_carrying_case_and_event_ids(tmp_path: Path) -> None:
    """With CASECHAIN_LOG_FORMAT=json, every log line of an append is JSON with both ids."""
    events = [*case_walk("HZ-1")[:3], envelope("penalty.fined", case_id="HZ-1")]
    log = write_log(tmp_path / "log.jsonl", events)
    proc = subprocess.run([CASECHAIN, "import", str(log), "--db", str(tmp_path / "a.db")],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, "CASECHAIN_LOG_FORMAT": "json",
                               "CASECHAIN_LOG_LEVEL": "debug"})
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    appended = [line for line in lines if line["event"] == "event.appended"]
    assert [line["event_id"] for line in appended] == [e["event_id"] for e in events[:3]]
    assert all(line["case_id"] == "HZ-1" for line in appended)
    (rejected,) = [line for line in lines if line["event"] == "event.rejected"]
    assert rejected["event_id"] == events[3]["event_id"]
    assert rejected["codes"] == ["UNKNOWN_EVENT_TYPE"]


@pytest.mark.parametrize("setting", [{"CASECHAIN_LOG_FORMAT": "xml"},
                                     {"CASECHAIN_LOG_LEVEL": "loud"}])
def test_a_bad_log_setting_is_refused_by_name(tmp_path: Path, setting: dict[str, str]) -> None:
    """An unknown log format or level stops the command, naming the setting."""
    proc = subprocess.run([CASECHAIN, "export", "--db", str(tmp_path / "a.db")],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, **setting})
    assert proc.returncode != 0
    assert next(iter(setting)) in proc.stderr


def test_import_refuses_hostile_lines_alone_and_the_store_stays_readable(tmp_path: Path
                                                                         ) -> None:
    """A line dated in the year 9999, one nested 1,000 deep and one over 256 KiB are each
    reported with SCHEMA_INVALID and their line number; the lines around them are appended,
    and `case show` and `projections rebuild` work afterwards (they once failed forever)."""
    walk = case_walk("HZ-IMP")
    future = envelope("supervision.clue_registered", "HZ-FUTURE",
                      occurred_at="9999-12-31T23:59:59-12:00")
    log = tmp_path / "hostile.jsonl"
    deep = json.dumps(envelope("supervision.clue_registered", "HZ-DEEP")).replace(
        '"payload": {', '"payload": {"extra": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + ", ")
    big = json.dumps(envelope("supervision.clue_registered", "HZ-BIG",
                              payload={"description": "x" * 300_000}))
    lines = [json.dumps(walk[0]), json.dumps(future), deep, big,
             *(json.dumps(e) for e in walk[1:])]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = str(tmp_path / "s.db")
    imported = runner.invoke(app, ["import", str(log), "--db", db, "--json"])
    shown = runner.invoke(app, ["case", "show", "HZ-IMP", "--db", db])
    rebuilt = runner.invoke(app, ["projections", "rebuild", "--db", db])
    summary = json.loads(imported.stdout)
    assert imported.exit_code == 1
    assert (summary["appended"], summary["rejected"]) == (18, 3)
    assert [(r["line"], r["rejections"][0]["code"]) for r in summary["rejections"]] == [
        (2, "SCHEMA_INVALID"), (3, "SCHEMA_INVALID"), (4, "SCHEMA_INVALID")]
    assert (shown.exit_code, rebuilt.exit_code) == (0, 0), shown.output + rebuilt.output


@pytest.mark.parametrize(("args", "named"), [
    (["alerts", "--code", "NOPE"], "--code"), (["alerts", "--code", "NOPE", "--json"], "--code"),
    (["board", "--count-by", "colour"], "--count-by"),
    (["alerts", "--as-of", "9999-12-31T23:59:59"], "--as-of"),
    (["referrals", "--as-of", "yesterday"], "--as-of")])
def test_a_question_no_answer_can_be_given_for_is_one_line_and_exit_2(
        tmp_path: Path, args: list[str], named: str) -> None:
    """The CLI and the API refuse the same parameters with the same rule (the application's
    QueryInvalid): one line naming the option, exit status 2."""
    result = runner.invoke(app, [*args, "--db", _empty_store(tmp_path / "s.db")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {named}: ")
    assert len(result.output.strip().splitlines()) == 1
    assert result.stdout == ""  # nothing half-written (a JSON listing is streamed)


def test_help_names_what_each_option_takes_and_flows_its_sentences() -> None:
    """`casechain alerts --help` names URL, INSTANT, PREFIX rather than <str>; flags (--help
    too) and arguments show no Python type (`projections rebuild --help`: no <list[str]>)."""
    casechain = str(Path(sys.executable).parent / "casechain")
    proc = subprocess.run([casechain, "alerts", "--help"], capture_output=True, text=True,
                          check=True, env={**os.environ, "COLUMNS": "120"})
    assert "<str>" not in proc.stdout and "<bool>" not in proc.stdout
    for shown in ("URL", "INSTANT", "PREFIX", "CURSOR"):
        assert shown in proc.stdout
    rebuild = subprocess.run([casechain, "projections", "rebuild", "--help"],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "COLUMNS": "120"})
    assert "name..." in rebuild.stdout and "Views to rebuild" in rebuild.stdout
    assert "<" not in rebuild.stdout
