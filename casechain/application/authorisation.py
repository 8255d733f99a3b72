"""Who may read what, once for every entrypoint (docs/contract.md: tokens carry roles and a
jurisdiction scope; reads across cases stay inside it; persons' ids are masked for roles that
do not need them). Appends are authorised inside the append transaction instead
(`application.appending`).

A refusal is `AccessRefused` with the contract's code (`OUT_OF_SCOPE`, `FORBIDDEN`) and a
message naming only the principal's own scope; the HTTP API answers it 403.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from casechain.adapters.access_log import AccessLog
from casechain.adapters.tokens import issue_token
from casechain.application.case_log import CaseLog, CaseNotFound
from casechain.application.paging import Page, check_limit, page_rows, single_key_after
from casechain.application.queries import (
    case_jurisdictions,
    person_subjects,
    without_outside_cases,
)
from casechain.domain.access import (
    Principal,
    mask_persons,
    may_read,
    sees_person_ids,
    subject_ids_in,
)
from casechain.errors import AccessRefused, QueryInvalid
from casechain.projections.machinery import ProjectionRunner

__all__ = ["accesses_page", "case_in_scope", "for_reader", "issue_token", "listing_scope",
           "require_read"]

T = TypeVar("T")


def require_read(principal: Principal, kind: str) -> None:
    """FORBIDDEN unless one of the principal's roles may make this kind of reading."""
    if not may_read(principal.roles, kind):
        raise AccessRefused("FORBIDDEN", f"roles {', '.join(principal.roles)} may not read "
                            f"{kind.replace('_', ' ')} here", roles=list(principal.roles))


def listing_scope(principal: Principal, asked: str | None) -> str:
    """The scope of a listing: the asked prefix if it lies inside the principal's, the
    principal's own when none is asked; OUT_OF_SCOPE for a wider or another one."""
    if asked is None or asked == "":
        return principal.scope
    if not (asked.isascii() and asked.isdigit()):
        raise QueryInvalid("scope", asked, "is not a division-code prefix (ASCII digits)")
    if principal.covers_scope(asked):
        return asked
    if principal.scope.startswith(asked):
        raise AccessRefused("OUT_OF_SCOPE", f"scope {asked} is wider than the token's scope "
                            f"{principal.scope}", field="scope", value=asked)
    raise AccessRefused("OUT_OF_SCOPE", f"scope {asked} lies outside the token's scope "
                        f"{principal.scope}", field="scope", value=asked)


def case_in_scope(case_log: CaseLog, principal: Principal, case_id: str) -> str:
    """The case's jurisdiction if the principal may read it; `CaseNotFound` for a case never
    recorded, OUT_OF_SCOPE (naming no other jurisdiction) for one outside the scope."""
    held = case_log.jurisdictions([case_id]).get(case_id)
    if held is None:
        raise CaseNotFound(case_id)
    if not principal.covers(held):
        raise AccessRefused("OUT_OF_SCOPE", f"case {case_id} lies outside the token's scope "
                            f"{principal.scope} (超出管辖范围)", case_id=case_id)
    return held


def for_reader(runner: ProjectionRunner, principal: Principal, body: T) -> T:
    """`body` as this principal may see it: the cases of other jurisdictions it names replaced
    by "辖区外案件" (a scoped principal), persons' ids masked unless a role needs them."""
    shown: Any = body
    if principal.scope:
        shown = without_outside_cases(runner, shown, principal.scope)
    if sees_person_ids(principal.roles):
        return cast(T, shown)
    ids = subject_ids_in(shown)
    persons = person_subjects(runner, ids) if ids else set()
    return cast(T, mask_persons(shown, persons))


def accesses_page(runner: ProjectionRunner, log: AccessLog, principal: Principal,
                  case_id: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> Page:
    """A page of the access-log entries a principal may see, newest first (keyset on the
    entry's number: entries written meanwhile never shift a page), and how many there are.
    A scoped principal sees the reads of cases inside its scope only: its total sums the
    entries of those cases, and its page is read from the log a page's length at a time
    until the page is full."""
    size = check_limit(limit)
    before = single_key_after(cursor, int)
    inside: set[str] | None = None  # every entry, for a reader without a scope
    if principal.scope:
        counts = log.counts_by_resource(case_id)
        held = case_jurisdictions(runner, set(counts))
        inside = {r for r in counts if held.get(r, "").startswith(principal.scope)}
        total = sum(counts[r] for r in inside)
    else:
        total = log.count(case_id)
    chosen: list[dict[str, Any]] = []
    while len(chosen) <= size:  # one more than the page: there is a next page
        read = log.entries(case_id, size + 1, before)
        chosen += [e for e in read if inside is None or e["resource"] in inside]
        if len(read) <= size:
            break
        before = read[-1]["seq"]
    return page_rows(chosen, total, size, lambda entry: (entry["seq"],))
