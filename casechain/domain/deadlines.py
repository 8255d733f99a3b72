"""Statutory deadlines evaluated as of an instant, with their colour (三色预警).

A running deadline (a "clock") starts at a triggering event and stops at the event that
meets it. Evaluated `as_of` an instant it is green while more than 20% of its period remains,
yellow with 20% or less, red once overdue (at or after its due instant). Suspended periods
(`penalty.clock_suspended` … `clock_resumed`) do not count: they push the due instant back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["ALERT_LABELS", "INFO_CODES", "Clock", "Evaluation", "evaluate", "part_label", "yuan"]

#: 国务院令第310号 (Decree 310), as people name it.
_DECREE_310 = "《行政执法机关移送涉嫌犯罪案件的规定》"

#: code → (zh-CN label, rule, legal source): what an alert says to people, in zh-CN.
ALERT_LABELS: dict[str, tuple[str, str, str]] = {
    "DECISION_OVERDUE": ("办案超期", "自立案之日起 90 日内作出处罚决定（经批准延长的另计，中止期间不计）",
                         "《行政处罚法》第六十条"),
    "SERVICE_OVERDUE": ("送达超期", "处罚决定书在作出后 7 个工作日内送达当事人",
                        "《行政处罚法》第六十一条、第八十五条"),
    "PAYMENT_OVERDUE": ("缴款逾期", "自收到处罚决定书之日起 15 日内缴纳罚款；逾期每日按罚款数额的 3% "
                        "加处罚款，加处数额不超过罚款数额", "《行政处罚法》第六十七条、第七十二条"),
    "HEARING_NOTICE_LATE": ("听证通知过迟", "在举行听证的 7 个工作日前通知当事人",
                            "《行政处罚法》第六十四条、第八十五条"),
    "MEASURE_OVERDUE": ("强制措施超期", "查封、扣押的期限不得超过 30 日", "《行政强制法》第二十五条"),
    "RESPONSE_1315": ("1315响应超时", "紧急线索 1 分钟内响应、3 分钟内出发、15 分钟内到场",
                      "杭州市 1315 快速响应标准"),
    "REFERRAL_MISSING": ("应移未移", "达到刑事追诉标准的案件，应在 3 日内提出移送报告",
                         _DECREE_310 + "第三条"),
    "PENALTY_INSTEAD_OF_REFERRAL": ("以罚代刑", "达到刑事追诉标准的，不得以行政处罚代替移送",
                                    _DECREE_310 + "第十一条"),
    "REFERRAL_DECISION_OVERDUE": ("移送审批超期", "机关负责人自接到移送报告之日起 3 日内"
                                  "作出批准或不批准移送的决定",
                                  _DECREE_310 + "第五条"),
    "REFERRAL_TRANSFER_OVERDUE": ("移送超期", "批准移送的，应在 24 小时内向公安机关移送",
                                  _DECREE_310 + "第五条"),
    "HANDOVER_OVERDUE": ("涉案物品移交超期", "公安机关立案后 3 日内移交涉案物品及有关材料",
                         _DECREE_310 + "第十二条"),
    "POLICE_FILING_OVERDUE": ("公安立案审查超期", "公安机关自接受移送之日起 3 日内作出立案或不予立案的决定"
                              "（需核查线索的 7 日，经上级批准的 30 日）", _DECREE_310 + "第八条"),
    "RECONSIDERATION_WINDOW": ("不予立案复议期", "公安机关不予立案的，可在 3 日内提请复议，"
                               "或建议人民检察院进行立案监督", _DECREE_310 + "第九条"),
    "POLICE_RECONSIDERATION_OVERDUE": ("公安复议超期", "公安机关自收到复议申请之日起 3 日内作出复议决定",
                                       _DECREE_310 + "第九条"),
    "DEVICE_NOTICE_OVERDUE": ("非现场执法告知超期", "电子技术监控设备记录违法事实后 5 个工作日内告知当事人",
                              "《行政处罚法》第四十一条第三款"),
    "FIRST_VIOLATION_FINED": ("首违处罚", "初次违法且危害后果轻微并及时改正、列入首违不罚清单的，"
                              "可以不予行政处罚",
                              "《行政处罚法》第三十三条第一款"),
    "DOUBLE_FINE": ("重复罚款", "对当事人的同一个违法行为，不得给予两次以上罚款（一事不再罚）",
                    "《行政处罚法》第二十九条"),
    "REPEATED_INSPECTION": ("重复检查", "未发现问题的，不得对同一对象反复单独检查（综合查一次）",
                            "《浙江省综合行政执法条例》第十三条"),
}

#: What a clock's part names, for people: the 1315 steps; a seal or seizure is its event's seq.
PART_LABELS: dict[str, str] = {"acknowledged": "响应", "departed": "出发", "arrived": "到场"}


def part_label(part: str) -> str:
    """A clock's part in zh-CN: "出发", or "第 12 条记录" for a measure's event."""
    if part.isdigit():
        return f"第 {int(part)} 条记录"
    return PART_LABELS.get(part, part)


def yuan(amount: float) -> str:
    """An amount of money for people: 1,568,600 元, or 1,568.50 元."""
    shown = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{shown} 元"


#: Codes that inform rather than warn: shown while their window is open, then gone.
INFO_CODES = frozenset({"RECONSIDERATION_WINDOW"})


@dataclass(frozen=True)
class Clock:
    """A deadline of one case: when it started, when it is due, what stopped it."""

    case_id: str
    code: str
    part: str
    jurisdiction: str
    started_at: datetime
    base_due: datetime
    suspended_seconds: float = 0.0
    suspended_since: datetime | None = None
    stopped_at: datetime | None = None
    fine: float = 0.0
    instant: bool = False  # breached when it was set (e.g. a hearing notified too late)
    note: str | None = None  # e.g. a due date counted without the year's holiday data
    # PAYMENT: periods of reconsideration or litigation, in which no surcharge accrues
    surcharge_pauses: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """A clock as of an instant."""

    clock: Clock
    due_at: datetime
    colour: str
    remaining_seconds: float
    surcharge: float

    def as_alert(self) -> dict[str, Any]:
        """The alert object of docs/contract.md: code, case_id, severity, due_at, detail."""
        label, rule, source = ALERT_LABELS[self.clock.code]
        part = f"（{part_label(self.clock.part)}）" if self.clock.part else ""
        detail = f"{label}{part}：{rule}（{source}）"
        if self.clock.note:
            detail += f"［{self.clock.note}］"
        alert: dict[str, Any] = {
            "code": self.clock.code, "case_id": self.clock.case_id,
            "severity": self.colour, "due_at": self.due_at.isoformat(),
            "jurisdiction": self.clock.jurisdiction, "detail": detail,
            "started_at": self.clock.started_at.isoformat()}
        if self.clock.part:
            alert["step"] = self.clock.part
        if self.clock.code == "PAYMENT_OVERDUE":
            alert["surcharge"] = self.surcharge
        return alert


def evaluate(clock: Clock, as_of: datetime, surcharge_per_day: float = 0.03) -> Evaluation | None:
    """The clock's state as of an instant; None when it had stopped by then or had not yet
    started."""
    if as_of < clock.started_at:
        return None
    if clock.stopped_at is not None and clock.stopped_at <= as_of and not clock.instant:
        return None
    suspended = clock.suspended_seconds
    if clock.suspended_since is not None and clock.suspended_since <= as_of:
        suspended += (as_of - clock.suspended_since).total_seconds()
    due = clock.base_due + timedelta(seconds=suspended)
    period = (clock.base_due - clock.started_at).total_seconds()
    remaining = (due - as_of).total_seconds()
    if clock.code in INFO_CODES:
        if remaining <= 0:
            return None
        colour = "info"
    elif clock.instant or remaining <= 0:
        colour = "red"
    elif remaining <= 0.2 * period:
        colour = "yellow"
    else:
        colour = "green"
    surcharge = 0.0
    if clock.code == "PAYMENT_OVERDUE" and remaining <= 0:
        # 3% for each day begun since the due instant, not counting reconsideration or
        # litigation (APL Art. 73), at most the fine (Art. 72).
        accruing = -remaining - sum(
            max(0.0, (min(until, as_of) - max(since, due)).total_seconds())
            for since, until in clock.surcharge_pauses)
        days = int(accruing // 86400) + 1 if accruing > 0 else 0
        surcharge = round(min(clock.fine, clock.fine * surcharge_per_day * days), 2)
    return Evaluation(clock, due, colour, remaining, surcharge)
