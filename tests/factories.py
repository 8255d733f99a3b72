"""Envelopes for tests: valid by default, any field overridable."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

SUBJECT = {"id": "91330106MA27XXXX0A", "name": "杭州某某餐饮有限公司", "kind": "organisation"}
OFFICERS = [{"id": "O1001", "cert_no": "33010012345"}, {"id": "O1002", "cert_no": "33010012346"}]

#: A valid payload for every event type of docs/contract.md.
PAYLOADS: dict[str, dict[str, Any]] = {
    "approval.granted": {"subject": SUBJECT, "permit_no": "JY33010600012345",
                         "item_code": "330217001", "valid_until": "2029-12-31"},
    "approval.rejected": {"subject": SUBJECT, "item_code": "330217001", "reason": "材料不全"},
    "approval.pushed_to_supervision": {"to_org": "330106-市场监管"},
    "approval.revoked": {"reason": "以欺骗手段取得许可"},
    "supervision.clue_registered": {"subject": SUBJECT, "source": "hotline", "urgent": True,
                                    "description": "12345 投诉油烟扰民"},
    "supervision.dispatched": {"team": "西湖区综合执法队", "officers": OFFICERS},
    "supervision.acknowledged": {},
    "supervision.departed": {},
    "supervision.arrived": {},
    "supervision.inspected": {"joint": True, "departments": ["综合执法", "市场监管"],
                              "violation_found": True, "item_codes": ["330217001"],
                              "findings": "未按规定安装油烟净化设施"},
    "supervision.risk_graded": {"color": "yellow", "reason": "一年内两次投诉"},
    "supervision.correction_ordered": {"due_days": 15},
    "supervision.correction_verified": {"corrected": False},
    "supervision.closed": {"reason": "转立案"},
    "penalty.case_filed": {"item_code": "330217001", "subject": SUBJECT, "act_date": "2024-02-20",
                           "officers": OFFICERS, "procedure": "general"},
    "penalty.evidence_collected": {"kind": "audiovisual", "sha256": "ab" * 32,
                                   "collected_by": OFFICERS},
    "penalty.measure_imposed": {"kind": "seal", "items": ["油烟管道"]},
    "penalty.measure_released": {},
    "penalty.investigation_concluded": {"facts": "未安装油烟净化设施", "amount_involved": 0,
                                        "illegal_gains": 0, "circumstances": "general",
                                        "harm": "minor", "corrected": False,
                                        "major_or_complex": False},
    "penalty.legal_review_completed": {"reviewer": {"id": "R01", "qualification_no": "A2019"},
                                       "opinion": "approve"},
    "penalty.notice_served": {"proposed": [{"kind": "fine", "amount": 20000}],
                              "hearing_right": False},
    "penalty.statement_received": {},
    "penalty.statement_waived": {},
    "penalty.hearing_requested": {},
    "penalty.hearing_waived": {},
    "penalty.hearing_noticed": {"hearing_at": "2024-04-10T09:00:00+08:00"},
    "penalty.hearing_held": {},
    "penalty.collective_discussion_held": {"participants": ["局长", "副局长", "法规科长"]},
    "penalty.deadline_extended": {"days": 30, "approved_by": "局长"},
    "penalty.clock_suspended": {"reason": "expert_opinion"},
    "penalty.clock_resumed": {},
    "penalty.decided": {"outcome": "penalty", "penalties": [{"kind": "fine", "amount": 20000}],
                        "discretion_level": "normal"},
    "penalty.decision_served": {"method": "direct"},
    "penalty.paid": {"amount": 20000},
    "penalty.enforcement_applied": {"court": "西湖区人民法院"},
    "penalty.closed": {},
    "penalty.terminated": {"reason": "违法事实不能成立"},
    "referral.assessed": {"suspected_crime": True, "crime": "生产、销售伪劣产品罪", "amount": 60000},
    "referral.reported": {"officers": OFFICERS},
    "referral.approved": {"by": "局长"},
    "referral.rejected": {"by": "局长", "reason": "未达追诉标准"},
    "referral.transferred": {"police_org": "西湖区公安分局"},
    "referral.police_accepted": {},
    "referral.police_filed": {},
    "referral.police_declined": {"reason": "不构成犯罪"},
    "referral.reconsideration_requested": {},
    "referral.reconsideration_decided": {"result": "declined"},
    "referral.procuratorate_supervision_requested": {},
    "referral.materials_handed_over": {},
    "referral.returned": {"by": "西湖区公安分局", "reason": "情节显著轻微"},
    "evaluation.case_file_reviewed": {"score": 92, "issues": []},
    "evaluation.supervision_finding": {"body": "检察院", "finding": "程序合法", "severity": "info"},
    "evaluation.reconsideration_decided": {"result": "upheld"},
    "evaluation.litigation_decided": {"result": "驳回诉讼请求"},
    "evaluation.due_diligence_exemption": {"granted": True, "grounds": "已尽职"},
    "evaluation.credit_updated": {"change": "record"},
    "evaluation.completed": {},
    "case.transferred": {"to_jurisdiction": "330106002", "reason": "指定管辖"},
    "device.registered": {"device_id": "CAM-330106-0001", "kind": "camera",
                          "location": "西湖区文三路与学院路交叉口", "legal_review": True,
                          "technical_review": True,
                          "published_at": "2024-01-10T09:00:00+08:00"},
    "device.retired": {},
    "penalty.device_evidence_reviewed": {"device_id": "CAM-330106-0001", "accurate": True},
    "penalty.party_informed": {"channel": "短信"},
}


def envelope(event_type: str = "penalty.case_filed", case_id: str = "HZ-2024-0001",
             **overrides: Any) -> dict[str, Any]:
    """A valid envelope of the given type; keyword arguments replace fields."""
    value: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "case_id": case_id,
        "type": event_type,
        "occurred_at": "2024-03-01T09:30:00+08:00",
        "actor": {"id": "O1001", "role": "officer", "org": "330106", "cert_no": "33010012345"},
        "jurisdiction": "330106001",
        "payload": dict(PAYLOADS[event_type]) if event_type in PAYLOADS else {},
        "source": "mobile-app",
    }
    value.update(overrides)
    return value


def case_walk(case_id: str = "HZ-2024-0001") -> list[dict[str, Any]]:
    """A case through all four stages, one envelope a step."""
    steps = ["approval.granted", "approval.pushed_to_supervision", "supervision.clue_registered",
             "supervision.dispatched", "supervision.inspected", "supervision.closed",
             "penalty.case_filed", "penalty.evidence_collected",
             "penalty.investigation_concluded", "penalty.legal_review_completed",
             "penalty.notice_served", "penalty.statement_waived", "penalty.decided",
             "penalty.decision_served", "penalty.paid", "penalty.closed",
             "evaluation.case_file_reviewed", "evaluation.completed"]
    return [envelope(step, case_id, occurred_at=f"2024-03-{day:02d}T10:00:00+08:00")
            for day, step in enumerate(steps, start=1)]


def write_log(path: Path, lines: list[Any]) -> Path:
    """A JSON Lines file of envelopes (dicts) or of raw lines (strings), UTF-8."""
    path.write_text("".join((line if isinstance(line, str) else json.dumps(
        line, ensure_ascii=False)) + "\n" for line in lines), encoding="utf-8")
    return path


def told_in_utc_and_late_notice() -> list[dict[str, Any]]:
    """Cases told in UTC, some with fractional seconds: a seal imposed and released, and a
    hearing notified too late (a clock breached when it is set)."""
    steps = [("penalty.case_filed", "2025-03-01T02:00:00.250000Z"),
             ("penalty.evidence_collected", "2025-03-02T02:00:00Z"),
             ("penalty.measure_imposed", "2025-03-03T02:00:00.5Z"),
             ("penalty.measure_released", "2025-03-20T16:00:00Z"),
             ("penalty.investigation_concluded", "2025-06-20T02:00:00Z")]
    told = [envelope(kind, "HZ-UTC", occurred_at=at) for kind, at in steps]
    hearing: list[tuple[str, str, dict[str, Any]]] = [
        ("penalty.case_filed", "2025-04-01T02:00:00Z", {}),
        ("penalty.evidence_collected", "2025-04-02T02:00:00Z", {}),
        ("penalty.investigation_concluded", "2025-04-03T02:00:00Z", {}),
        ("penalty.legal_review_completed", "2025-04-04T02:00:00Z", {}),
        ("penalty.notice_served", "2025-04-07T02:00:00Z", {
            "proposed": [{"kind": "fine", "amount": 200000}], "hearing_right": True}),
        ("penalty.hearing_requested", "2025-04-08T02:00:00Z", {}),
        ("penalty.hearing_noticed", "2025-04-09T02:00:00Z", {
            "hearing_at": "2025-04-11T01:00:00Z"})]  # 2 days' notice: late when set
    return told + [envelope(kind, "HZ-LATE-NOTICE", occurred_at=at, **(
        {"payload": dict(PAYLOADS[kind], **body)} if body else {})) for kind, at, body in hearing]
