"""The device register as supervisors ask for it (`casechain devices`, `GET /v1/devices`):
the devices inside a scope with their captures and the penalties resting on them, a page at
a time in device-id order, and the counts per district."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from casechain.application.paging import Page, after_cursor, check_limit, cursor_of
from casechain.errors import QueryInvalid
from casechain.projections.machinery import ProjectionRunner
from casechain.projections.views import views_of

__all__ = ["devices_page"]


def devices_page(runner: ProjectionRunner, scope: str | None, limit: int | None = None,
                 cursor: str | None = None) -> Page:
    """A page of the devices registered inside `scope` (device-id order), each with its
    captures, the captures reviewed, the parties told and the penalties resting on them; the
    total; and (in `extra`) devices, captures and penalties per district."""
    size = check_limit(limit)
    after = after_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], str):
        raise QueryInvalid("cursor", cursor, "is not a cursor of this listing (take "
                           "next_cursor from the previous page, or leave it out to start)")
    runner.catch_up(["devices"])
    view = views_of(runner).devices
    d, u = view.devices.c, view.uses.c
    used = (sa.select(u.device_id, sa.func.count().label("captures"),
                      _count(u.penalised.is_(True)).label("penalties"),
                      _count(u.reviewed.is_(True)).label("reviewed"),
                      _count(u.informed_at.is_not(None)).label("informed"))
            .group_by(u.device_id).subquery())
    inside = d.jurisdiction.like(f"{scope or ''}%")
    query = (sa.select(view.devices, *(sa.func.coalesce(c, 0).label(str(c.name)) for c in (
                 used.c.captures, used.c.penalties, used.c.reviewed, used.c.informed)))
             .outerjoin(used, used.c.device_id == d.device_id).where(inside)
             .order_by(d.device_id).limit(size + 1))
    if after is not None:
        query = query.where(d.device_id > str(after[0]))
    district = sa.func.substr(d.jurisdiction, 1, 6)
    per_district = (sa.select(district.label("district"), sa.func.count().label("devices"),
                              sa.func.sum(sa.func.coalesce(used.c.captures, 0)).label("captures"),
                              sa.func.sum(sa.func.coalesce(used.c.penalties, 0)).label("penalties"))
                    .outerjoin(used, used.c.device_id == d.device_id).where(inside)
                    .group_by(district).order_by(district))
    with runner.store.read() as conn:
        rows = [_device({str(k): v for k, v in row._mapping.items()})
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


def _device(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("case_id", None)
    for key in ("captures", "penalties", "reviewed", "informed"):
        row[key] = int(row[key] or 0)
    row["legal_review"], row["technical_review"] = (bool(row["legal_review"]),
                                                    bool(row["technical_review"]))
    row["approved"] = row["legal_review"] and row["technical_review"]
    return row
