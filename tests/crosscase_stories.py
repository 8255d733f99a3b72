"""Stories of several cases for the cross-case rules: threshold cases, referrals, fines of
first violations, inspections (used by the referral tests and the order property)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.helpers import at
from tests.stories import ORG, PERSON, Story

FAKE_GOODS = "330221001"  # 伪劣产品: amount_involved ≥ 50,000 → 生产、销售伪劣产品罪
FUMES = "330217001"  # 油烟净化设施: on the 首违不罚 list



def concluded(case_id: str, on: str, amount: float, subject: dict[str, Any] = ORG,
              act_date: str = "2025-08-20", item: str = FAKE_GOODS) -> Story:
    """A case filed the day before `on` and concluded at 10:00 on `on` with the amount, as
    the value of goods sold (销售金额 = 货值金额): 伪劣产品's standard is 50,000 of sales."""
    story = Story(case_id)
    story.filed(item=item, subject=subject, act_date=act_date,
                at=at(on + "T10:00:00") - timedelta(days=1))
    story.add("penalty.investigation_concluded", at=at(on + "T10:00:00"),
              amount_involved=amount, sales_amount=amount, illegal_gains=0,
              circumstances="general", harm="minor", corrected=False, major_or_complex=False)
    return story


def fined(story: Story, fine: float, on: datetime) -> Story:
    """Reviewed, notified with the hearing right, hearing and statement waived, and decided
    with a fine."""
    story.add("penalty.legal_review_completed", at=on - timedelta(hours=4), opinion="approve")
    story.add("penalty.notice_served", at=on - timedelta(hours=3), hearing_right=True,
              proposed=[{"kind": "fine", "amount": fine}])
    story.add("penalty.hearing_waived", at=on - timedelta(hours=2))
    story.add("penalty.statement_waived", at=on - timedelta(hours=1))
    story.add("penalty.decided", at=on, outcome="penalty",
              penalties=[{"kind": "fine", "amount": fine}], discretion_level="normal")
    return story


def referred(case_id: str, *steps: tuple[str, str]) -> Story:
    story = concluded(case_id, "2025-09-02", 60000)
    for step, when in steps:
        story.add(f"referral.{step}", at=at(when))
    return story


def minor_fumes(case_id: str, act_date: str, decided: datetime,
                subject: dict[str, Any] = PERSON) -> Story:
    story = Story(case_id)
    story.filed(item=FUMES, subject=subject, act_date=act_date, at=decided - timedelta(days=5))
    story.add("penalty.investigation_concluded", at=decided - timedelta(days=4),
              amount_involved=0, illegal_gains=0, circumstances="general", harm="minor",
              corrected=True, major_or_complex=False)
    return fined(story, 20000, decided)


def inspection(case_id: str, when: datetime, joint: bool = False,
               found: bool = False, jurisdiction: str = "330106") -> Story:
    story = Story(case_id, jurisdiction=jurisdiction)
    story.add("supervision.clue_registered", at=when - timedelta(hours=2), subject=ORG,
              urgent=False, source="inspection_plan")
    story.add("supervision.inspected", at=when, joint=joint, violation_found=found,
              departments=["市场监管"], item_codes=[])
    return story
