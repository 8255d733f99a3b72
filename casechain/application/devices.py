"""The device register as supervisors ask for it (`casechain devices`, `GET /v1/devices`):
the devices inside a scope with their captures and the penalties resting on them, a page at
a time in device-id order, and the counts per district."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from casechain.application.paging import Page, check_limit, cursor_of, single_key_after
from casechain.projections.machinery import ProjectionRunner
from casechain.projections.views import views_of

__all__ = ["devices_page"]


def devices_page(runner: ProjectionRunner, scope: str | None, limit: int | None = None,
                 cursor: str | None = None, moment: datetime | None = None) -> Page:
    """A page of the devices registered inside `scope` (device-id order), each with its
    captures, the captures reviewed, the parties told and the penalties resting on them; the
    total; and (in `extra`) devices, captures and penalties per district. As of `moment`, if
    given: the devices registered by then (retired only if by then), the captures made by
    then, reviewed, told and penalised by then (a capture reviewed twice counts from its
    latest review)."""
    size = check_limit(limit)
    after = single_key_after(cursor, str)
    runner.ready(["devices"])
    view = views_of(runner).devices
    d, u = view.devices.c, view.uses.c
    at = None if moment is None else moment.timestamp()

    def by_then(column: Any) -> Any:  # the instant in `column` has come (any, without one)
        return column.is_not(None) if at is None else column <= at

    used = (sa.select(u.device_id, sa.func.count().label("captures"),
                      _count(by_then(u.penalised_epoch)).label("penalties"),
                      _count(sa.and_(u.reviewed.is_(True), by_then(u.reviewed_epoch))
                             ).label("reviewed"),
                      _count(by_then(u.informed_epoch)).label("informed"))
            .where(sa.true() if at is None else u.captured_epoch <= at)
            .group_by(u.device_id).subquery())
    inside: Any = d.jurisdiction.like(f"{scope or ''}%")
    if at is not None:
        inside = sa.and_(inside, d.registered_epoch <= at)
    query = (sa.select(view.devices, *(sa.func.coalesce(c, 0).label(str(c.name)) for c in (
                 used.c.captures, used.c.penalties, used.c.reviewed, used.c.informed)))
             .outerjoin(used, used.c.device_id == d.device_id).where(inside)
             .order_by(d.device_id).limit(size + 1))
    if after is not None:
        query = query.where(d.device_id > after)
    district = sa.func.substr(d.jurisdiction, 1, 6)
    per_district = (sa.select(district.label("district"), sa.func.count().label("devices"),
                              sa.func.sum(sa.func.coalesce(used.c.captures, 0)).label("captures"),
                              sa.func.sum(sa.func.coalesce(used.c.penalties, 0)).label("penalties"))
                    .outerjoin(used, used.c.device_id == d.device_id).where(inside)
                    .group_by(district).order_by(district))
    with runner.store.read() as conn:
        rows = [_device({str(k): v for k, v in row._mapping.items()}, at)
                for row in conn.execute(query)]
        total = int(conn.execute(sa.select(sa.func.count()).select_from(view.devices)
                                 .where(inside)).scalar() or 0)
        districts = [{k: (int(v) if k != "district" else v) for k, v in row._mapping.items()}
                     for row in conn.execute(per_district)]
    more = len(rows) > size
    return Page(rows[:size], total, cursor_of((rows[size - 1]["device_id"],)) if more else None,
                {"districts": districts})


def _count(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _device(row: dict[str, Any], at: float | None) -> dict[str, Any]:
    row.pop("case_id", None)
    retired = row.pop("retired_epoch")
    row.pop("registered_epoch")
    if at is not None and retired is not None and retired > at:
        row["retired_at"] = None  # not yet retired then
    for key in ("captures", "penalties", "reviewed", "informed"):
        row[key] = int(row[key] or 0)
    row["legal_review"], row["technical_review"] = (bool(row["legal_review"]),
                                                    bool(row["technical_review"]))
    row["approved"] = row["legal_review"] and row["technical_review"]
    return row
