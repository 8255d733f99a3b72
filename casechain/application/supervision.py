"""What supervisors ask, once for every entrypoint: the board, alerts, referrals, a subject's
register and the 1315 figures, each as of an instant and inside a division-code prefix.

The command line and the HTTP API parse their inputs, call these and render the answers; an
input no answer can be given for is `QueryInvalid`, naming the parameter, the value and what
it may be (the CLI says it and exits 2, the API answers 422 SCHEMA_INVALID).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casechain.application.paging import (
    Page,
    after_cursor,
    check_limit,
    cursor_of,
    instant_key_after,
    page_rows,
    paged,
)
from casechain.application.queries import (
    BOARD_GROUPS,
    BOARD_GROUPS_AS_OF,
    alert_counts,
    alert_rows,
    alerts_as_of,
    board_counts,
    board_rows,
    board_total,
    cross_case_as_of,
    referral_rates,
    referral_rows,
    response_of,
)
from casechain.domain.calendar import InstantOutOfRange, instant
from casechain.domain.deadlines import ALERT_LABELS
from casechain.errors import QueryInvalid
from casechain.projections.machinery import ProjectionRunner

__all__ = [
    "ALERT_SEVERITIES",
    "DEADLINE_SEVERITIES",
    "SUMMARY_BY",
    "alert_summary",
    "alerts_page",
    "as_of",
    "board",
    "board_page",
    "deadline_summary",
    "deadlines_page",
    "referrals",
    "referrals_page",
    "subject_register",
    "supervision_alerts",
    "urgent_response",
]

#: What the alert summary counts by besides code, severity and team.
SUMMARY_BY = ("district", "street")
#: The colours an alert or a running deadline can have.
ALERT_SEVERITIES = ("red", "yellow", "info")
DEADLINE_SEVERITIES = ("red", "yellow", "green", "info")


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
          officer: str | None = None, count_by: str | None = None,
          moment: datetime | None = None) -> list[dict[str, Any]] | dict[str, int]:
    """The supervision board's cases (监管看板), or their counts by one column — as of
    `moment`, if given, counted by district, team or stage (filtered by team or stage)."""
    if count_by is not None and count_by not in BOARD_GROUPS:
        raise QueryInvalid("count_by", count_by, f"is not one of {', '.join(BOARD_GROUPS)}")
    if moment is not None:
        _check_board_as_of(count_by, filters, officer)
    if count_by:
        return board_counts(runner, scope, filters, officer, count_by, moment)
    return board_rows(runner, scope, filters, officer)


def _check_board_as_of(count_by: str | None, filters: dict[str, str | None],
                       officer: str | None) -> None:
    """The board goes back in time by the columns its spans keep (QueryInvalid naming the
    parameter that asks for more)."""
    allowed = ", ".join(BOARD_GROUPS_AS_OF)
    if count_by is None:
        raise QueryInvalid("as_of", "…", f"lists no cases: the board answers as of an instant "
                           f"with counts, count_by one of {allowed} (截至时间仅用于计数)")
    if count_by not in BOARD_GROUPS_AS_OF:
        raise QueryInvalid("count_by", count_by, f"cannot be answered as of an instant: the "
                           f"board goes back in time counting by {allowed} only "
                           f"(截至时间仅支持按区县、队伍、阶段计数)")
    asked = {name: value for name, value in filters.items() if value is not None} | (
        {"officer": officer} if officer else {})
    for name, value in asked.items():
        if name not in BOARD_GROUPS_AS_OF:
            raise QueryInvalid(name, value, f"cannot filter the board as of an instant: "
                               f"only {allowed} can (截至时间仅支持按区县、队伍、阶段筛选)")


def board_page(runner: ProjectionRunner, scope: str | None, filters: dict[str, str | None],
               officer: str | None = None, limit: int | None = None,
               cursor: str | None = None) -> Page:
    """A page of the board's cases in case-id order (keyset on the case id), and the total."""
    size = check_limit(limit)
    after = after_cursor(cursor, 1)
    rows = board_rows(runner, scope, filters, officer, str(after[0]) if after else None,
                      size + 1)
    return page_rows(rows, board_total(runner, scope, filters, officer), size,
                     lambda row: (row["case_id"],))


def supervision_alerts(runner: ProjectionRunner, moment: datetime, scope: str | None,
                       code: str | None = None) -> list[dict[str, Any]]:
    """Every alert as of `moment` inside `scope` (one code, if given)."""
    _check_code(code)
    return alerts_as_of(runner, moment, scope, code)


