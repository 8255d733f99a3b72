"""A case's jurisdiction (管辖): fixed by its first event, moved only by `case.transferred`.

The contract (docs/contract.md): later events may name the case's division or another one inside the
same district (the first six digits: a street's case handled by the district, or the
reverse); moving a case anywhere else takes `case.transferred` {to_jurisdiction, reason}
(移送管辖 / 指定管辖, APL Arts. 25-26). Anything else is `OUT_OF_SCOPE`. The case log checks
this inside the append transaction, against the case head it appends to, so two servers
on one database cannot race past it.
"""

from __future__ import annotations

from typing import Any

from casechain.domain.case import CaseFile
from casechain.domain.envelope import Envelope
from casechain.errors import Rejection

__all__ = ["TRANSFER", "check_jurisdiction", "jurisdiction_after", "same_district"]

TRANSFER = "case.transferred"
_ARTICLE = "APL Arts. 22-26 (管辖; 移送管辖 by case.transferred)"


def same_district(one: str, other: str) -> bool:
    """True when both division codes lie in one district (or one is the district's city-wide
    prefix of the other's district: 3301 and 330106 do not, 330106 and 330106001 do)."""
    if len(one) >= 6 and len(other) >= 6:
        return one[:6] == other[:6]
    return one == other


def jurisdiction_after(current: str | None, record: dict[str, Any]) -> str:
    """The case's jurisdiction once `record` is folded in."""
    if record["type"] == TRANSFER:
        target: str = record["payload"]["to_jurisdiction"]
        return target
    return current if current is not None else str(record["jurisdiction"])


def check_jurisdiction(case: CaseFile, env: Envelope) -> list[Rejection]:
    """OUT_OF_SCOPE when `env` names a division outside the case's district without moving
    the case by `case.transferred`."""
    held = case.jurisdiction
    if case.seq == 0 or held is None:
        return []
    named = env.jurisdiction
    if same_district(named, held):
        return []
    if env.type == TRANSFER and held.startswith(named):
        return []  # a body over the case's division moves it (the city names 3301)
    return [Rejection(
        "OUT_OF_SCOPE", f"case {env.case_id}: field jurisdiction is {named}, outside the "
        f"district of the case's jurisdiction {held}; a case moves elsewhere only by "
        f"case.transferred ({_ARTICLE})", "jurisdiction", named)]
