"""Payload models for every event type of docs/contract.md, with the required fields.

Payloads accept extra fields (a service may send more detail than the contract asks
for; it is stored as sent), but each required field must be present and well-formed.
Rules that need more than one field or the case's history (two officers, limitation,
notice before decision, ...) are checked by the rule book, not here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from casechain.domain.bounds import Amount, BusinessDate, Id, Instant, Name, Text

__all__ = ["EVENT_LABELS", "PAYLOADS", "PENALTY_LABELS", "STAGE_LABELS", "Officer", "Subject"]

#: A count of days the law or an order sets (at most ten years' worth).
Days = Annotated[int, Field(strict=True, ge=1, le=3650)]


class Payload(BaseModel):
    """Base of every payload: extra fields are kept as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Closed(BaseModel):
    """Base of nested objects whose fields are all known."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Subject(Closed):
    """当事人: a person or an organisation."""

    id: Id
    name: Name
    kind: Literal["person", "organisation"]
    credit_code: Id | None = None


class Officer(Closed):
    """执法人员: an officer named on a step, with the 执法证号 where the law needs it."""

    id: Id
    name: Name | None = None
    cert_no: Id | None = None


class Reviewer(Closed):
    """法制审核人员: a legal reviewer and the qualification number (法律职业资格)."""

    id: Id
    qualification_no: Id


#: The kinds of penalty of APL Art. 9 (`suspension`, the name before revision 2 for
#: 责令停产停业, is still read: logs recorded before stay valid).
PenaltyKind = Literal["warning", "public_criticism", "fine", "confiscation",
                      "confiscation_of_property", "permit_suspension", "qualification_downgrade",
                      "revocation", "production_restriction", "closure",
                      "employment_restriction", "suspension"]
#: The grounds of a lighter or no penalty, APL Arts. 30-33.
MitigationGround = Literal["minor_corrected", "first_minor", "no_fault", "minor_14_18", "mental",
                           "coerced", "reduced_harm", "confessed", "assisted", "other_law"]


#: zh-CN names of the penalty kinds (APL Art. 9).
PENALTY_LABELS: dict[str, str] = {
    "warning": "警告", "public_criticism": "通报批评", "fine": "罚款", "confiscation": "没收违法所得",
    "confiscation_of_property": "没收非法财物", "permit_suspension": "暂扣许可证件",
    "qualification_downgrade": "降低资质等级", "revocation": "吊销许可证件",
    "production_restriction": "限制开展生产经营活动", "closure": "责令停产停业、责令关闭",
    "employment_restriction": "限制从业", "suspension": "责令停产停业"}


class ProposedPenalty(Closed):
    """A penalty proposed in the notice (告知) or imposed in the decision."""

    kind: PenaltyKind
    amount: Amount | None = None


# Approval 审批
class ApprovalGranted(Payload):
    """准予许可: a permit granted to a subject for a catalogue item, valid until a date."""

    subject: Subject
    permit_no: Id
    item_code: Id
    valid_until: BusinessDate


class ApprovalRejected(Payload):
    """不予许可: an application refused, with the reason."""

    subject: Subject
    item_code: Id
    reason: Text


class ApprovalPushedToSupervision(Payload):
    """推送监管（审管衔接）: the permit handed to the body that supervises it."""

    to_org: Name


class ApprovalRevoked(Payload):
    """撤销许可: a permit revoked, with the reason."""

    reason: Text


# Supervision 监管
class ClueRegistered(Payload):
    """线索登记: a clue about a subject; `urgent` starts the 1315 response clocks. A device's capture names
    `device_id` and `captured_at` (APL Art. 41)."""

    subject: Subject
    source: Literal["complaint", "patrol", "ai_camera", "drone", "hotline", "transfer",
                    "inspection_plan"]
    urgent: bool
    description: Text
    #: 非现场执法 (APL Art. 41): the device that captured the act and when.
    device_id: Id | None = None
    captured_at: Instant | None = None

    @model_validator(mode="after")
    def _capture_has_its_instant(self) -> ClueRegistered:
        if (self.device_id is None) != (self.captured_at is None):
            raise ValueError("device_id and captured_at go together (a device's capture)")
        return self


class Dispatched(Payload):
    """派遣: officers of a team sent to the clue."""

    team: Name
    officers: list[Officer] = Field(min_length=1)


class Empty(Payload):
    """A step whose meaning is its type and time alone."""


class Inspected(Payload):
    """检查: an inspection (joint or not) and whether it found a violation of the listed items."""

    joint: bool
    departments: list[Name]
    violation_found: bool
    item_codes: list[Id]
    findings: str


class RiskGraded(Payload):
    """风险分级: the subject's risk colour."""

    color: Literal["red", "yellow", "green"]
    reason: Text


