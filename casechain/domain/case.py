"""The Case aggregate (案件): one event stream per `case_id`, on the eventsourcing library.

Every step of a case is one `Case.Recorded` event (the first one is `Case.Opened`, the
library's "created" event) whose `record` holds the stored envelope: the business fields,
the engine-set `seq`, `recorded_at`, `prev_hash` and `hash`. The aggregate folds records into a
`CaseFile`, the state the rules read; the aggregate's `version` is the case's `seq`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from casechain.domain.hashing import GENESIS_HASH

__all__ = [
    "ALONGSIDE",
    "CASE_NAMESPACE",
    "REFERRAL_PENDING_STATES",
    "Case",
    "CaseFile",
    "case_uuid",
]

#: Namespace of the stream ids: stream id = uuid5(CASE_NAMESPACE, case_id).
CASE_NAMESPACE = UUID("5d1b4f0e-8a43-4c36-9a55-6f0c2b7e9d10")

MAIN_STAGES = ("approval", "supervision", "penalty", "evaluation")


@lru_cache(maxsize=65536)
def case_uuid(case_id: str) -> UUID:
    """The stream id of a business case number."""
    return uuid5(CASE_NAMESPACE, case_id)


#: Evaluation events recorded beside an open case (a reconsideration or a court may decide
#: before the fine is paid); they do not move the case's stage.
ALONGSIDE = frozenset({"evaluation.reconsideration_decided", "evaluation.litigation_decided",
                       "evaluation.supervision_finding", "case.transferred",
                       # APL Art. 41 para 3: the party told of a device's capture, from
                       # the clue on, whatever the stage
                       "penalty.party_informed"})

#: Referral states in which a case is with the referral process or the police and a fine may
#: not be decided (Decree 310 Art. 11).
REFERRAL_PENDING_STATES = frozenset({"reported", "approved", "transferred", "police_accepted",
                                     "police_filed", "materials_handed_over",
                                     "reconsideration_requested",
                                     "procuratorate_supervision_requested"})


@dataclass
class CaseFile:
    """卷宗: what is known of a case after its events so far (current cycle for the facts)."""

    case_id: str
    seq: int = 0
    head_hash: str = GENESIS_HASH
    stage: str | None = None
    state: str | None = None
    referral_state: str | None = None
    cycle: int = 1
    jurisdiction: str | None = None
    opened_at: str | None = None
    last_occurred_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Facts of the current cycle that the rules read.
    item_code: str | None = None
    subject: dict[str, Any] | None = None
    procedure: str | None = None
    act_date: str | None = None
    act_end_date: str | None = None
    #: When the act was first discovered: the filing's `discovered_at`, else the instant of
    #: the cycle's first clue or inspection, else the filing (APL Art. 36).
    discovered_at: str | None = None
    facts: dict[str, Any] | None = None
    notice: dict[str, Any] | None = None
    notice_at: str | None = None
    review_opinion: str | None = None
    suspended: bool = False
    decision: dict[str, Any] | None = None
    #: 非现场执法: the devices whose captures the cycle's clues rest on (id → captured_at),
    #: and the review of each capture (id → accurate), APL Art. 41.
    captures: dict[str, str] = field(default_factory=dict)
    capture_reviews: dict[str, bool] = field(default_factory=dict)
    #: A device's own stream: its registration (payload and instant) and retirement.
    device: dict[str, Any] | None = None
    retired_at: str | None = None

    def apply(self, record: dict[str, Any]) -> None:
        """Fold one stored record into the file."""
        event_type = record["type"]
        stage, _, name = event_type.partition(".")
        payload = record["payload"]
        if self.stage == "evaluation" and self.state == "completed":
            self._new_cycle()
        if event_type == "referral.reconsideration_decided":
            # The police's decision on reconsideration leaves the referral filed or declined.
            self.referral_state = f"police_{payload['result']}"
        elif stage == "referral":
            self.referral_state = name
        elif event_type not in ALONGSIDE:
            self.stage, self.state = stage, name
        self.counts[event_type] = self.counts.get(event_type, 0) + 1
        fold = _FOLDS.get(event_type)
        if fold is not None:
            fold(self, payload, record)
        self.seq = record["seq"]
        self.head_hash = record["hash"]
        if event_type == "case.transferred":
            self.jurisdiction = payload["to_jurisdiction"]
        elif self.jurisdiction is None:
            self.jurisdiction = record["jurisdiction"]  # fixed by the first event
        self.opened_at = self.opened_at or record["occurred_at"]
        self.last_occurred_at = record["occurred_at"]

    def seen(self, event_type: str) -> bool:
        """True when the current cycle has an event of this type."""
        return event_type in self.counts

    def copy(self) -> CaseFile:
        """An independent copy (the append path works on copies until the commit)."""
        twin = copy.copy(self)
        twin.counts = dict(self.counts)
        return twin

    def _new_cycle(self) -> None:
        self.cycle += 1
        self.counts = {}
        self.item_code = self.subject = self.procedure = self.act_date = None
        self.act_end_date = self.discovered_at = None
        self.captures, self.capture_reviews = {}, {}
        self.facts = self.notice = self.notice_at = self.review_opinion = self.decision = None
        self.suspended = False


def _filed(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]) -> None:
    file.item_code, file.subject = payload["item_code"], payload["subject"]
    file.procedure, file.act_date = payload["procedure"], payload["act_date"]
    file.act_end_date = payload.get("act_end_date")
    file.discovered_at = discovery(file, payload, record)


def discovery(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]) -> str:
    """When the act of a filing was discovered (APL Art. 36), as a date or an instant: the
    filing's `discovered_at`, else the cycle's first clue or inspection, else the filing."""
    given = payload.get("discovered_at")
    if given is not None:
        return str(given)
    return file.discovered_at or str(record["occurred_at"])


def _spotted(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]) -> None:
    if payload.get("violation_found"):
        file.discovered_at = file.discovered_at or record["occurred_at"]


def _granted(file: CaseFile, payload: dict[str, Any], _: dict[str, Any]) -> None:
    file.item_code, file.subject = payload["item_code"], payload["subject"]


def _clue(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]) -> None:
    file.subject = file.subject or payload["subject"]
    if payload.get("device_id"):  # new dicts: copies of the file share the old ones
        file.captures = {**file.captures, payload["device_id"]: payload["captured_at"]}
    file.discovered_at = file.discovered_at or record["occurred_at"]


def _capture_reviewed(file: CaseFile, payload: dict[str, Any], _: dict[str, Any]) -> None:
    file.capture_reviews = {**file.capture_reviews,
                            payload["device_id"]: bool(payload["accurate"])}


def _device_registered(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]
                       ) -> None:
    file.device = {**payload, "registered_at": record["occurred_at"]}


def _device_retired(file: CaseFile, _: dict[str, Any], record: dict[str, Any]) -> None:
    file.retired_at = record["occurred_at"]


def _concluded(file: CaseFile, payload: dict[str, Any], _: dict[str, Any]) -> None:
    file.facts = payload


def _reviewed(file: CaseFile, payload: dict[str, Any], _: dict[str, Any]) -> None:
    file.review_opinion = payload["opinion"]


def _noticed(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]) -> None:
    file.notice, file.notice_at = payload, record["occurred_at"]


def _suspended(file: CaseFile, _: dict[str, Any], __: dict[str, Any]) -> None:
    file.suspended = True


def _resumed(file: CaseFile, _: dict[str, Any], __: dict[str, Any]) -> None:
    file.suspended = False


def _decided(file: CaseFile, payload: dict[str, Any], record: dict[str, Any]) -> None:
    file.decision = {**payload, "decided_at": record["occurred_at"]}


_FOLDS: dict[str, Callable[[CaseFile, dict[str, Any], dict[str, Any]], None]] = {
    "penalty.case_filed": _filed,
    "approval.granted": _granted,
    "approval.rejected": _granted,
    "supervision.clue_registered": _clue,
    "supervision.inspected": _spotted,
    "penalty.investigation_concluded": _concluded,
    "penalty.legal_review_completed": _reviewed,
    "penalty.notice_served": _noticed,
    "penalty.clock_suspended": _suspended,
    "penalty.clock_resumed": _resumed,
    "penalty.decided": _decided,
    "penalty.device_evidence_reviewed": _capture_reviewed,
    "device.registered": _device_registered,
    "device.retired": _device_retired,
}


class Case(Aggregate):
    """案件: an event-sourced case; create with `Case.open`, extend with `record`."""

    class Opened(Aggregate.Created):
        """The first step of a case (seq 1)."""

        record: dict[str, Any]

    class Recorded(Aggregate.Event):
        """Any later step of a case."""

        record: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.file.apply(self.record)

    def __init__(self, record: dict[str, Any]) -> None:
        self.file = CaseFile(case_id=record["case_id"])
        self.file.apply(record)

    @classmethod
    def open(cls, record: dict[str, Any], recorded_at: datetime) -> Case:
        """A new case whose first step is `record` (seq 1)."""
        return cls._create(cls.Opened, id=case_uuid(record["case_id"]), record=record,
                           timestamp=recorded_at)

    def record(self, record: dict[str, Any], recorded_at: datetime) -> None:
        """Append one step; `record["seq"]` must be the next version."""
        self.trigger_event(self.Recorded, record=record, timestamp=recorded_at)
