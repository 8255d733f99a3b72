"""Projection machinery: exactly once, resumable after a kill, rebuildable, deterministic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from casechain.application.case_log import CaseLog
from casechain.application.synthetic import EVENTS_PER_CASE, generate
from casechain.bootstrap import open_case_log, open_projections, recorder_of
from casechain.errors import StoreError
from casechain.projections import ClocksView, ProjectionRunner, machinery
from casechain.projections.store import replace_case_rows
from tests.helpers import wait_for

BIN = Path(sys.executable).parent


def fill(log: CaseLog, cases: int, seed: int = 3) -> int:
    outcomes = list(log.append_many(generate(cases, seed=seed)))
    assert {o.status for o in outcomes} == {"appended"}
    return len(outcomes)


def count(log: CaseLog, table: str, where: str = "") -> int:
    with recorder_of(log).read() as conn:
        return int(conn.execute(sa.text(f"SELECT COALESCE(SUM(count), 0) FROM {table} {where}")
                                if table == "casechain_view_stats" else
                                sa.text(f"SELECT COUNT(*) FROM {table} {where}")).scalar() or 0)


def test_views_catch_up_with_the_whole_log(store_url: str) -> None:
    """Every event reaches every view once; status shows no lag afterwards."""
    log = open_case_log(store_url)
    try:
        events = fill(log, 60)
        runner = open_projections(log)
        views = len(runner.views)
        assert [s.lag for s in runner.status()] == [events] * views
        assert runner.catch_up() == events * views
        assert {s.lag for s in runner.status()} == {0}
        assert count(log, "casechain_view_timeline") == events
        assert count(log, "casechain_view_board") == 60
        assert count(log, "casechain_view_stats", "WHERE metric = 'filed'") == 60
        assert count(log, "casechain_view_stats", "WHERE metric = 'closed'") == 60
    finally:
        log.close()


def test_a_rebuild_gives_identical_rows(store_url: str) -> None:
    """Dropping and rebuilding every view reproduces the same digest."""
    log = open_case_log(store_url)
    try:
        fill(log, 40)
        runner = open_projections(log)
        runner.catch_up()
        before = runner.digest()
        runner.rebuild()
        assert runner.digest() == before
    finally:
        log.close()


def test_the_same_log_gives_the_same_digest_on_sqlite_and_postgresql(
        sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    """An exported log restored into SQLite and into PostgreSQL projects to the same views."""
    source = open_case_log(f"sqlite:///{tmp_path / 'source.db'}")
    try:
        fill(source, 30)
        exported = list(source.export())
    finally:
        source.close()
    digests = []
    for url in (sqlite_url, pg_url):
        log = open_case_log(url)
        try:
            assert {o.status for o in log.append_many(exported)} == {"appended"}
            runner = open_projections(log)
            runner.catch_up()
            digests.append(runner.digest())
        finally:
            log.close()
    assert digests[0] == digests[1]


def test_views_follow_a_writer_that_keeps_appending(store_url: str) -> None:
    """A runner polling beside a writer ends with every event applied once."""
    log = open_case_log(store_url)
    runner = open_projections(log)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run, args=(stop, 0.05))
    worker.start()
    try:
        total = 0
        for year in (2023, 2024, 2025):
            outcomes = list(log.append_many(generate(20, seed=year, start=date(year, 1, 2))))
            assert {o.status for o in outcomes} == {"appended"}
            total += len(outcomes)
        wait_for(lambda: not any(s.lag for s in runner.status()), 60, step=0.05)
    finally:
        stop.set()
        worker.join()
    try:
        assert {s.lag for s in runner.status()} == {0}
        assert count(log, "casechain_view_timeline") == total
        fresh = runner.digest()
        runner.rebuild()
        assert runner.digest() == fresh
    finally:
        log.close()


def test_a_worker_killed_mid_stream_resumes_without_double_counting(tmp_path: Path) -> None:
    """`casechain projections run` killed with SIGKILL part-way: resuming applies every
    remaining event once — the counts equal the log's and a rebuild's digest matches."""
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    log = open_case_log(db)
    try:
        events = fill(log, 600)
    finally:
        log.close()
    proc = subprocess.Popen([str(BIN / "casechain"), "projections", "run", "--db", db,
                             "--page", "200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open_case_log(db)
    try:
        runner = open_projections(log)
        def partly_applied() -> bool:
            positions = [s.position for s in runner.status()]
            return 0 < sum(positions) < len(positions) * events

        wait_for(partly_applied, 120, step=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        interrupted = [s.position for s in runner.status()]
        assert sum(interrupted) < len(interrupted) * events, "finished before it was killed"
        runner.catch_up()
        assert count(log, "casechain_view_timeline") == events
        assert count(log, "casechain_view_stats", "WHERE metric = 'filed'") == 600
        assert count(log, "casechain_view_stats", "WHERE metric = 'decided'") == 600
        resumed = runner.digest()
        runner.rebuild()
        assert runner.digest() == resumed
    finally:
        log.close()


def test_two_workers_on_the_same_views_apply_each_event_once(store_url: str) -> None:
    """Two runners (say `projections run` and a `serve` follower) catching up the same views
    at once, with pages of different sizes, still apply every event exactly once."""
    log = open_case_log(store_url)
    try:
        events = fill(log, 300)
        runners = [open_projections(log, page=page) for page in (200, 330)]
        errors: list[BaseException] = []

        def work(runner: ProjectionRunner) -> None:
            try:
                runner.catch_up()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(runner,)) for runner in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert {s.lag for s in runners[0].status()} == {0}
        assert count(log, "casechain_view_timeline") == events
        assert count(log, "casechain_view_stats", "WHERE metric = 'filed'") == 300
        assert count(log, "casechain_view_stats", "WHERE metric = 'closed'") == 300
        together = runners[0].digest()
        runners[0].rebuild()
        assert runners[0].digest() == together
    finally:
        log.close()


def test_small_pages_that_split_cases_give_the_same_rows(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 5 events over 4 interleaved cases: a page is folded while the one
    before it (holding the same cases) is still being written — slowly here, so that a read
    that did not wait for it would see the rows before it: the rows equal one page's."""
    def slow(*args: Any) -> None:
        time.sleep(0.01)
        replace_case_rows(*args)

    monkeypatch.setattr(machinery, "replace_case_rows", slow)
    log = open_case_log(store_url)
    try:
        fill(log, 4)
        small = open_projections(log, page=5)
        assert small.catch_up() == 4 * EVENTS_PER_CASE * len(small.views)
        split = small.digest()
        whole = open_projections(log)
        whole.rebuild()
        assert whole.digest() == split
    finally:
        log.close()


