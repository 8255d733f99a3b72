"""Case stories for the law tests: a legal penalty case, step by step, with a clock."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.domain.case import CaseFile
from casechain.domain.envelope import parse_envelope
from casechain.domain.law import LawBook
from casechain.domain.rulepack import RulePack
from casechain.errors import EventRejected
from tests.factories import OFFICERS, PAYLOADS, envelope

SH = timezone(timedelta(hours=8))
ORG = {"id": "91330106MA27XXXX0A", "name": "杭州某某餐饮有限公司", "kind": "organisation"}
PERSON = {"id": "330106199001011234", "name": "张某", "kind": "person"}


class Story:
    """Envelopes of one case, each a day after the previous unless `at` is given. The case is
    handled by the district of 西湖区 (330106), which may act on district and street items; a
    story of a street or of the city names its `jurisdiction` (APL Arts. 24, 38)."""

    def __init__(self, case_id: str = "HZ-L-1", start: datetime = datetime(2025, 9, 1, 10,
                                                                              tzinfo=SH),
                 jurisdiction: str = "330106") -> None:
        self.case_id = case_id
        self.clock = start
        self.jurisdiction = jurisdiction
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, at: datetime | None = None, **payload: Any) -> dict[str, Any]:
        """Append an envelope (payload fields override the valid defaults)."""
        self.clock = at or self.clock + timedelta(days=1)
        body = copy.deepcopy(PAYLOADS[event_type])
        body.update(payload)
        event = envelope(event_type, self.case_id, occurred_at=self.clock.isoformat(),
                         actor={"id": "O1001", "role": "officer", "cert_no": "33010012345"},
                         payload=body, source="test", jurisdiction=self.jurisdiction)
        self.events.append(event)
        return event

    def filed(self, item: str = "330217001", subject: dict[str, Any] = ORG,
              act_date: str = "2025-08-20", procedure: str = "general",
              officers: list[dict[str, Any]] = OFFICERS, at: datetime | None = None,
              **extra: Any) -> Story:
        self.add("penalty.case_filed", at, item_code=item, subject=subject, act_date=act_date,
                 procedure=procedure, officers=officers, **extra)
        return self

    def concluded(self, **facts: Any) -> Story:
        self.add("penalty.investigation_concluded", **facts)
        return self

    def reviewed(self, opinion: str = "approve") -> Story:
        self.add("penalty.legal_review_completed", opinion=opinion)
        return self

    def noticed(self, fine: float = 20000, hearing_right: bool = False, at: datetime | None = None,
                proposed: list[dict[str, Any]] | None = None) -> Story:
        self.add("penalty.notice_served", at, hearing_right=hearing_right,
                 proposed=proposed or [{"kind": "fine", "amount": fine}])
        return self

    def waived(self) -> Story:
        """The party waives the hearing and the statement (APL Arts. 45, 64)."""
        self.add("penalty.hearing_waived")
        self.add("penalty.statement_waived")
        return self

    def prepared(self, fine: float = 20000, **filing: Any) -> Story:
        """Filed, investigated, reviewed, notified, hearing and statement waived: ready to
        decide."""
        return self.filed(**filing).concluded().reviewed().noticed(fine).waived()

    def decide(self, fine: float | None = 20000, level: str = "normal", outcome: str = "penalty",
               at: datetime | None = None, penalties: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
        if penalties is None:
            penalties = [{"kind": "fine", "amount": fine}] if fine is not None else [
                {"kind": "warning"}]
        return self.add("penalty.decided", at, outcome=outcome, penalties=penalties,
                        discretion_level=level, **extra)


@lru_cache(maxsize=1)
def _default_pack() -> RulePack:
    return load_pack()


class Judge:
    """Feeds envelopes to the law book one by one, applying those it accepts."""

    def __init__(self, pack_path: str | None = None) -> None:
        pack = load_pack(pack_path) if pack_path else _default_pack()
        self.book = LawBook(pack, calendar_of(pack))
        self.files: dict[str, CaseFile] = {}

    def codes(self, event: dict[str, Any]) -> list[str]:
        """The rejection codes for the event (empty: accepted and applied)."""
        return [r.code for r in self.rejections(event)]

    def rejections(self, event: dict[str, Any]) -> list[Any]:
        try:
            env = parse_envelope(copy.deepcopy(event))
        except EventRejected as exc:
            return exc.rejections
        file = self.files.setdefault(env.case_id, CaseFile(case_id=env.case_id))
        rejections = self.book.check(file, env, self.files)
        if not rejections:
            record = env.body()
            record.update(seq=file.seq + 1, recorded_at="", prev_hash="", hash="0" * 64)
            file.apply(record)
        return rejections

    def run(self, story: Story) -> list[list[str]]:
        """Codes for every event of a story, in order."""
        return [self.codes(event) for event in story.events]

    def last(self, story: Story) -> list[str]:
        """Feed all but the last event (each must pass); the codes of the last."""
        for event in story.events[:-1]:
            assert self.codes(event) == [], (event["type"], self.rejections(event))
        return self.codes(story.events[-1])

    def message(self, story: Story) -> str:
        """Feed the story; the messages of the last event's rejections."""
        for event in story.events[:-1]:
            assert self.codes(event) == [], (event["type"], self.rejections(event))
        return " | ".join(r.message for r in self.rejections(story.events[-1]))
