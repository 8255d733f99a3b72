"""A realistic synthetic log: `casechain simulate`.

The nine teams in the proportions of a merged city bureau, items from the rule pack, subjects
that reoffend, cases that start at approval, at supervision (urgent clues with their 1315
timings, joint and separate inspections, correction orders) or at penalty; hearings, extended
deadlines, suspended clocks, measures, reconsiderations, late payments; a few percent of
penalty cases reaching a prosecution threshold, most referred on time, some late, some not at
all. Every event is valid under the pack (the suite imports simulated logs with the rules on
and expects no rejection). Deterministic for a seed; streams, so memory does not grow with the
number of cases.
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Generator, Iterator
from datetime import date, datetime, timedelta
from typing import Any, Literal

from casechain.application.synthetic import in_arrival_order
from casechain.domain.calendar import SHANGHAI, WorkCalendar
from casechain.domain.rulepack import Condition, Facts, General, Item, RulePack, resolve_range

__all__ = ["TEAM_SHARES", "simulate"]

#: Share of cases per team (综合执法 carries most of a merged bureau's street-level work).
TEAM_SHARES = {"综合执法": 0.42, "市场监管": 0.2, "生态环境": 0.08, "交通运输": 0.08,
               "文化市场": 0.05, "农业农村": 0.05, "应急管理": 0.05, "卫生健康": 0.04,
               "自然资源": 0.03}
_STREETS = 20
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_DEVICES = 4  # cameras and drones per district (the last one a drone)
_SOURCES = ("complaint", "patrol", "ai_camera", "drone", "hotline", "inspection_plan")


class _Case:
    """One case being written: its clock, actor and envelopes."""

    def __init__(self, rng: random.Random, case_id: str, street: str, opened: datetime,
                 officers: list[dict[str, str]]) -> None:
        self.rng, self.case_id, self.street, self.now = rng, case_id, street, opened
        self.officers = officers
        self.actor = {"id": officers[0]["id"], "role": "officer", "org": street[:6],
                      "cert_no": officers[0]["cert_no"]}
        self.capture: str | None = None  # the device whose capture the case rests on

    def after(self, days: float = 0, minutes: float = 0) -> datetime:
        self.now += timedelta(days=days, minutes=minutes + self.rng.randint(1, 59))
        return self.now

    def event(self, kind: str, payload: dict[str, Any], when: datetime | None = None,
              role: str | None = None) -> dict[str, Any]:
        actor = self.actor if role is None else {"id": f"{role[0].upper()}{self.street[-3:]}",
                                                 "role": role, "org": self.street[:6]}
        return {"event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "case_id": self.case_id, "type": kind,
                "occurred_at": (when or self.now).isoformat(), "actor": actor,
                "jurisdiction": self.street, "payload": payload, "source": "mobile-app"}


class _World:
    """What the simulation draws from: items by team, subjects that come back."""

    def __init__(self, rng: random.Random, pack: RulePack, district: str | None) -> None:
        self.rng = rng
        version = pack.versions[-1]
        self.general: General = version.general
        self.items: dict[str, list[Item]] = {}
        for item in version.items:
            money = _money_conditions(item)
            if item.thresholds and (not money or any(not c.value for c in money)):
                continue  # a crime by the act alone, by a quantity or conduct, or repetition
            if district is not None and item.level == "city":
                continue  # one district's cases: none of the city's own
            self.items.setdefault(item.team, []).append(item)
        self.version = version
        self.threshold_items = [i for i in version.items
                                if any(c.value for c in _money_conditions(i))
                                and (district is None or i.level != "city")]
        self.teams = [t for t in TEAM_SHARES if t in self.items]
        self.weights = [TEAM_SHARES[t] for t in self.teams]
        self.districts = [district] if district else ["330102", "330105", "330106", "330108",
                                                      "330109", "330110"]
        # The district's real 乡镇街道 where the pack lists them (行政区划), else numbered ones.
        self.streets = {d: sorted(c for c in pack.divisions if len(c) == 9 and c.startswith(d))
                        or [f"{d}{n:03d}" for n in range(1, _STREETS + 1)]
                        for d in self.districts}
        self.subjects: list[dict[str, str]] = []
        self.devices: dict[str, list[tuple[str, str]]] = {}

    def register_devices(self, start: date) -> list[dict[str, Any]]:
        """Cameras and drones of each district's comprehensive team, registered with their
        legal and technical review and published a month before the first case (APL Art.
        41); their captures become clues of 综合执法 cases."""
        events = []
        registered = datetime.combine(start - timedelta(days=30), datetime.min.time(),
                                      SHANGHAI) + timedelta(hours=9)
        for district in self.districts:
            for n in range(1, _DEVICES + 1):
                kind = "drone" if n == _DEVICES else "camera"
                device_id = f"{'UAV' if kind == 'drone' else 'CAM'}-{district}-{n:03d}"
                self.devices.setdefault(district, []).append((device_id, kind))
                events.append({
                    "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                    "case_id": device_id, "type": "device.registered",
                    "occurred_at": registered.isoformat(),
                    "actor": {"id": f"S{district}", "role": "service", "org": district},
                    "jurisdiction": district, "source": "device-registry",
                    "payload": {"device_id": device_id, "kind": kind,
                                "location": f"{district}综合执法监控点位{n:03d}",
                                "legal_review": True, "technical_review": True,
                                "published_at": registered.isoformat()}})
        return events

    def body(self, item: Item, street: str) -> str:
        """The division that acts on `item` for a case arising in `street`."""
        if item.level == "street" or self.version.delegated(street, item.code):
            return street
        return street[:6] if item.level == "district" else street[:4]

    def subject(self) -> dict[str, str]:
        if self.subjects and self.rng.random() < 0.2:
            return self.rng.choice(self.subjects)  # 再犯: a subject seen before
        organisation = self.rng.random() < 0.6
        n = self.rng.getrandbits(40)
        subject = {"id": f"91330100{n:010X}" if organisation else f"P{n % 10**11:011d}",
                   "name": (f"杭州{self.rng.choice(_SURNAMES)}氏商贸有限公司" if organisation
                            else f"{self.rng.choice(_SURNAMES)}某"),
                   "kind": "organisation" if organisation else "person"}
        if len(self.subjects) < 5000:
            self.subjects.append(subject)
        else:
            self.subjects[self.rng.randrange(5000)] = subject
        return subject


def simulate(cases: int, seed: int, start: date, months: int, pack: RulePack,
             calendar: WorkCalendar, district: str | None = None) -> Iterator[dict[str, Any]]:
    """Envelopes of `cases` cases filed over `months` months from `start`, in arrival order
    (cases interleaved a hundred at a time, as many officers would send them)."""
    rng = random.Random(seed)
    world = _World(rng, pack, district)
    span = max(1, months * 30)
    registered = world.register_devices(start)

    def case_events(n: int) -> Iterator[dict[str, Any]]:
        day = start + timedelta(days=n * span // cases)
        opened = datetime.combine(day, datetime.min.time(), SHANGHAI) + timedelta(
            hours=8, minutes=rng.randint(0, 600))
        return _case(rng, world, calendar, f"HZ-{start.year}-{n + 1:07d}", opened)

    return itertools.chain(registered, in_arrival_order(cases, case_events))


def _case(rng: random.Random, world: _World, calendar: WorkCalendar, case_id: str,
          opened: datetime) -> Iterator[dict[str, Any]]:
    district = rng.choice(world.districts)
    street = rng.choice(world.streets[district])
    officers = [{"id": f"O{rng.randint(1000, 9999)}",
                 "cert_no": f"3301{rng.randint(10**7, 10**8 - 1)}"} for _ in range(2)]
    team = rng.choices(world.teams, world.weights)[0]
    criminal = rng.random() < 0.04 and bool(world.threshold_items)
    item = rng.choice(world.threshold_items if criminal else world.items[team])
    # The body that may act on the item (APL Arts. 24, 38): the street where the pack
    # delegates it or it is a street item, else the district, the city for a city item.
    case = _Case(rng, case_id, world.body(item, street), opened, officers)
    subject = world.subject()
    roll = rng.random()
    if roll < 0.12:
        yield from _approval(case, item, subject)
    elif roll < 0.45:
        found = yield from _supervision(case, item, subject, world)
        if not found:
            return
    yield from _penalty(case, item, subject, world, calendar, criminal=criminal)


def _approval(case: _Case, item: Item, subject: dict[str, str]) -> Iterator[dict[str, Any]]:
    valid = (case.now + timedelta(days=3 * 365)).date().isoformat()
    yield case.event("approval.granted", {"subject": subject, "item_code": item.code,
                                          "permit_no": f"JY{case.rng.getrandbits(40):012d}",
                                          "valid_until": valid}, role="reviewer")
    case.after(days=case.rng.randint(1, 30))
    yield case.event("approval.pushed_to_supervision", {"to_org": f"{case.street[:6]}-{item.team}"},
                     role="reviewer")
    case.after(days=case.rng.randint(20, 120))


def _supervision(case: _Case, item: Item, subject: dict[str, str], world: _World
                 ) -> Generator[dict[str, Any], None, bool]:
    rng = case.rng
    if case.now.hour < 8:
        case.now = case.now.replace(hour=9)
    urgent = rng.random() < 0.25
    planned = not urgent and rng.random() < 0.3  # a planned inspection starts the case
    if not planned:
        source = rng.choice(_SOURCES)
        clue = {"subject": subject, "source": source, "urgent": urgent,
                "description": f"群众反映{item.name}"}
        cameras = world.devices.get(case.street[:6], [])
        wanted = "drone" if source == "drone" else "camera"
        mine = [d for d, kind in cameras if kind == wanted]
        if item.team == "综合执法" and source in ("ai_camera", "drone") and mine:
            case.capture = rng.choice(mine)  # 非现场执法: the device's capture is the clue
            clue.update(device_id=case.capture,
                        captured_at=(case.now - timedelta(minutes=rng.randint(5, 90))
                                     ).isoformat(),
                        description=f"设备抓拍{item.name}")
        yield case.event("supervision.clue_registered", clue)
        if urgent:
            dispatched = case.after(minutes=2)
            yield case.event("supervision.dispatched", {"team": item.team,
                                                        "officers": case.officers})
            seconds = 0
            # Each 1315 limit is missed on its own: arriving within 15 minutes fails more
            # often (traffic) than acknowledging within one.
            for step, limit, missed in (("acknowledged", 1, 0.03), ("departed", 3, 0.06),
                                        ("arrived", 15, 0.12)):
                late = rng.random() < missed
                seconds = max(seconds + 10, rng.randint(limit * 60 + 30, limit * 60 + 600)
                              if late else rng.randint(limit * 20, limit * 55))
                yield case.event(f"supervision.{step}", {},
                                 when=dispatched + timedelta(seconds=seconds))
            case.now = dispatched + timedelta(minutes=30)
        else:
            case.after(days=rng.randint(1, 5))
    joint = rng.random() < 0.5
    found = rng.random() < 0.6
    yield case.event("supervision.inspected", {
        "joint": joint, "departments": [item.team, "市场监管"] if joint else [item.team],
        "violation_found": found, "item_codes": [item.code] if found else [],
        "findings": f"检查发现{item.name}" if found else "未发现违法行为"})
    if found and case.capture is not None:  # APL Art. 41 para 3: tell the party
        case.after(days=rng.randint(0, 2))
        yield case.event("penalty.party_informed", {"channel": rng.choice(("短信", "电话",
                                                                           "当面"))})
    if found and rng.random() < 0.5:
        case.after(days=1)
        yield case.event("supervision.correction_ordered", {"due_days": 15})
        case.after(days=rng.randint(10, 20))
        yield case.event("supervision.correction_verified", {"corrected": rng.random() < 0.8})
    case.after(days=rng.randint(1, 3))
    yield case.event("supervision.closed", {"reason": "转立案" if found else "未发现违法"})
    case.after(days=rng.randint(1, 5))
    return found


def _penalty(case: _Case, item: Item, subject: dict[str, str], world: _World,
             calendar: WorkCalendar, criminal: bool) -> Iterator[dict[str, Any]]:
    rng, general = case.rng, world.general
    kind = subject["kind"]
    act = (case.now.date() - timedelta(days=rng.randint(3, 90))).isoformat()
    yield case.event("penalty.case_filed", {"item_code": item.code, "subject": subject,
                                            "act_date": act, "officers": case.officers,
                                            "procedure": "general"})
    for _ in range(rng.randint(1, 3)):
        case.after(days=rng.randint(1, 4))
        yield case.event("penalty.evidence_collected", {
            "kind": rng.choice(("documentary", "audiovisual", "electronic", "statement",
                                "inspection_record")),
            "sha256": f"{rng.getrandbits(256):064x}", "collected_by": case.officers})
    if case.capture is not None:  # APL Art. 41 para 2: the capture reviewed as evidence
        case.after(days=1)
        yield case.event("penalty.device_evidence_reviewed", {"device_id": case.capture,
                                                              "accurate": True})
    if rng.random() < 0.08:
        case.after(days=1)
        yield case.event("penalty.measure_imposed", {"kind": "seal", "items": ["经营场所"]})
        case.after(days=rng.randint(10, 40))  # some run past the 30 days
        yield case.event("penalty.measure_released", {})
    if rng.random() < 0.05:
        case.after(days=2)
        yield case.event("penalty.clock_suspended", {"reason": "expert_opinion"})
        case.after(days=rng.randint(5, 20))
        yield case.event("penalty.clock_resumed", {})
    money = _money_conditions(item, kind)
    threshold = money[0] if money else None
    if criminal and threshold is not None:
        amount = float(threshold.value or 0) * rng.uniform(1.1, 2.0) + 1
    else:
        amount = rng.randint(1000, 30000)
        for condition in money:  # below every standard (half of the lowest)
            amount = min(amount, max(0.0, float(condition.value or 0) * 0.5))
    metric = threshold.metric if threshold is not None and threshold.metric else "amount_involved"
    facts = {"amount_involved": 0, "illegal_gains": 0, metric: int(amount)}
    if metric == "illegal_gains":
        facts["amount_involved"] = int(amount * rng.uniform(0.1, 0.5))
    elif metric != "amount_involved":  # sales or turnover: the goods' value beside them
        facts["amount_involved"] = int(amount)
    elif rng.random() < 0.4:  # most acts gain nothing measurable
        facts["illegal_gains"] = int(amount * rng.uniform(0.1, 0.5))
    serious = rng.random() < 0.1
    case.after(days=rng.randint(5, 20))
    yield case.event("penalty.investigation_concluded", {
        "facts": f"经查，当事人{item.name}，事实清楚，证据确凿", **facts,
        "circumstances": "serious" if serious else "general",
        "harm": "serious" if serious else "minor", "corrected": rng.random() < 0.5,
        "major_or_complex": serious})
    if criminal and threshold is not None:
        referred = yield from _referral(case, rng)
        if referred == "with_police":
            return
    level: Literal["heavy", "normal"] = "heavy" if serious else "normal"
    low, high = resolve_range(getattr(item.benchmarks[level], kind),
                              Facts(amount_involved=facts["amount_involved"],
                                    illegal_gains=facts["illegal_gains"]))
    fine = min(max(math.ceil(low), round(low + (high - low) * rng.uniform(0.3, 0.7))),
               math.floor(high)) if high >= 1 else 0
    penalties: list[dict[str, Any]] = (
        [{"kind": "fine", "amount": fine}] if fine >= 1 else [{"kind": "warning"}])
    gains = facts["illegal_gains"]
    refund = gains > 0 and rng.random() < 0.1  # 责令退赔 instead of confiscation (Art. 28)
    if gains > 0 and not refund:
        penalties.append({"kind": "confiscation", "amount": gains})
    fine_at = getattr(general.hearing_fine_of(item.team), kind)
    take_at = getattr(general.hearing_confiscation_of(item.team), kind)
    hearing = fine >= fine_at or (gains >= take_at and not refund)
    case.after(days=rng.randint(2, 6))
    yield case.event("penalty.legal_review_completed", {
        "reviewer": {"id": f"R{rng.randint(100, 999)}",
                     "qualification_no": f"A{rng.randint(10**8, 10**9)}"}, "opinion": "approve"},
        role="reviewer")
    case.after(days=rng.randint(1, 3))
    notice = case.event("penalty.notice_served", {"proposed": penalties, "hearing_right": hearing})
    yield notice
    if hearing and rng.random() < 0.3:
        case.after(days=1)
        yield case.event("penalty.hearing_requested", {})
        case.after(days=1)
        days = 7 if rng.random() < 0.9 else 3  # some notices come too late (HEARING_NOTICE_LATE)
        hearing_at = calendar.workday_deadline(case.now, days) + timedelta(hours=9)
        yield case.event("penalty.hearing_noticed", {"hearing_at": hearing_at.isoformat()})
        case.now = hearing_at
        yield case.event("penalty.hearing_held", {})
        case.after(days=1)  # a hearing held asks a legal review before the decision (Art. 58)
        yield case.event("penalty.legal_review_completed", {
            "reviewer": {"id": f"R{rng.randint(100, 999)}",
                         "qualification_no": f"A{rng.randint(10**8, 10**9)}"},
            "opinion": "approve"}, role="reviewer")
    elif rng.random() < 0.6:
        case.after(days=1)
        # The party states its case or waives it (Arts. 45, 62), and waives the hearing.
        yield case.event(rng.choice(("penalty.statement_received", "penalty.statement_waived")),
                         {})
        if hearing:
            yield case.event("penalty.hearing_waived", {})
    else:  # the five working days pass without a statement or a request (Arts. 62, 64)
        case.now = calendar.workday_deadline(
            case.now, max(general.hearing_request_working_days,
                          general.statement_days_of(item.team)))
        case.after(minutes=60)
    if serious:
        case.after(days=1)
        yield case.event("penalty.collective_discussion_held",
                         {"participants": ["局长", "副局长", "法制科长", "承办人"]})
    if rng.random() < 0.05:
        case.after(days=1)
        yield case.event("penalty.deadline_extended", {"days": 30, "approved_by": "局长"})
    case.after(days=rng.randint(1, 5))
    decision: dict[str, Any] = {"outcome": "penalty", "penalties": penalties,
                                "discretion_level": level}
    if refund:
        decision["refund_ordered"] = True
    yield case.event("penalty.decided", decision)
    served_in = rng.randint(1, 5) if rng.random() < 0.95 else rng.randint(10, 15)
    case.after(days=served_in)
    yield case.event("penalty.decision_served", {"method": rng.choice(("direct", "mail",
                                                                       "electronic"))})
    if rng.random() < 0.03:
        case.after(days=rng.randint(20, 50))
        yield case.event("evaluation.reconsideration_decided", {"result": "upheld"},
                         role="reviewer")
    if fine >= 1:
        case.after(days=rng.randint(3, 14) if rng.random() < 0.9 else rng.randint(16, 40))
        yield case.event("penalty.paid", {"amount": fine})
    case.after(days=rng.randint(1, 10))
    yield case.event("penalty.closed", {})
    if rng.random() < 0.3:
        case.after(days=rng.randint(10, 60))
        yield case.event("evaluation.case_file_reviewed",
                         {"score": rng.randint(70, 100), "issues": []}, role="reviewer")
        yield case.event("evaluation.completed", {}, role="reviewer")


def _money_conditions(item: Item, kind: str | None = None) -> list[Condition]:
    """The item's prosecution standards that are one money measure reaching a value (for
    subjects of `kind`): what the simulator sets a criminal case's facts by."""
    return [c for t in item.thresholds if t.applies_to(kind) for c in t.conditions
            if c.metric is not None]


