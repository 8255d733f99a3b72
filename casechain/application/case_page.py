"""The case page a supervisor acts on: the audit trail plus what the supervision views say of
the case, from the same rows the listings read.

`case_page` adds to `queries.case_view`: the case's alerts as of an instant (its running
deadlines and cross-case findings, as `alerts` lists them), its row of the referral view
(行刑衔接, the very row `referrals` lists, so the two never disagree), the amounts and fines
of its investigation and decisions, the officers with their 执法证号, and whether its hash
chain recomputes (each event's hash over its fields and the previous hash).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from casechain.application.case_log import CaseLog
from casechain.application.queries import (
    case_file,
    case_view,
    clock_row_alert,
    due_order,
    span_row_alert,
)
from casechain.domain.hashing import GENESIS_HASH, CanonicalJSONError, record_hash
from casechain.projections.clocks import ALERT_CODES
from casechain.projections.machinery import ProjectionRunner
from casechain.projections.views import views_of

__all__ = ["case_page", "case_subject_id", "chain_check"]


def case_page(case_log: CaseLog, runner: ProjectionRunner, case_id: str, scope: str,
              moment: datetime) -> dict[str, Any]:
    """The case view with its alerts, referral row, amounts, officers and chain check as of
    `moment`. `CaseNotFound` if the case has no event."""
    records = case_log.case_records(case_id)  # read once: the trail and the chain check
    last = max(r["position"] for r in records)
    # Where the three views stand and where the log ends, in one round trip: the timeline
    # and the clocks caught up to the case's last event, the findings as `_findings_ready`.
    known, head = runner.positions(["timeline", "deadlines", "crosscase"])
    view = case_view(case_log, runner, case_id, scope, records, known)
    alerts, referral = _supervision_of(runner, case_id, moment, last, known, head)
    view.update(alerts=alerts, referral=referral, amounts=_amounts(view["timeline"]),
                officers=_officers(view["timeline"]), chain=chain_check(records),
                as_of=moment.isoformat())
    return view


def case_subject_id(case_log: CaseLog, case_id: str) -> str | None:
    """The id of the case's subject (unmasked: for the server to find its register), or None
    when the case names none. `CaseNotFound` if the case has no event."""
    subject = case_file(case_id, case_log.case_records(case_id)).subject
    return str(subject["id"]) if subject else None


def _supervision_of(runner: ProjectionRunner, case_id: str, moment: datetime, last: int,
                    known: Mapping[str, int], head: int
                    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The case's alerts (yellow, red, info) and its referral row as of `moment`. Its clocks
    come from its own events alone (up to `last`, its last event's position); its findings
    compare it with its subject's other cases (`_findings_ready`). `known`: the views'
    positions, read with the log's `head`."""
    runner.ready(["deadlines"], last, known)
    _findings_ready(runner, case_id, known["crosscase"], head)
    views = views_of(runner)
    clocks, spans = views.deadlines.table, views.crosscase.findings
    at = moment.timestamp()
    with runner.store.read() as conn:
        clock_rows = conn.execute(sa.select(clocks).where(
            clocks.c.case_id == case_id, clocks.c.code.in_(ALERT_CODES))).all()
        span_rows = conn.execute(sa.select(spans).where(
            spans.c.case_id == case_id, spans.c.start_epoch <= at,
            sa.or_(spans.c.stop_epoch.is_(None), spans.c.stop_epoch > at))).all()
    referral = next((orjson.loads(row.body) for row in span_rows if row.kind == "referral"),
                    None)
    alerts = [alert for alert in (*(clock_row_alert(row, moment) for row in clock_rows),
                                  *(span_row_alert(row, moment) for row in span_rows
                                    if row.kind != "referral"))
              if alert is not None and alert["severity"] != "green"]
    return sorted(alerts, key=due_order), referral


def _findings_ready(runner: ProjectionRunner, case_id: str, at: int, head: int) -> None:
    """The cross-case view holding, for this case, everything recorded before the read (the
    log's `head` as read with the view's position `at`): when the events it has not folded
    yet are few (a page at most) and none concerns the case or its subject's other cases, it
    does already — the read does not wait for other cases' catch-up; otherwise it is caught
    up to that head."""
    if at >= head:
        return
    if head - at <= runner.page:
        tail = runner.source.records_after(at, runner.page, stop=head)
        with runner.store.read() as conn:
            if not views_of(runner).crosscase.concerns(conn, tail, case_id):
                return
    runner.catch_up(["crosscase"], until=head)


def _amounts(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """涉案金额, 违法所得 (the last investigation's), the fines decided and paid."""
    amounts: dict[str, Any] = {"amount_involved": None, "illegal_gains": None,
                               "fines": [], "paid": 0.0}
    for entry in timeline:
        payload = entry.get("payload") or {}
        if entry["type"] == "penalty.investigation_concluded":
            amounts["amount_involved"] = payload.get("amount_involved")
            amounts["illegal_gains"] = payload.get("illegal_gains")
        elif entry["type"] == "penalty.decided":
            amounts["fines"] += [{"kind": p.get("kind"), "amount": p.get("amount"),
                                  "decided_at": entry["occurred_at"]}
                                 for p in payload.get("penalties") or []]
        elif entry["type"] == "penalty.paid":
            amounts["paid"] += float(payload.get("amount") or 0)
    return amounts


def _officers(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every officer named on the case (actor or in a payload's officers), with the 执法证号
    and the steps they took, in the order they first appear."""
    found: dict[str, dict[str, Any]] = {}

    def note(officer: dict[str, Any], step: str) -> None:
        oid = str(officer.get("id") or "")
        if not oid:
            return
        entry = found.setdefault(oid, {"id": oid, "name": officer.get("name"),
                                       "cert_no": officer.get("cert_no"), "steps": []})
        entry["cert_no"] = entry["cert_no"] or officer.get("cert_no")
        if step not in entry["steps"]:
            entry["steps"].append(step)

    for entry in timeline:
        step = entry.get("label") or entry["type"]
        if entry["actor"].get("role") == "officer":
            note(entry["actor"], step)
        payload = entry.get("payload") or {}
        for officer in [*payload.get("officers", []), *payload.get("collected_by", [])]:
            if isinstance(officer, dict):
                note(officer, step)
    return list(found.values())


def chain_check(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the case's hash chain recomputes: seq 1, 2, 3 ... each `prev_hash` the hash
    before it (64 zeros first), each `hash` the SHA-256 of its canonical fields. The first
    broken link is named. (The Merkle ledger over all cases is `casechain verify`.)"""
    last_hash, problem = GENESIS_HASH, None
    for expected_seq, stored in enumerate(records, start=1):
        record = {k: v for k, v in stored.items() if k not in ("hash", "position")}
        where = f"seq {stored.get('seq')}"
        if stored.get("seq") != expected_seq:
            problem = f"{where}: expected seq {expected_seq} (an event removed or inserted)"
        elif record.get("prev_hash") != last_hash:
            problem = f"{where}: prev_hash does not match the previous event's hash"
        else:
            try:
                digest = record_hash(record)[0]
            except CanonicalJSONError as exc:
                digest, problem = None, f"{where}: cannot be canonicalised ({exc})"
            if digest is not None and digest != stored.get("hash"):
                problem = f"{where}: its fields no longer hash to its stored hash (edited)"
        if problem:
            break
        last_hash = str(stored.get("hash"))
    return {"verified": problem is None, "events": len(records), "head_hash": last_hash,
            "problem": problem}