class CorrectionOrdered(Payload):
    """责令整改: a correction ordered within `due_days` days."""

    due_days: Days


class CorrectionVerified(Payload):
    """整改核查: whether the correction was made."""

    corrected: bool


class WithReason(Payload):
    """A step that records its reason (closing, terminating, a police decline)."""

    reason: Text


# Penalty 处罚
class CaseFiled(Payload):
    """立案 (APL Art. 54): the item, the subject, the act's dates, the officers and the procedure; the
    limitation of Art. 36 runs from `act_end_date` (else `act_date`) to `discovered_at`."""

    item_code: Id
    subject: Subject
    act_date: BusinessDate
    officers: list[Officer]
    procedure: Literal["general", "summary"]
    #: When a continuing act ended (APL Art. 36: the period runs from its end).
    act_end_date: BusinessDate | None = None
    #: When the act was first discovered, if before the case's first event (Art. 36).
    discovered_at: Instant | BusinessDate | None = None

    @model_validator(mode="after")
    def _ends_after_it_began(self) -> CaseFiled:
        if self.act_end_date is not None and self.act_end_date < self.act_date:
            raise ValueError(f"act_end_date {self.act_end_date} is before act_date "
                             f"{self.act_date}")
        return self


class EvidenceCollected(Payload):
    """调查取证: one piece of evidence by its SHA-256 (the document stays in the evidence store)."""

    kind: Literal["documentary", "physical", "audiovisual", "electronic", "witness", "statement",
                  "expert_opinion", "inspection_record"]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    collected_by: list[Officer]


class MeasureImposed(Payload):
    """采取强制措施 (查封/扣押, 行政强制法 Art. 25): sealed or seized items."""

    kind: Literal["seal", "seize"]
    items: list[Text] | Text


class InvestigationConcluded(Payload):
    """调查终结: facts, amounts, circumstances and harm; the measures the criminal thresholds read
    (`sales_amount`, `unsold_value`, `turnover`, `quantities`, `conduct`)."""

    facts: Text
    amount_involved: Amount
    illegal_gains: Amount
    circumstances: Literal["minor", "general", "serious"]
    harm: Literal["none", "minor", "serious"]
    corrected: bool
    major_or_complex: bool
    #: 涉及重大公共利益 (APL Art. 58 (1)): the decision needs a legal review.
    major_public_interest: bool = False
    # The measures the criminal thresholds may read (optional).
    sales_amount: Amount | None = None
    unsold_value: Amount | None = None
    turnover: Amount | None = None
    quantities: dict[Id, Amount] | None = None
    conduct: list[Id] | None = None


class LegalReviewCompleted(Payload):
    """法制审核 (APL Art. 58): the reviewer, with the 法律职业资格 number, and the opinion."""

    reviewer: Reviewer
    opinion: Literal["approve", "revise", "reject"]


class NoticeServed(Payload):
    """处罚告知 (APL Arts. 44, 63): the proposed penalties and whether the party may ask for a hearing."""

    proposed: list[ProposedPenalty] = Field(min_length=1)
    hearing_right: bool


class HearingNoticed(Payload):
    """听证通知 (APL Art. 64): when the hearing will be held."""

    hearing_at: Instant