def _referral(case: _Case, rng: random.Random) -> Generator[dict[str, Any], None, str]:
    """The referral of a threshold case: on time mostly, late sometimes, missing now and then.
    Returns "with_police" when the case stays with the police, else "back"."""
    path = rng.random()
    if path < 0.15:
        return "back"  # 应移未移: never reported; the agency goes on to fine (以罚代刑)
    late = rng.random() < 0.15
    case.after(days=rng.randint(4, 8) if late else rng.randint(0, 2))
    yield case.event("referral.reported", {"officers": case.officers})
    case.after(days=rng.randint(4, 6) if late else rng.randint(0, 2))
    yield case.event("referral.approved", {"by": "局长"}, role="supervisor")
    case.after(minutes=60 * (rng.randint(26, 60) if late else rng.randint(1, 20)))
    yield case.event("referral.transferred", {"police_org": f"{case.street[:6]}公安分局"})
    case.after(days=rng.randint(1, 5))
    verify = rng.random() < 0.2  # a clue to verify: 7 days (Decree 310 Art. 8)
    yield case.event("referral.police_accepted", {"needs_verification": verify},
                     role="service")
    limit = 7 if verify else 3
    case.after(days=rng.randint(0, limit - 1) if rng.random() < 0.85 else
               rng.randint(limit + 1, limit + 10))  # a few decide late
    outcome = rng.random()
    if outcome < 0.6:
        yield case.event("referral.police_filed", {}, role="service")
        case.after(days=rng.randint(1, 2) if rng.random() < 0.8 else rng.randint(4, 9))
        yield case.event("referral.materials_handed_over", {})
        return "with_police"
    if outcome < 0.85:
        yield case.event("referral.police_declined", {"reason": "不构成犯罪"}, role="service")
        ask = rng.random()
        if ask < 0.2:  # Decree 310 Art. 9: reconsideration within 3 days, decided in 3
            case.after(days=rng.randint(0, 2))
            yield case.event("referral.reconsideration_requested", {})
            case.after(days=rng.randint(0, 2) if rng.random() < 0.8 else rng.randint(4, 8))
            yield case.event("referral.reconsideration_decided", {"result": "declined"},
                             role="service")
        elif ask < 0.3:  # or the procuratorate's supervision (立案监督)
            case.after(days=rng.randint(0, 2))
            yield case.event("referral.procuratorate_supervision_requested", {})
            case.after(days=rng.randint(10, 20))
            yield case.event("referral.police_declined", {"reason": "经检察监督仍不予立案"},
                             role="service")
        case.after(days=4)
        return "back"
    yield case.event("referral.returned", {"by": f"{case.street[:6]}公安分局",
                                           "reason": "情节显著轻微，不需要追究刑事责任"},
                     role="service")
    case.after(days=2)
    return "back"

