"""What supervisors ask, once for every entrypoint: the board, alerts, referrals, a subject's
register and the 1315 figures, each as of an instant and inside a division-code prefix.

The command line and the HTTP API parse their inputs, call these and render the answers; an
input no answer can be given for is `QueryInvalid`, naming the parameter, the value and what
it may be (the CLI says it and exits 2, the API answers 422 SCHEMA_INVALID).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casechain.application.queries import (
    BOARD_GROUPS,
    alerts_as_of,
    board_rows,
    count_rows,
    cross_case_as_of,
    response_of,
)
from casechain.domain.calendar import InstantOutOfRange, instant
from casechain.domain.deadlines import ALERT_LABELS
from casechain.errors import QueryInvalid
from casechain.projections.machinery import ProjectionRunner

__all__ = ["as_of", "board", "referrals", "subject_register", "supervision_alerts",
           "urgent_response"]


def as_of(text: str | None, name: str = "as_of") -> datetime:
    """The instant a question is asked at: ISO 8601 (no offset: Asia/Shanghai), now when
    None, within the years 2000–2099."""
    try:
        return instant(text)
    except ValueError as exc:
        why = ("lies outside the years 2000-2099 that CaseChain records"
               if isinstance(exc, InstantOutOfRange) else "is not an ISO 8601 instant")
        raise QueryInvalid(name, text, f"{why} (e.g. 2025-10-15T09:00:00+08:00)") from None


def board(runner: ProjectionRunner, scope: str | None, filters: dict[str, str | None],
          officer: str | None = None, count_by: str | None = None
          ) -> list[dict[str, Any]] | dict[str, int]:
    """The supervision board's cases (监管看板), or their counts by one column."""
    if count_by is not None and count_by not in BOARD_GROUPS:
        raise QueryInvalid("count_by", count_by, f"is not one of {', '.join(BOARD_GROUPS)}")
    rows = board_rows(runner, scope, filters, officer)
    return count_rows(rows, count_by) if count_by else rows


def supervision_alerts(runner: ProjectionRunner, moment: datetime, scope: str | None,
                       code: str | None = None) -> list[dict[str, Any]]:
    """Every alert as of `moment` inside `scope` (one code, if given)."""
    if code is not None and code not in ALERT_LABELS:
        raise QueryInvalid("code", code, f"is not an alert code ({', '.join(ALERT_LABELS)})")
    return alerts_as_of(runner, moment, scope, code)


def referrals(runner: ProjectionRunner, moment: datetime, scope: str | None) -> dict[str, Any]:
    """行刑衔接: the cases reaching a threshold or with referral steps, and the rates."""
    checks = cross_case_as_of(runner, moment, scope=scope)
    return {"as_of": moment.isoformat(), "cases": checks.referrals(scope),
            "rates": checks.referral_rates(scope)}


def subject_register(runner: ProjectionRunner, moment: datetime, subject_id: str,
                     scope: str = "") -> dict[str, Any] | None:
    """一户一档 inside `scope`, with the alerts of its cases there; None for a subject never
    recorded. Its `outside_scope` counts what lies elsewhere."""
    checks = cross_case_as_of(runner, moment, subject_id)
    register = checks.subject(subject_id, scope)
    if register is None:
        return None
    inside = {c["case_id"] for c in register["cases"]}
    register["alerts"] = [a for a in checks.alerts() if a.get("subject_id") == subject_id
                          and a["case_id"] in inside]
    register["as_of"] = moment.isoformat()
    return register


def urgent_response(runner: ProjectionRunner, scope: str | None = None) -> list[dict[str, Any]]:
    """1315: urgent clues per team and district and the shares within 1, 3 and 15 minutes."""
    return response_of(runner, scope)