def test_a_view_whose_tables_changed_shape_is_rebuilt(store_url: str) -> None:
    """A store written before views had versions, when the deadlines view had no
    `surcharge_pauses` and the crosscase view no `subject_kind` (both version 1): opening the
    runner drops and recreates those views' tables, and the board's (version 2 keeps a case's
    own jurisdiction), the devices' (version 2 keeps epoch seconds) and the 1315 response's
    (version 2 keeps the dispatch's), with no position; the other views keep theirs, and the
    next catch-up rebuilds them."""
    log = open_case_log(store_url)
    try:
        events = fill(log, 20)
        runner = open_projections(log)
        runner.catch_up()
        expected = runner.digest()[0]
        with recorder_of(log).engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE casechain_view_clocks DROP COLUMN surcharge_pauses"))
            # (and the index on it, which came later still)
            conn.execute(sa.text("DROP INDEX casechain_view_cc_cases_person"))
            conn.execute(sa.text("ALTER TABLE casechain_view_cc_cases DROP COLUMN subject_kind"))
            conn.execute(sa.text("DELETE FROM casechain_view_versions"))
        reopened = open_projections(log)
        lags = {s.name: s.lag for s in reopened.status()}
        rebuilt = ("deadlines", "crosscase", "board", "devices", "response")
        assert lags == {name: (events if name in rebuilt else 0) for name in lags}
        reopened.catch_up()
        assert reopened.digest()[0] == expected
    finally:
        log.close()


def test_an_older_release_refuses_views_a_newer_one_upgraded(store_url: str) -> None:
    """Views upgraded by a newer release (a higher stored version) are neither dropped nor
    written by this one: opening the runner fails naming the view and both versions, and
    the rows stay as they are."""
    log = open_case_log(store_url)
    try:
        fill(log, 5)
        open_projections(log).catch_up()
        with recorder_of(log).engine.begin() as conn:
            conn.execute(sa.text("UPDATE casechain_view_versions SET version = 99 "
                                 "WHERE name = 'deadlines'"))
            rows = conn.execute(sa.text("SELECT count(*) FROM casechain_view_clocks")).scalar()
        known = f"deadlines version 99, this release knows {ClocksView.version}"
        with pytest.raises(StoreError, match=known):
            open_projections(log)
        done = subprocess.run([str(BIN / "casechain"), "alerts", "--db", store_url],
                              capture_output=True, text=True)
        assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr
        assert "upgraded by a newer CaseChain release" in done.stderr
        with recorder_of(log).engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM casechain_view_clocks")
                                ).scalar() == rows > 0
    finally:
        log.close()