def alerts_page(runner: ProjectionRunner, moment: datetime, scope: str | None,
                code: str | None = None, limit: int | None = None,
                cursor: str | None = None, severity: str | None = None) -> Page:
    """A page of the alerts as of `moment` (of one severity, if given), in due order, and
    the total."""
    _check_code(code)
    _check_severity(severity, ALERT_SEVERITIES)
    return _due_page(runner, moment, scope, code, severity, limit, cursor, False)


def deadlines_page(runner: ProjectionRunner, moment: datetime, scope: str | None,
                   code: str | None = None, limit: int | None = None,
                   cursor: str | None = None, severity: str | None = None) -> Page:
    """A page of the running deadlines (green ones too), in due order, and the total."""
    _check_code(code)
    _check_severity(severity, DEADLINE_SEVERITIES)
    return _due_page(runner, moment, scope, code, severity, limit, cursor, True)


def _due_page(runner: ProjectionRunner, moment: datetime, scope: str | None, code: str | None,
              severity: str | None, limit: int | None, cursor: str | None,
              deadlines_only: bool) -> Page:
    """A page in due order, cut in SQL (keyset on due instant, case, code, step), and the
    total, counted in SQL."""
    size = check_limit(limit)
    key = instant_key_after(cursor)
    rows, keys, total = alert_rows(runner, moment, scope, code, severity, size + 1, key,
                                   deadlines_only)
    more = len(rows) > size
    return Page(rows[:size], total, cursor_of(keys[size - 1]) if more else None)


def alert_summary(runner: ProjectionRunner, moment: datetime, scope: str | None,
                  by: str = "district") -> dict[str, Any]:
    """How many alerts as of `moment`, by code × severity × team × district (or street):
    what a dashboard asks first, the rows on demand."""
    return _summary(moment, by, alert_counts(runner, moment, scope, _width(by)))


def deadline_summary(runner: ProjectionRunner, moment: datetime, scope: str | None,
                     by: str = "district") -> dict[str, Any]:
    """How many running deadlines as of `moment` (green ones too), counted as the alerts."""
    return _summary(moment, by, alert_counts(runner, moment, scope, _width(by),
                                             deadlines_only=True, with_green=True))


def _check_severity(severity: str | None, known: tuple[str, ...]) -> None:
    if severity is not None and severity not in known:
        raise QueryInvalid("severity", severity, f"is not one of {', '.join(known)}")


def _width(by: str) -> int:
    if by not in SUMMARY_BY:
        raise QueryInvalid("by", by, f"is not one of {', '.join(SUMMARY_BY)}")
    return 6 if by == "district" else 9


def _summary(moment: datetime, by: str,
             counts: dict[tuple[str, str, str | None, str], int]) -> dict[str, Any]:
    return {"as_of": moment.isoformat(), "by": by, "total": sum(counts.values()),
            "counts": [{"code": code, "label": ALERT_LABELS[code][0], "severity": severity,
                        "team": team, by: place, "count": n}
                       for (code, severity, team, place), n in sorted(
                           counts.items(), key=lambda item: (item[0][0], item[0][1],
                                                             item[0][2] or "", item[0][3]))]}


def _check_code(code: str | None) -> None:
    if code is not None and code not in ALERT_LABELS:
        raise QueryInvalid("code", code, f"is not an alert code ({', '.join(ALERT_LABELS)})")


def referrals(runner: ProjectionRunner, moment: datetime, scope: str | None) -> dict[str, Any]:
    """行刑衔接: the cases reaching a threshold or with referral steps, and the rates."""
    rows = referral_rows(runner, moment, scope)
    return {"as_of": moment.isoformat(), "cases": rows, "rates": referral_rates(rows)}


def referrals_page(runner: ProjectionRunner, moment: datetime, scope: str | None,
                   limit: int | None = None, cursor: str | None = None) -> Page:
    """A page of the referral view's cases in case-id order, the total, and (in `extra`)
    the rates of the whole scope."""
    whole = referrals(runner, moment, scope)
    page = paged(whole["cases"], lambda row: (row["case_id"],), limit, cursor)
    return Page(page.rows, page.total, page.next_cursor,
                {"as_of": whole["as_of"], "rates": whole["rates"]})


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


def urgent_response(runner: ProjectionRunner, scope: str | None = None,
                    moment: datetime | None = None) -> list[dict[str, Any]]:
    """1315: urgent clues per team and district and the shares within 1, 3 and 15 minutes
    (as of `moment`, if given)."""
    return response_of(runner, scope, moment)
