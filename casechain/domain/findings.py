"""The cross-case checks over time: when each finding starts being true and when it stops.

The checks of `casechain.domain.crosscase` answer "as of an instant" from a subject's facts
(its cases, decisions and inspections). Those answers change only at the instants of the
facts themselves — a conclusion, a decision, an inspection, a referral step — except for the
colour of 应移未移's clock, which runs between them. So the answers of every instant are known
from the answers at those instants: `timeline` asks the checks once at each and gives every
finding, clock and referral row with the span of time it holds (`Span`), and "as of T" is a
range read of the spans — the same answer the checks give at T (held by a property test over
shuffled logs, every boundary ±1 s, on both databases).

Every rule compares a case only with the cases, decisions and inspections of the same
subject (or of itself, without a subject): a subject's spans come from its own facts, and a
late event of an older case changes its subject's spans only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from casechain.domain.calendar import WorkCalendar
from casechain.domain.crosscase import CaseFacts, CrossCase, Decision, Inspection, ReferralClock
from casechain.domain.deadlines import Clock
from casechain.domain.rulepack import RulePack

__all__ = ["Span", "clock_alert", "timeline"]

#: Kinds of span: a finding true for a while; 应移未移's clock; a row of the referral view.
KINDS = ("finding", "clock", "referral")


@dataclass(frozen=True)
class Span:
    """What holds from `start` until `stop` (None: still), for one case."""

    kind: str
    case_id: str
    code: str
    jurisdiction: str
    start: datetime
    stop: datetime | None
    body: bytes  # JSON: the alert; the clock and what its alert adds; the referral row


def timeline(pack: RulePack, calendar: WorkCalendar, cases: Iterable[CaseFacts],
             decisions: Iterable[Decision], inspections: Iterable[Inspection]) -> list[Span]:
    """Every span of the checks over these facts (one subject's, or one case's)."""
    cases, decisions, inspections = list(cases), list(decisions), list(inspections)
    instants = sorted({*(at for c in cases for at in (c.concluded_at, *c.referral.values())
                         if at is not None),
                       *(d.decided_at for d in decisions), *(i.at for i in inspections)})
    held: dict[tuple[str, str, str, str, bytes], datetime] = {}
    spans: list[Span] = []
    for moment in instants:
        now = _answers(CrossCase(pack, calendar, cases, decisions, inspections, moment))
        for key, start in list(held.items()):
            if key not in now:
                spans.append(Span(*key[:4], start, moment, key[4]))
                del held[key]
        for key in now:
            held.setdefault(key, moment)
    spans += [Span(*key[:4], start, None, key[4]) for key, start in held.items()]
    return sorted(spans, key=lambda s: (s.start, s.kind, s.case_id, s.code, s.body))


def _answers(checks: CrossCase) -> set[tuple[str, str, str, str, bytes]]:
    """What the checks say at their instant: (kind, case, code, place, JSON body) each."""
    now: set[tuple[str, str, str, str, bytes]] = set()
    for alert in checks.findings.fixed():
        now.add(("finding", alert["case_id"], alert["code"], alert["jurisdiction"],
                 _json(alert)))
    for clock in checks.findings.referral_clocks():
        c = clock.clock
        now.add(("clock", c.case_id, c.code, c.jurisdiction, _json({
            "started_at": c.started_at, "base_due": c.base_due, "stopped_at": c.stopped_at,
            "note": c.note, "reason": clock.reason, "crime": clock.crime,
            "subject_id": clock.subject_id})))
    for row in checks.referrals():
        now.add(("referral", row["case_id"], "REFERRAL", row["jurisdiction"], _json(row)))
    return now


def clock_alert(case_id: str, jurisdiction: str, body: dict[str, Any],
                as_of: datetime) -> dict[str, Any] | None:
    """The 应移未移 alert of a clock span as of an instant (yellow or red), or None."""
    def at(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    started, due = at(body["started_at"]), at(body["base_due"])
    assert started is not None and due is not None
    clock = Clock(case_id=case_id, code="REFERRAL_MISSING", part="", jurisdiction=jurisdiction,
                  started_at=started, base_due=due, stopped_at=at(body["stopped_at"]),
                  note=body["note"])
    return ReferralClock(clock, body["reason"], body["crime"], body["subject_id"]).alert(as_of)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
