"""A subject's record across cases (当事人): the earlier decisions the law asks about.

Art. 33 para 1 (its second sentence) of the Administrative Penalty Law: a first violation
(初次违法) with minor harm, corrected in time, may go unpunished. Whether a violation is the
first is a question about the subject's other cases, answered by business time (the act
dates), never by the order in which events reached the engine —
so a late import of an older case gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

__all__ = ["SubjectDecision", "SubjectHistory", "earlier_penalties", "is_first_offence"]


@dataclass(frozen=True, slots=True)
class SubjectDecision:
    """One penalty decision on a subject (from `penalty.decided`)."""

    subject_id: str
    case_id: str
    item_code: str
    act_date: date
    decided_on: date
    fined: bool
    fine: float


class SubjectHistory(Protocol):
    """Where the decisions on a subject are kept (the store's subject index)."""

    def subject_decisions(self, subject_id: str) -> list[SubjectDecision]:
        """Every penalty decision on the subject, any case."""
        ...


def earlier_penalties(decisions: list[SubjectDecision], *, item_code: str | None, act_date: date,
                      case_id: str) -> list[SubjectDecision]:
    """Decisions on other cases whose act came before `act_date` (same item if given)."""
    return sorted((d for d in decisions
                   if d.case_id != case_id and d.act_date < act_date
                   and (item_code is None or d.item_code == item_code)),
                  key=lambda d: (d.act_date, d.case_id))


def is_first_offence(decisions: list[SubjectDecision], *, item_code: str | None, act_date: date,
                     case_id: str) -> bool:
    """True when no other case of the subject was decided for an earlier act (same item)."""
    return not earlier_penalties(decisions, item_code=item_code, act_date=act_date,
                                 case_id=case_id)
