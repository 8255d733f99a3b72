"""The Case aggregate (案件): one event stream per `case_id`, on the eventsourcing library.

Every step of a case is one `Case.Recorded` event (the first one is `Case.Opened`, the
library's "created" event) whose `record` holds the stored envelope: the business fields,
the engine-set `seq`, `recorded_at`, `prev_hash` and `hash`. The aggregate folds records into a
`CaseFile`, the state the rules read; the aggregate's `version` is the case's `seq`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from casechain.domain.hashing import GENESIS_HASH

__all__ = ["CASE_NAMESPACE", "Case", "CaseFile", "case_uuid"]

#: Namespace of the stream ids: stream id = uuid5(CASE_NAMESPACE, case_id).
CASE_NAMESPACE = UUID("5d1b4f0e-8a43-4c36-9a55-6f0c2b7e9d10")

MAIN_STAGES = ("approval", "supervision", "penalty", "evaluation")


@lru_cache(maxsize=65536)
def case_uuid(case_id: str) -> UUID:
    """The stream id of a business case number."""
    return uuid5(CASE_NAMESPACE, case_id)


@dataclass
class CaseFile:
    """卷宗: what is known of a case after its events so far."""

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

    def apply(self, record: dict[str, Any]) -> None:
        """Fold one stored record into the file."""
        stage, _, name = record["type"].partition(".")
        if self.stage == "evaluation" and self.state == "completed" and stage != "evaluation":
            self.cycle += 1
            self.counts = {}
        if stage == "referral":
            self.referral_state = name
        else:
            self.stage, self.state = stage, name
        self.counts[record["type"]] = self.counts.get(record["type"], 0) + 1
        self.seq = record["seq"]
        self.head_hash = record["hash"]
        self.jurisdiction = record["jurisdiction"]
        self.opened_at = self.opened_at or record["occurred_at"]
        self.last_occurred_at = record["occurred_at"]


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
