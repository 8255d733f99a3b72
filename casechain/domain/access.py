"""Who may do what, where (权限): roles, their event types and reads, and the jurisdiction scope.

A principal (a person or a backend service) holds one or more roles and one jurisdiction
scope, a division-code prefix (`3301` the city, `330106` a district, `""` everywhere). It may
append an event only when the event's jurisdiction lies inside its scope (else
`OUT_OF_SCOPE`) and one of its roles may emit the event's type (else `FORBIDDEN`); a person
(every role but `service`) may append only events it is the actor of. It may read only what
lies inside its scope, and only the kinds of reading its roles allow.

The table below is policy, kept in one place so it can be read by a supervisor:

| role | 角色 | appends | reads |
|---|---|---|---|
| officer | 执法人员 | supervision.*, penalty.* but legal review, referral steps of the team | cases |
| reviewer | 法制审核 | approval.*, legal review, collective discussion, extension, referral verdict | cases |
| supervisor | 监督人员 | evaluation.* | cases, board, alerts, deadlines, referrals, subjects, statistics |
| auditor | 审计人员 | nothing | everything a supervisor reads, exports, ledger, access log |
| service | 业务系统 | every type (backend systems: approval, mobile app, cameras, police interface) | cases |
| admin | 系统管理员 | every type | everything |

Persons' ids (身份证号 and the like) are masked in what the views return (the case with its
timeline, alerts, referrals, the subject register) for a principal none of whose roles needs
them: supervisors and auditors see `3301**********1234`, unless they also hold the role of an
officer, reviewer, service or admin. Organisations' ids (统一社会信用代码) are public and never
masked; exports are the record itself (hashes cover the ids) and are not masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from casechain.domain.envelope import Envelope, Role
from casechain.errors import Rejection

__all__ = ["PERSON_ID_ROLES", "READS", "ROLES", "ROLE_LABELS", "Principal", "append_problems",
           "mask_id",
           "mask_persons", "may_append", "may_read", "sees_person_ids", "subject_ids_in"]

ROLE_LABELS: dict[str, str] = {
    "officer": "执法人员", "reviewer": "法制审核人员", "supervisor": "监督人员",
    "auditor": "审计人员", "service": "业务系统", "admin": "系统管理员",
}
ROLES: tuple[str, ...] = tuple(ROLE_LABELS)
assert set(ROLES) == set(get_args(Role)), "the envelope's actor roles are the token roles"

#: The kinds of reading an endpoint may need.
READS: tuple[str, ...] = ("case", "supervision", "export", "ledger", "access_log")

_OFFICER_TYPES = ("supervision.", "penalty.", "referral.assessed", "referral.reported",
                  "referral.transferred", "referral.materials_handed_over",
                  "referral.reconsideration_requested",
                  "referral.procuratorate_supervision_requested")
_OFFICER_EXCEPT = ("penalty.legal_review_completed", "penalty.collective_discussion_held",
                   "penalty.deadline_extended")
_REVIEWER_TYPES = ("approval.", "penalty.legal_review_completed",
                   "penalty.collective_discussion_held", "penalty.deadline_extended",
                   "referral.approved", "referral.rejected")

_APPENDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "officer": (_OFFICER_TYPES, _OFFICER_EXCEPT),
    "reviewer": (_REVIEWER_TYPES, ()),
    "supervisor": (("evaluation.",), ()),
    "auditor": ((), ()),
    "service": (("",), ()),
    "admin": (("",), ()),
}
_READS: dict[str, frozenset[str]] = {
    "officer": frozenset({"case"}),
    "reviewer": frozenset({"case"}),
    "supervisor": frozenset({"case", "supervision"}),
    "auditor": frozenset({"case", "supervision", "export", "ledger", "access_log"}),
    "service": frozenset({"case"}),
    "admin": frozenset(READS),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token speaks for: an id, roles, a division-code prefix, an expiry."""

    id: str
    roles: tuple[str, ...]
    scope: str
    expires_at: datetime | None = None

    def covers(self, jurisdiction: str | None) -> bool:
        """Whether a division code lies inside this principal's scope."""
        return jurisdiction is not None and jurisdiction.startswith(self.scope)

    def covers_scope(self, prefix: str) -> bool:
        """Whether a whole division-code prefix lies inside this principal's scope."""
        return prefix.startswith(self.scope)

    @property
    def person(self) -> bool:
        """A person (not a backend service or an administrator acting for one)."""
        return not ({"service", "admin"} & set(self.roles))


def may_append(roles: tuple[str, ...], event_type: str) -> bool:
    """Whether one of the roles may emit this event type."""
    for role in roles:
        allowed, excepted = _APPENDS.get(role, ((), ()))
        if event_type.startswith(allowed) and not event_type.startswith(excepted or ("\0",)):
            return True
    return False


#: The roles a backend service may name as the actor of an event it relays (the mobile
#: case-handling app sends its officers' and reviewers' steps).
RELAYED_ROLES = frozenset({"officer", "reviewer", "service"})