class CollectiveDiscussionHeld(Payload):
    """集体讨论 (APL Art. 57 para 2): who took part."""

    participants: list[Name] = Field(min_length=1)


class DeadlineExtended(Payload):
    """延长办案期限 (APL Art. 60): days added to the decision deadline, or to a seal or seizure."""

    days: Days
    approved_by: Name
    # Beyond the contract (optional): which deadline. Its table extends a seal or seizure
    # by 30 days "if extended" but names no event for it; this is the closest one.
    deadline: Literal["decision", "measure"] = "decision"
    # The measure_imposed event's seq.
    measure_seq: Annotated[int, Field(strict=True, ge=1, le=10**6)] | None = None


class ClockSuspended(Payload):
    """中止计时: a period that does not count towards the deadline (hearing, expert opinion, ...)."""

    reason: Literal["hearing", "expert_opinion", "inspection_test", "public_notice", "other"]


class Decided(Payload):
    """作出决定 (APL Art. 57): penalty or no penalty, the penalties, the discretion level and, for a
    lighter or no penalty, the grounds of Arts. 30-33."""

    outcome: Literal["penalty", "no_penalty"]
    penalties: list[ProposedPenalty]
    discretion_level: Literal["exempted", "mitigated", "light", "normal", "heavy"]
    #: Arts. 30-33; a free text (as recorded before revision 2) is still read.
    mitigation_grounds: list[MitigationGround] | Text | None = None
    #: 责令退赔: illegal gains to be refunded, not confiscated (Art. 28 para 2).
    refund_ordered: bool = False


class DecisionServed(Payload):
    """送达决定书 (APL Art. 61): how the decision was served."""

    method: Name


class Paid(Payload):
    """缴纳罚款 (APL Art. 67): the amount paid."""

    amount: Amount


class EnforcementApplied(Payload):
    """申请强制执行 (APL Art. 72): the court applied to."""

    court: Name


# Referral 行刑衔接
class ReferralAssessed(Payload):
    """涉刑评估: whether the case is suspected of a crime, which, and the amount."""

    suspected_crime: bool
    crime: Name | None = None
    amount: Amount | None = None


class ReferralReported(Payload):
    """移送报告 (Decree 310 Art. 5): the officers reporting the transfer."""

    officers: list[Officer]


class ReferralApproved(Payload):
    """批准移送 (Decree 310 Art. 5): who approved."""

    by: Name


class ReferralRejected(Payload):
    """不予移送: who decided not to transfer, and why."""

    by: Name
    reason: Text


class ReferralTransferred(Payload):
    """移送公安 (Decree 310 Art. 6): the police organ the case went to."""

    police_org: Name


class PoliceAccepted(Payload):
    """Decree 310 Art. 8: 3 days to decide on filing; 7 when a clue needs verification, 30
    with the superior's approval."""

    needs_verification: bool = False
    extended_by_superior: bool = False


class PoliceReconsiderationDecided(Payload):
    """Decree 310 Art. 9: the police's decision on the agency's request for reconsideration."""

    result: Literal["filed", "declined"]


class ReferralReturned(Payload):
    """反向移送: the police returned the case for administrative penalty."""

    by: Name
    reason: Text


# Evaluation 监督评价
class CaseFileReviewed(Payload):
    """案卷评查: the score and the issues found."""

    score: Annotated[int, Field(ge=0, le=100)]
    issues: list[str]


class SupervisionFinding(Payload):
    """监督发现: a finding of a supervising body and its severity."""

    body: Name
    finding: Text
    severity: Name


class ReconsiderationDecided(Payload):
    """行政复议决定: the result of an administrative reconsideration."""

    result: Literal["upheld", "changed", "revoked", "confirmed_illegal"]
    # Beyond the contract (optional): when the reconsideration was applied for. The
    # surcharge on a late fine does not accrue from then until this decision (APL Art. 73);
    # the contract names no event that starts a reconsideration.
    applied_at: Instant | None = None


