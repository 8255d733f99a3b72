"""The device register (非现场执法设备台账, APL Art. 41): every registered device — where it is,
its legal and technical review, when its location was published, when it was retired — and
every capture a case rests on: reviewed or not, the party told or not, penalised or not.

A device is its own stream (`case_id` = the device id, `device.registered`, `device.retired`);
a capture is a clue of a case naming `device_id` and `captured_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from casechain.projections.machinery import Page, seen_before

__all__ = ["DevicesView"]

Records = Sequence[tuple[int, dict[str, Any]]]
Rows = dict[Any, dict[str, Any]]


class DevicesView:
    """设备台账: devices and the captures cases rest on."""

    name = "devices"
    # 2: the instants as epoch seconds (the register as of an instant: registered, retired,
    # captured, reviewed, told and penalised by then)
    version = 2

    def define(self, metadata: sa.MetaData) -> list[sa.Table]:
        self.devices = sa.Table(
            "casechain_view_devices", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),  # the device's stream
            sa.Column("device_id", sa.String(64), nullable=False, index=True),
            sa.Column("jurisdiction", sa.String(12), nullable=False, index=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("location", sa.Text(), nullable=False),
            sa.Column("legal_review", sa.Boolean(), nullable=False),
            sa.Column("technical_review", sa.Boolean(), nullable=False),
            sa.Column("published_at", sa.String(40), nullable=False),
            sa.Column("registered_at", sa.String(40), nullable=False),
            sa.Column("retired_at", sa.String(40)),
            sa.Column("registered_epoch", sa.Float(), nullable=False),
            sa.Column("retired_epoch", sa.Float()),
        )
        self.uses = sa.Table(
            "casechain_view_device_uses", metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("device_id", sa.String(64), primary_key=True),
            sa.Column("jurisdiction", sa.String(12), nullable=False),
            sa.Column("captured_at", sa.String(40), nullable=False),
            sa.Column("reviewed", sa.Boolean()),  # None: not yet; False: not accurate
            sa.Column("informed_at", sa.String(40)),
            sa.Column("penalised", sa.Boolean(), nullable=False),
            # when the capture was made, its latest review, the party first told, the first
            # penalty decided on its case (epoch seconds)
            sa.Column("captured_epoch", sa.Float(), nullable=False),
            sa.Column("reviewed_epoch", sa.Float()),
            sa.Column("informed_epoch", sa.Float()),
            sa.Column("penalised_epoch", sa.Float()),
        )
        return [self.devices, self.uses]

    def apply(self, page: Page, records: Records) -> None:
        relevant = [r for _, r in records if r["type"] in _HANDLERS and (
            r["type"] != "supervision.clue_registered" or r["payload"].get("device_id"))]
        if not relevant:
            return
        before = seen_before(relevant)
        devices: Rows = {row["case_id"]: row for row in page.case_rows(self.devices, before)}
        uses: Rows = {(row["case_id"], row["device_id"]): row
                      for row in page.case_rows(self.uses, before)}
        stored_devices, stored_uses = list(devices), sorted({k[0] for k in uses})
        for r in relevant:
            _HANDLERS[r["type"]](devices, uses, r)
        page.replace_case_rows(self.devices, stored_devices, list(devices.values()))
        page.replace_case_rows(self.uses, stored_uses, list(uses.values()))


def _registered(devices: Rows, _: Rows, r: dict[str, Any]) -> None:
    p = r["payload"]
    devices[r["case_id"]] = {
        "case_id": r["case_id"], "device_id": p["device_id"], "jurisdiction": r["jurisdiction"],
        "kind": p["kind"], "location": p["location"], "legal_review": bool(p["legal_review"]),
        "technical_review": bool(p["technical_review"]), "published_at": p["published_at"],
        "registered_at": r["occurred_at"], "retired_at": None,
        "registered_epoch": _epoch(r["occurred_at"]), "retired_epoch": None}


def _retired(devices: Rows, _: Rows, r: dict[str, Any]) -> None:
    if r["case_id"] in devices:
        devices[r["case_id"]].update(retired_at=r["occurred_at"],
                                     retired_epoch=_epoch(r["occurred_at"]))


def _captured(_: Rows, uses: Rows, r: dict[str, Any]) -> None:
    p = r["payload"]
    uses[(r["case_id"], p["device_id"])] = {
        "case_id": r["case_id"], "device_id": p["device_id"], "jurisdiction": r["jurisdiction"],
        "captured_at": p["captured_at"], "reviewed": None, "informed_at": None,
        "penalised": False, "captured_epoch": _epoch(p["captured_at"]),
        "reviewed_epoch": None, "informed_epoch": None, "penalised_epoch": None}


def _reviewed(_: Rows, uses: Rows, r: dict[str, Any]) -> None:
    use = uses.get((r["case_id"], r["payload"]["device_id"]))
    if use is not None:
        use.update(reviewed=bool(r["payload"]["accurate"]),
                   reviewed_epoch=_epoch(r["occurred_at"]))


def _of_case(uses: Rows, case_id: str) -> list[dict[str, Any]]:
    return [use for (cid, _), use in uses.items() if cid == case_id]


def _informed(_: Rows, uses: Rows, r: dict[str, Any]) -> None:
    for use in _of_case(uses, r["case_id"]):
        use["informed_at"] = use["informed_at"] or r["occurred_at"]
        use["informed_epoch"] = _epoch(use["informed_at"])


def _decided(_: Rows, uses: Rows, r: dict[str, Any]) -> None:
    if r["payload"]["outcome"] == "penalty":
        at = _epoch(r["occurred_at"])
        for use in _of_case(uses, r["case_id"]):
            use["penalised"] = True
            use["penalised_epoch"] = min(at, use["penalised_epoch"] or at)


def _transferred(_: Rows, uses: Rows, r: dict[str, Any]) -> None:
    for use in _of_case(uses, r["case_id"]):
        use["jurisdiction"] = r["payload"]["to_jurisdiction"]


def _epoch(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


_HANDLERS: dict[str, Callable[[Rows, Rows, dict[str, Any]], None]] = {
    "device.registered": _registered,
    "device.retired": _retired,
    "supervision.clue_registered": _captured,
    "penalty.device_evidence_reviewed": _reviewed,
    "penalty.party_informed": _informed,
    "penalty.decided": _decided,
    "case.transferred": _transferred,
}
