"""pytest plugin for services that emit events into CaseChain (entry point `casechain`).

    def test_a_fine_without_transfer_is_flagged(casechain):
        casechain.load("tests/logs/fake_goods.jsonl")
        casechain.assert_alert("PENALTY_INSTEAD_OF_REFERRAL", "HZ-1", as_of="2025-09-10T10:00:00")

The `casechain` fixture is a fresh engine on a throw-away SQLite file with the bundled rule
pack (or `Engine(rules=...)`): load a log file or a list of envelopes, then read the views
and alerts. Failed assertions show the case's timeline, so the failure explains itself.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

__all__ = ["Engine", "EventsRejected", "casechain"]


class EventsRejected(AssertionError):
    """Envelopes the engine refused while loading (each with its codes and messages)."""


class Engine:
    """A throw-away CaseChain: the log, the views, the alerts."""

    def __init__(self, folder: Path | None = None, rules: str | None = None) -> None:
        from casechain.bootstrap import open_case_log, open_projections

        self._tmp = None if folder is not None else tempfile.TemporaryDirectory()
        base = folder if folder is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.case_log = open_case_log(f"sqlite:///{base / 'casechain-test.db'}", rules)
        self.runner = open_projections(self.case_log, rules)

    # -- loading ----------------------------------------------------------------------
    def load(self, source: str | Path | Iterable[dict[str, Any]], strict: bool = True
             ) -> list[dict[str, Any]]:
        """Append a JSON Lines file or envelopes, in order; the outcomes. With `strict`, any
        rejection fails the test with every code and message."""
        envelopes = (_read_lines(Path(source)) if isinstance(source, (str, Path))
                     else list(source))
        outcomes = [o.as_dict() for o in self.case_log.append_many(envelopes)]
        refused = [o for o in outcomes if o["status"] == "rejected"]
        if strict and refused:
            lines = [f"envelope {o['index'] + 1} ({o['case_id']}): {r['code']} {r['message']}"
                     for o in refused for r in o["rejections"]]
            raise EventsRejected("CaseChain refused envelopes:\n" + "\n".join(lines))
        return outcomes

    # -- reading ----------------------------------------------------------------------
    def timeline(self, case_id: str) -> list[dict[str, Any]]:
        """The audit-timeline rows of a case, in seq order."""
        from casechain.application.queries import timeline_of

        return timeline_of(self.runner, case_id)

    def board(self) -> dict[str, dict[str, Any]]:
        """The supervision board, one row per case id."""
        import sqlalchemy as sa

        from casechain.projections.views import views_of

        self.runner.catch_up(["board"])
        board = views_of(self.runner).board
        listed = sa.select(*(board.table.c[name] for name in board.LISTED))
        with self.runner.store.read() as conn:
            return {row.case_id: dict(row._mapping) for row in conn.execute(listed)}

    def alerts(self, as_of: str | datetime, code: str | None = None,
               scope: str | None = None) -> list[dict[str, Any]]:
        """The alerts as of an instant (no offset: Asia/Shanghai), as `casechain alerts`."""
        from casechain.application.queries import alerts_as_of

        return alerts_as_of(self.runner, _instant(as_of), scope, code)

    def breaches(self, code: str | None = None, scope: str | None = None
                 ) -> list[dict[str, Any]]:
        """The deadlines met late (违限记录), in the order they were met, as `casechain
        breaches` lists them."""
        from casechain.application.breaches import breaches_page
        from casechain.application.paging import MAX_LIMIT

        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = breaches_page(self.runner, scope, code, limit=MAX_LIMIT, cursor=cursor)
            rows += page.rows
            if page.next_cursor is None:
                return rows
            cursor = page.next_cursor

    def referrals(self, as_of: str | datetime) -> list[dict[str, Any]]:
        """The referral view as of an instant."""
        from casechain.application.queries import referral_rows

        return referral_rows(self.runner, _instant(as_of))

    def subject(self, subject_id: str, as_of: str | datetime) -> dict[str, Any] | None:
        """The subject register (一户一档) as of an instant."""
        from casechain.application.queries import cross_case_as_of

        return cross_case_as_of(self.runner, _instant(as_of), subject_id).subject(subject_id)

    def digest(self) -> str:
        """The projection digest over every view (after catching up)."""
        self.runner.catch_up()
        return self.runner.digest()[0]

    # -- assertions -------------------------------------------------------------------
    def assert_stage(self, case_id: str, stage: str, state: str | None = None) -> None:
        """The case is at this stage (and state) on the board."""
        row = self.board().get(case_id)
        if row is None or row["stage"] != stage or (state is not None and row["state"] != state):
            now = "not on the board" if row is None else f"at {row['stage']}.{row['state']}"
            want = f"{stage}.{state}" if state else stage
            raise AssertionError(f"case {case_id} is {now}, expected {want}\n"
                                 + self.describe(case_id))

    def assert_alert(self, code: str, case_id: str, as_of: str | datetime,
                     severity: str | None = None) -> dict[str, Any]:
        """An alert of this code is raised for the case as of the instant; the alert."""
        found = [a for a in self.alerts(as_of, code) if a["case_id"] == case_id]
        if not found or (severity is not None and found[0]["severity"] != severity):
            got = ", ".join(f"{a['code']}/{a['severity']}" for a in self.alerts(as_of)
                            if a["case_id"] == case_id) or "none"
            raise AssertionError(f"expected {code}{'/' + severity if severity else ''} for "
                                 f"case {case_id} as of {_instant(as_of).isoformat()}; its "
                                 f"alerts: {got}\n" + self.describe(case_id))
        return found[0]

    def assert_no_alert(self, code: str, case_id: str, as_of: str | datetime) -> None:
        """No alert of this code for the case as of the instant."""
        found = [a for a in self.alerts(as_of, code) if a["case_id"] == case_id]
        if found:
            raise AssertionError(f"unexpected {code} for case {case_id} as of "
                                 f"{_instant(as_of).isoformat()}: {found[0]['detail']}\n"
                                 + self.describe(case_id))

    def describe(self, case_id: str) -> str:
        """The case's timeline, a line an event, for failure messages."""
        rows = self.timeline(case_id)
        if not rows:
            return f"(case {case_id} has no events)"
        lines = [f"timeline of {case_id}:"]
        lines += [f"  {r['seq']:>3}  {r['occurred_at']}  {r['type']:36} {r['label']}  "
                  f"by {r['actor_id']} ({r['actor_role']})" for r in rows]
        return "\n".join(lines)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the store (and its temporary folder)."""
        self.case_log.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def _instant(value: str | datetime) -> datetime:
    from casechain.domain.calendar import SHANGHAI

    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def casechain(tmp_path: Path) -> Iterator[Engine]:
    """A fresh CaseChain engine (SQLite in the test's temporary folder, bundled rules)."""
    engine = Engine(tmp_path)
    try:
        yield engine
    finally:
        engine.close()