class LitigationDecided(Payload):
    """行政诉讼判决: the result of an administrative suit."""

    result: Name
    applied_at: Instant | None = None  # when the suit was filed (as above)


class DueDiligenceExemption(Payload):
    """尽职免责: whether the officers are exempted, and the grounds."""

    granted: bool
    grounds: Text


class CreditUpdated(Payload):
    """信用修复/记录: the subject's credit record changed."""

    change: Literal["record", "repair"]


# Device 非现场执法 (the stream of one device: case_id is the device id)
class DeviceRegistered(Payload):
    """APL Art. 41 para 1: a device's legal and technical review and its published place."""

    device_id: Id
    kind: Literal["camera", "drone", "sensor"]
    location: Name
    legal_review: bool
    technical_review: bool
    published_at: Instant


class DeviceEvidenceReviewed(Payload):
    """APL Art. 41 para 2: the capture reviewed — accurate, complete, usable as evidence."""

    device_id: Id
    accurate: bool


class PartyInformed(Payload):
    """APL Art. 41 para 3: the party told of the act the device recorded."""

    channel: Name


# Case 案件 (any stage)
class CaseTransferred(Payload):
    """移送管辖 / 指定管辖 (APL Arts. 25-26): the case moves to another division."""

    to_jurisdiction: Annotated[str, Field(pattern=r"^[1-9][0-9]{1,11}$")]
    reason: Text


#: Every event type of docs/contract.md, `stage.name`, with its payload model.
PAYLOADS: dict[str, type[Payload]] = {
    "approval.granted": ApprovalGranted,
    "approval.rejected": ApprovalRejected,
    "approval.pushed_to_supervision": ApprovalPushedToSupervision,
    "approval.revoked": ApprovalRevoked,
    "supervision.clue_registered": ClueRegistered,
    "supervision.dispatched": Dispatched,
    "supervision.acknowledged": Empty,
    "supervision.departed": Empty,
    "supervision.arrived": Empty,
    "supervision.inspected": Inspected,
    "supervision.risk_graded": RiskGraded,
    "supervision.correction_ordered": CorrectionOrdered,
    "supervision.correction_verified": CorrectionVerified,
    "supervision.closed": WithReason,
    "penalty.case_filed": CaseFiled,
    "penalty.evidence_collected": EvidenceCollected,
    "penalty.measure_imposed": MeasureImposed,
    "penalty.measure_released": Empty,
    "penalty.investigation_concluded": InvestigationConcluded,
    "penalty.legal_review_completed": LegalReviewCompleted,
    "penalty.notice_served": NoticeServed,
    "penalty.statement_received": Empty,
    "penalty.statement_waived": Empty,
    "penalty.hearing_requested": Empty,
    "penalty.hearing_waived": Empty,
    "penalty.hearing_noticed": HearingNoticed,
    "penalty.hearing_held": Empty,
    "penalty.collective_discussion_held": CollectiveDiscussionHeld,
    "penalty.deadline_extended": DeadlineExtended,
    "penalty.clock_suspended": ClockSuspended,
    "penalty.clock_resumed": Empty,
    "penalty.decided": Decided,
    "penalty.decision_served": DecisionServed,
    "penalty.paid": Paid,
    "penalty.device_evidence_reviewed": DeviceEvidenceReviewed,
    "penalty.party_informed": PartyInformed,
    "penalty.enforcement_applied": EnforcementApplied,
    "penalty.closed": Empty,
    "penalty.terminated": WithReason,
    "referral.assessed": ReferralAssessed,
    "referral.reported": ReferralReported,
    "referral.approved": ReferralApproved,
    "referral.rejected": ReferralRejected,
    "referral.transferred": ReferralTransferred,
    "referral.police_accepted": PoliceAccepted,
    "referral.police_filed": Empty,
    "referral.police_declined": WithReason,
    "referral.reconsideration_requested": Empty,
    "referral.reconsideration_decided": PoliceReconsiderationDecided,
    "referral.procuratorate_supervision_requested": Empty,
    "referral.materials_handed_over": Empty,
    "referral.returned": ReferralReturned,
    "evaluation.case_file_reviewed": CaseFileReviewed,
    "evaluation.supervision_finding": SupervisionFinding,
    "evaluation.reconsideration_decided": ReconsiderationDecided,
    "evaluation.litigation_decided": LitigationDecided,
    "evaluation.due_diligence_exemption": DueDiligenceExemption,
    "evaluation.credit_updated": CreditUpdated,
    "evaluation.completed": Empty,
    "case.transferred": CaseTransferred,
    "device.registered": DeviceRegistered,
    "device.retired": Empty,
}

