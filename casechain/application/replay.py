"""Replay a log into a throw-away store, and what-if: the same log under two rule packs.

`replay` never touches the user's database: it imports the log into a SQLite file in a
temporary folder, rebuilds every view, and reports the per-view counts, the alerts as of an
instant and the projection digest. Every event is recorded at one fixed instant
(`REPLAY_RECORDED_AT`) unless the log is an export that carries its own `recorded_at`, so the
same log and pack give the same digest every time, on any store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from casechain.application.case_log import CaseLog
from casechain.application.importing import import_file
from casechain.application.queries import alerts_as_of
from casechain.domain.bounds import EARLIEST
from casechain.projections.machinery import ProjectionRunner

__all__ = ["REPLAY_RECORDED_AT", "Opener", "Replay", "compare", "replay"]

#: Opens a case log on a store URL under a rule pack with a fixed clock, and its views
#: (`bootstrap.replay_log` passes its own).
Opener = Callable[[str, str | None, Callable[[], datetime]], tuple[CaseLog, ProjectionRunner]]

#: The recording instant of replayed events (so that replays are comparable).
REPLAY_RECORDED_AT = EARLIEST  # domain.bounds: 2000-01-01T00:00:00Z


@dataclass
class Replay:
    """What a replay found."""

    log: str
    rules: str
    events: int = 0
    appended: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, int] = field(default_factory=dict)
    digest: str = ""
    position: int = 0
    as_of: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"log": self.log, "rules": self.rules, "events": self.events,
                "appended": self.appended, "rejected": self.rejected, "views": self.views,
                "digest": self.digest, "position": self.position, "as_of": self.as_of,
                "alerts": self.alerts}


def replay(log: Path, rules: str | None, as_of: datetime, opener: Opener,
           db_url: str | None = None) -> Replay:
    """Import `log` into a fresh store (a temporary SQLite file unless `db_url` names an
    empty throw-away database), rebuild the views, read counts, digest and alerts."""
    with tempfile.TemporaryDirectory(prefix="casechain-replay-") as folder:
        url = db_url or f"sqlite:///{Path(folder) / 'replay.db'}"
        case_log, runner = opener(url, rules, lambda: REPLAY_RECORDED_AT)
        try:
            result = Replay(log=str(log), rules=rules or "bundled")
            rejected: list[dict[str, Any]] = []
            summary = import_file(case_log, log, on_rejected=lambda entry: rejected.append(
                {"line": entry.line, "event_id": entry.event_id, "case_id": entry.case_id,
                 "codes": [r["code"] for r in entry.rejections],
                 "messages": [r["message"] for r in entry.rejections]}))
            result.events, result.appended, result.rejected = (summary.lines, summary.appended,
                                                               rejected)
            runner.catch_up()
            result.digest, result.position, result.views = runner.digest()
            result.as_of = as_of.isoformat()
            result.alerts = alerts_as_of(runner, as_of)
            return result
        finally:
            case_log.close()


def compare(log: Path, new_rules: str, old_rules: str, as_of: datetime, opener: Opener
            ) -> dict[str, Any]:
    """The same log under two packs: events rejected under one and not the other, alerts that
    appear or disappear — case by case."""
    old, new = replay(log, old_rules, as_of, opener), replay(log, new_rules, as_of, opener)
    cases: dict[str, dict[str, list[Any]]] = {}

    def entry(case_id: str) -> dict[str, list[Any]]:
        return cases.setdefault(case_id, {"newly_rejected": [], "no_longer_rejected": [],
                                          "alerts_appear": [], "alerts_disappear": []})

    old_lines = {r["line"]: r for r in old.rejected}
    new_lines = {r["line"]: r for r in new.rejected}
    for line in sorted(set(new_lines) - set(old_lines)):
        entry(new_lines[line]["case_id"])["newly_rejected"].append(new_lines[line])
    for line in sorted(set(old_lines) - set(new_lines)):
        entry(old_lines[line]["case_id"])["no_longer_rejected"].append(old_lines[line])

    def keyed(alerts: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(a["case_id"], a["code"], a.get("step", "")): a for a in alerts}

    old_alerts, new_alerts = keyed(old.alerts), keyed(new.alerts)
    for key in sorted(set(new_alerts) - set(old_alerts)):
        entry(key[0])["alerts_appear"].append(_brief(new_alerts[key]))
    for key in sorted(set(old_alerts) - set(new_alerts)):
        entry(key[0])["alerts_disappear"].append(_brief(old_alerts[key]))
    return {"log": str(log), "old_rules": old_rules, "new_rules": new_rules,
            "as_of": as_of.isoformat(), "old_digest": old.digest, "new_digest": new.digest,
            "cases": {case_id: cases[case_id] for case_id in sorted(cases)}}


def _brief(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: alert[k] for k in ("code", "severity", "due_at", "detail") if k in alert}