def append_problems(principal: Principal, env: Envelope, held: str | None) -> list[Rejection]:
    """Why `principal` may not append `env` to a case recorded under `held` (None: a new
    case); empty when it may. A refusal names the token's scope, never another
    jurisdiction's code (docs/contract.md: refusals do not reveal another jurisdiction)."""
    problems: list[Rejection] = []
    outside = f"outside the token's scope {principal.scope or '(all)'}"
    if not principal.covers(env.jurisdiction):
        problems.append(Rejection("OUT_OF_SCOPE", f"case {env.case_id}: field jurisdiction "
                                  f"lies {outside}", "jurisdiction", None))
    if held is not None and not principal.covers(held):
        problems.append(Rejection("OUT_OF_SCOPE", f"case {env.case_id} is recorded under a "
                                  f"jurisdiction {outside}", "case_id", env.case_id))
    target = getattr(env.payload, "to_jurisdiction", None)
    if env.type == "case.transferred" and not principal.covers(target):
        problems.append(Rejection("OUT_OF_SCOPE", f"case {env.case_id}: payload.to_jurisdiction "
                                  f"lies {outside}; moving a case needs a scope over both "
                                  "divisions (APL Arts. 25-26)", "payload.to_jurisdiction", None))
    if not may_append(principal.roles, env.type):
        problems.append(Rejection("FORBIDDEN", f"roles {', '.join(principal.roles)} may not "
                                  f"emit {env.type}", "type", env.type))
    problems += _actor_problems(principal, env)
    return problems


def _actor_problems(principal: Principal, env: Envelope) -> list[Rejection]:
    actor = env.actor
    if principal.person:
        problems = []
        if actor.id != principal.id:
            problems.append(Rejection("FORBIDDEN", f"actor.id {actor.id} is not the token's "
                                      f"principal {principal.id}: a person appends only as "
                                      "itself", "actor.id", actor.id))
        if actor.role not in principal.roles:
            problems.append(Rejection("FORBIDDEN", f"actor.role {actor.role} is not a role of "
                                      f"the token ({', '.join(principal.roles)})", "actor.role",
                                      actor.role))
        return problems
    if "admin" in principal.roles or actor.role in RELAYED_ROLES:
        return []
    return [Rejection("FORBIDDEN", f"actor.role {actor.role}: a service token relays only "
                      f"{', '.join(sorted(RELAYED_ROLES))} steps", "actor.role", actor.role)]


def may_read(roles: tuple[str, ...], kind: str) -> bool:
    """Whether one of the roles may make this kind of reading."""
    return any(kind in _READS.get(role, frozenset()) for role in roles)


#: Roles whose work needs the ids of the persons they deal with.
PERSON_ID_ROLES = frozenset({"officer", "reviewer", "service", "admin"})


def sees_person_ids(roles: tuple[str, ...]) -> bool:
    """Whether one of the roles needs persons' ids unmasked."""
    return bool(PERSON_ID_ROLES & set(roles))


def mask_id(value: str) -> str:
    """A person's id with all but its first four and last four characters starred (ids of
    fewer than twelve characters keep one at each end)."""
    keep = 4 if len(value) >= 12 else 1
    if len(value) <= 2 * keep:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def mask_persons(body: Any, persons: set[str]) -> Any:
    """`body` (JSON-ready) with persons' ids masked: the `id` of every subject object whose
    `kind` is `person`, every `subject_id` found in `persons`, and those ids wherever the
    text of the object holding them names them (a finding's detail naming its subject, an
    event's free text naming the person of its payload), at any depth below it."""
    return _masked(body, persons, ())


#: An id shorter than this is masked where it is a whole value but not looked for inside
#: text: it could be part of a date, an amount or a word there.
_NAMED_IN_TEXT = 8


def _masked(body: Any, persons: set[str], named: tuple[str, ...]) -> Any:
    if isinstance(body, str):
        for person in named:
            if body == person:
                return mask_id(person)
            if len(person) >= _NAMED_IN_TEXT and person in body:
                body = body.replace(person, mask_id(person))
        return body
    if isinstance(body, list):
        return [_masked(item, persons, named) for item in body]
    if not isinstance(body, dict):
        return body
    held = _persons_held(body, persons)
    if held:  # the longest first: an id inside another is not starred twice
        named = tuple(sorted(set(named) | held, key=len, reverse=True))
    return {key: _masked(value, persons, named) for key, value in body.items()}


def _persons_held(body: dict[str, Any], persons: set[str]) -> set[str]:
    """The persons' ids an object holds: its own (a person's subject object), its
    `subject_id` if a person's, and those of its person subject objects one level down."""
    held: set[str] = set()
    for value in (body, *(v for v in body.values() if isinstance(v, dict))):
        if value.get("kind") == "person" and isinstance(value.get("id"), str) and value["id"]:
            held.add(value["id"])
    subject_id = body.get("subject_id")
    if isinstance(subject_id, str) and subject_id in persons and subject_id:
        held.add(subject_id)
    return held


def subject_ids_in(body: Any) -> set[str]:
    """Every `subject_id` value in a JSON-ready body."""
    if isinstance(body, list):
        return set().union(*(subject_ids_in(item) for item in body)) if body else set()
    if not isinstance(body, dict):
        return set()
    found = {body["subject_id"]} if isinstance(body.get("subject_id"), str) else set()
    for value in body.values():
        if isinstance(value, (dict, list)):
            found |= subject_ids_in(value)
    return found