#: zh-CN labels of the stages, for people.
STAGE_LABELS: dict[str, str] = {
    "approval": "审批",
    "supervision": "监管",
    "penalty": "处罚",
    "referral": "行刑衔接",
    "evaluation": "监督评价",
    "case": "案件",
    "device": "非现场执法设备",
}

#: zh-CN labels of the event types, for people.
EVENT_LABELS: dict[str, str] = {
    "approval.granted": "准予许可",
    "approval.rejected": "不予许可",
    "approval.pushed_to_supervision": "推送监管（审管衔接）",
    "approval.revoked": "撤销许可",
    "supervision.clue_registered": "线索登记",
    "supervision.dispatched": "派遣",
    "supervision.acknowledged": "接收",
    "supervision.departed": "出发",
    "supervision.arrived": "到达现场",
    "supervision.inspected": "检查",
    "supervision.risk_graded": "风险分级",
    "supervision.correction_ordered": "责令整改",
    "supervision.correction_verified": "整改核查",
    "supervision.closed": "监管办结",
    "penalty.case_filed": "立案",
    "penalty.evidence_collected": "调查取证",
    "penalty.measure_imposed": "采取强制措施",
    "penalty.measure_released": "解除强制措施",
    "penalty.investigation_concluded": "调查终结",
    "penalty.legal_review_completed": "法制审核",
    "penalty.notice_served": "处罚告知",
    "penalty.statement_received": "陈述申辩",
    "penalty.statement_waived": "放弃陈述申辩",
    "penalty.hearing_requested": "申请听证",
    "penalty.hearing_waived": "放弃听证",
    "penalty.hearing_noticed": "听证通知",
    "penalty.hearing_held": "举行听证",
    "penalty.collective_discussion_held": "集体讨论",
    "penalty.deadline_extended": "延长办案期限",
    "penalty.clock_suspended": "中止计时",
    "penalty.clock_resumed": "恢复计时",
    "penalty.decided": "作出决定",
    "penalty.decision_served": "送达决定书",
    "penalty.paid": "缴纳罚款",
    "penalty.enforcement_applied": "申请强制执行",
    "penalty.closed": "结案",
    "penalty.terminated": "终止调查",
    "referral.assessed": "涉刑评估",
    "referral.reported": "移送报告",
    "referral.approved": "批准移送",
    "referral.rejected": "不予移送",
    "referral.transferred": "移送公安",
    "referral.police_accepted": "公安受理",
    "referral.police_filed": "公安立案",
    "referral.police_declined": "公安不予立案",
    "referral.reconsideration_requested": "提请复议",
    "referral.reconsideration_decided": "公安复议决定",
    "referral.procuratorate_supervision_requested": "提请检察监督",
    "referral.materials_handed_over": "移交涉案物品",
    "referral.returned": "反向移送",
    "evaluation.case_file_reviewed": "案卷评查",
    "evaluation.supervision_finding": "监督发现",
    "evaluation.reconsideration_decided": "行政复议决定",
    "evaluation.litigation_decided": "行政诉讼判决",
    "evaluation.due_diligence_exemption": "尽职免责",
    "evaluation.credit_updated": "信用修复/记录",
    "evaluation.completed": "评价完成",
    "case.transferred": "移送管辖",
    "device.registered": "设备登记",
    "device.retired": "设备停用",
    "penalty.device_evidence_reviewed": "设备记录审核",
    "penalty.party_informed": "告知当事人",
}
