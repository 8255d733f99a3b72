"""Errors raised by CaseChain, one root for all of them.

    CaseChainError
    ├── EventRejected          one envelope broke one or more rules; carries every Rejection
    ├── StoreError             the event store failed (database unreachable, schema missing)
    │   ├── StoreUnavailable   unreachable, connection lost, or not the store opened: retry
    │   │   ├── StoreOperationalError, StoreInterfaceError      (adapters.storage)
    │   ├── StoreConflict      another writer got there first; the append may be retried
    │   └── StoreIntegrityError, StoreDataError, StoreProgrammingError, StoreInternalError,
    │       StoreNotSupportedError, StoreDatabaseError          (adapters.storage)
    │       — each also the eventsourcing library's class of the same name
    ├── QueryInvalid           (application) a question's parameter no answer can be given for
    ├── AccessRefused          (application) a read the principal may not make: OUT_OF_SCOPE,
    │                          FORBIDDEN (its `code`)
    ├── ConfigurationError     a setting (database URL, rule pack, log format) is unusable
    │   └── RulePackInvalid    (adapters.rulepack_files) a pack with problems, each located
    ├── CalendarUnknown        (domain.calendar) no holiday data for a date's year
    ├── InstantOutOfRange      (domain.calendar) an as_of outside 2000-2099; a ValueError too
    ├── CanonicalJSONError     (domain.hashing) a value with no RFC 8785 form; a ValueError too
    ├── CaseNotFound           (service) no event recorded for a case id; a LookupError too
    ├── ImportFailed           (application.importing) a worker of `import --workers N` stopped
    ├── TokenInvalid           no, an unknown or an expired bearer token
    ├── SigningKeyError        (adapters.ledger) a signing or public key cannot be used
    └── ProofError             (adapters.proofs) a proof cannot be made or does not verify

Exceptions that never leave the package: `ApiProblem` (the HTTP API's answer, turned into
problem+json), `EventsRejected` (the pytest plugin's assertion failure), `_Moved` (a view
moved by another worker; the runner starts again).

A `Rejection` is a value, not an exception: the code from docs/contract.md ("Lifecycle and
rejections"), the field it concerns, the offending value and a message written for the
officer who has to fix the submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError

__all__ = [
    "CODES",
    "STORE_DOWN",
    "AccessRefused",
    "CaseChainError",
    "ConfigurationError",
    "EventRejected",
    "QueryInvalid",
    "Rejection",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TokenInvalid",
]

#: Every rejection code, most fundamental first; rejections are reported in this order.
CODES: tuple[str, ...] = (
    "SCHEMA_INVALID",
    "UNKNOWN_EVENT_TYPE",
    "HASH_MISMATCH",
    "OUT_OF_SCOPE",
    "FORBIDDEN",
    "CONCURRENCY_CONFLICT",
    "UNKNOWN_ITEM",
    "LIFECYCLE_ORDER",
    "NOT_DELEGATED",
    "DEVICE_NOT_APPROVED",
    "OFFICERS_REQUIRED",
    "LIMITATION_EXPIRED",
    "NOTICE_REQUIRED",
    "STATEMENT_PERIOD_OPEN",
    "HEARING_WINDOW_OPEN",
    "LEGAL_REVIEW_REQUIRED",
    "COLLECTIVE_DISCUSSION_REQUIRED",
    "CONFISCATION_REQUIRED",
    "MITIGATION_GROUNDS_REQUIRED",
    "MINOR_NO_PENALTY",
    "REFERRAL_PENDING",
    "SUMMARY_PROCEDURE_LIMIT",
    "FINE_ABOVE_STATUTORY_MAX",
    "DISCRETION_OUT_OF_RANGE",
    "HEAVIER_THAN_NOTICE",
)
_RANK = {code: rank for rank, code in enumerate(CODES)}


@dataclass(frozen=True, slots=True)
class Rejection:
    """One broken rule: its code, the field and value concerned, and a message for people."""

    code: str
    message: str
    field: str | None = None
    value: Any = None

    def __post_init__(self) -> None:
        if self.code not in _RANK:
            raise ValueError(f"unknown rejection code {self.code!r}")

    @property
    def rank(self) -> int:
        """Position of the code in `CODES`: lower is more fundamental."""
        return _RANK[self.code]

    def as_dict(self) -> dict[str, Any]:
        """The rejection as plain JSON-ready values."""
        return {"code": self.code, "field": self.field, "value": self.value, "message": self.message}


def sort_rejections(rejections: list[Rejection]) -> list[Rejection]:
    """The rejections with the most fundamental first (stable within one code)."""
    return sorted(rejections, key=lambda r: r.rank)


class CaseChainError(Exception):
    """Root of every error CaseChain raises on purpose."""


class EventRejected(CaseChainError):
    """An envelope was refused; nothing was appended. `rejections` lists every broken rule."""

    def __init__(self, rejections: list[Rejection], *, case_id: str | None = None,
                 event_id: str | None = None) -> None:
        if not rejections:
            raise ValueError("EventRejected needs at least one Rejection")
        self.rejections = sort_rejections(rejections)
        self.case_id = case_id
        self.event_id = event_id
        super().__init__("; ".join(f"{r.code}: {r.message}" for r in self.rejections))

    @property
    def code(self) -> str:
        """The most fundamental code among the rejections."""
        return self.rejections[0].code


class StoreError(CaseChainError):
    """The event store failed; the message names the database and the operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, a connection was lost, or the store is not the one the
    process opened (deleted, replaced, dropped); a long-running worker waits and retries."""


#: What "the store cannot be reached now" is raised as: ours, and the library's own classes
#: (which our mapped errors also are) where the library raises them itself.
STORE_DOWN: tuple[type[Exception], ...] = (StoreUnavailable, OperationalError, InterfaceError)


class StoreConflict(StoreError):
    """Another writer appended to the same case, or the same event id, first."""


class ConfigurationError(CaseChainError):
    """A setting is unusable; the message names the setting and the value."""


class QueryInvalid(CaseChainError):
    """A parameter of a question (as_of, count_by, an alert code) no answer can be given for;
    the message names the parameter, the value and what it may be."""

    def __init__(self, field: str, value: object, why: str) -> None:
        self.field, self.value = field, value
        super().__init__(f"{field} {value!r} {why}")


class AccessRefused(CaseChainError):
    """A read the principal may not make: `code` is OUT_OF_SCOPE or FORBIDDEN; the message
    names the principal's own scope or roles, never another jurisdiction; `extra` are
    members for the answer (the field, the case id, the roles)."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        if code not in ("OUT_OF_SCOPE", "FORBIDDEN"):
            raise ValueError(f"an access refusal is OUT_OF_SCOPE or FORBIDDEN, not {code!r}")
        self.code, self.extra = code, extra
        super().__init__(message)


class TokenInvalid(CaseChainError):
    """No token, an unknown token or an expired one; the message says which (never the token)."""
