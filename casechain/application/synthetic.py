"""Synthetic case logs for demos and benchmarks: `casechain simulate`.

A first, plain generator: every case is a general-procedure penalty case walked from filing
to closing in eleven steps (立案 → 取证 → 调查终结 → 法制审核 → 告知 → 放弃听证 → 放弃陈述申辩 →
决定 → 送达 → 缴款 → 结案; the decision confiscates the illegal gains, APL Art. 28), cases
interleaved a hundred at a time as they would arrive from many officers.
Items come from the rule pack; each fine is the middle of the item's "normal" benchmark for the
case's facts, and the notice carries a hearing right where the law gives one, so every event
is valid under the pack. It is deterministic for a seed and streams, so its memory does not
grow with the number of cases. `casechain simulate` uses the realistic simulator
(`casechain.application.simulation`); this fixed shape stays for the benchmarks and tests that
compare runs over time.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from casechain.adapters.rulepack_files import load_pack
from casechain.domain.rulepack import Facts, Item, RulePack, RuleVersion, resolve_range

__all__ = ["EVENTS_PER_CASE", "generate", "in_arrival_order"]

#: Events of one synthetic case (ten before revision 2 added the statement's waiver).
EVENTS_PER_CASE = 11

SHANGHAI = timezone(timedelta(hours=8))
_DISTRICTS = ["330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112",
              "330113", "330114"]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GROUP = 100


def generate(cases: int, seed: int = 1, start: date = date(2024, 1, 2),
             pack: RulePack | None = None) -> Iterator[dict[str, Any]]:
    """Envelopes of `cases` synthetic cases, eleven events each (`EVENTS_PER_CASE`), in
    arrival order."""
    rng = random.Random(seed)
    version = (pack or load_pack()).versions[-1]
    items = [item for item in version.items if not item.thresholds]
    yield from in_arrival_order(
        cases, lambda n: _case_events(rng, n, start, items, version))


def in_arrival_order(cases: int, case_events: Callable[[int], Iterator[dict[str, Any]]]
                     ) -> Iterator[dict[str, Any]]:
    """The events of cases 0 … cases-1, a hundred cases at a time, one event of each case in
    turn — as many officers would send them. `case_events(n)` is called in order of n."""
    for first in range(0, cases, _GROUP):
        streams = [case_events(n) for n in range(first, min(first + _GROUP, cases))]
        while streams:
            alive = []
            for stream in streams:
                event = next(stream, None)
                if event is not None:
                    yield event
                    alive.append(stream)
            streams = alive


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _case_events(rng: random.Random, n: int, start: date, items: list[Item],
                 version: RuleVersion) -> Iterator[dict[str, Any]]:
    general = version.general
    district = rng.choice(_DISTRICTS)
    street = f"{district}{rng.randint(1, 20):03d}"
    case_id = f"HZ-{start.year}-{n + 1:07d}"
    organisation = rng.random() < 0.6
    subject = {
        "id": f"91330100{rng.getrandbits(40):010X}" if organisation else f"P{rng.getrandbits(36):011d}",
        "name": (f"杭州{rng.choice(_SURNAMES)}氏商贸有限公司" if organisation
                 else f"{rng.choice(_SURNAMES)}某"),
        "kind": "organisation" if organisation else "person",
    }
    officers = [{"id": f"O{rng.randint(1000, 9999)}", "cert_no": f"3301{rng.randint(10**7, 10**8 - 1)}"}
                for _ in range(2)]
    actor = {"id": officers[0]["id"], "role": "officer", "org": district,
             "cert_no": officers[0]["cert_no"]}
    item = rng.choice(items)
    # The body that may act on the item (APL Arts. 24, 38): the street where it is a street
    # item or delegated, else the district, the city for a city item.
    if item.level != "street" and not version.delegated(street, item.code):
        street = district if item.level == "district" else district[:4]
    kind = "organisation" if organisation else "person"
    facts = Facts(amount_involved=rng.randint(1000, 40000), illegal_gains=rng.randint(500, 20000))
    low, high = resolve_range(getattr(item.benchmarks["normal"], kind), facts)
    fine = max(round((low + high) / 2), 1)
    gains = int(facts.illegal_gains)
    penalties = [{"kind": "fine", "amount": fine}, {"kind": "confiscation", "amount": gains}]
    hearing = (fine >= getattr(general.hearing_fine_of(item.team), kind)
               or gains >= getattr(general.hearing_confiscation_of(item.team), kind))
    filed = datetime.combine(start + timedelta(days=n % 300), datetime.min.time(),
                             SHANGHAI) + timedelta(hours=9, minutes=rng.randint(0, 480))
    clock = [filed]

    def at(days: float) -> str:
        clock[0] = clock[0] + timedelta(days=days, minutes=rng.randint(1, 120))
        return clock[0].isoformat()

    def event(kind: str, when: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"event_id": _uuid(rng), "case_id": case_id, "type": kind, "occurred_at": when,
                "actor": actor, "jurisdiction": street, "payload": payload,
                "source": "mobile-app"}

    yield event("penalty.case_filed", filed.isoformat(), {
        "item_code": item.code, "subject": subject,
        "act_date": (filed.date() - timedelta(days=rng.randint(1, 60))).isoformat(),
        "officers": officers, "procedure": "general", "team": item.team})
    yield event("penalty.evidence_collected", at(2), {
        "kind": "audiovisual", "sha256": f"{rng.getrandbits(256):064x}", "collected_by": officers})
    yield event("penalty.investigation_concluded", at(10), {
        "facts": f"现场检查发现{item.name}，事实清楚", "amount_involved": int(facts.amount_involved),
        "illegal_gains": int(facts.illegal_gains), "circumstances": "general", "harm": "minor",
        "corrected": True, "major_or_complex": False})
    yield event("penalty.legal_review_completed", at(3), {
        "reviewer": {"id": f"R{rng.randint(100, 999)}", "qualification_no": f"A{rng.randint(10**8, 10**9)}"},
        "opinion": "approve"})
    yield event("penalty.notice_served", at(1), {
        "proposed": penalties, "hearing_right": hearing})
    yield event("penalty.hearing_waived", at(1), {})
    yield event("penalty.statement_waived", at(0), {})
    yield event("penalty.decided", at(6), {
        "outcome": "penalty", "penalties": penalties, "discretion_level": "normal"})
    yield event("penalty.decision_served", at(2), {"method": "direct"})
    yield event("penalty.paid", at(5), {"amount": fine})
    yield event("penalty.closed", at(3), {})


