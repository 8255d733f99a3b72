"""The caller of a route: the bearer token's principal, and what it may read.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from casechain.application import authorisation
from casechain.application.case_log import CaseNotFound
from casechain.application.serving import Components
from casechain.domain.access import (
    Principal,
)
from casechain.entrypoints.http.problems import (
    ApiProblem,
)
from casechain.errors import TokenInvalid

__all__ = ["Caller"]

T = TypeVar("T")


# -- request pieces ---------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="An opaque token issued by `casechain tokens "
                                                   "issue`; roles and scope are filed with it.")


def _principal_of(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    components: Components = request.app.state.components
    try:
        return components.tokens.principal(credentials.credentials if credentials else None)
    except TokenInvalid as exc:
        raise ApiProblem(401, "UNAUTHENTICATED", str(exc)) from None


#: The authenticated caller of a route.
Caller = Annotated[Principal, Depends(_principal_of)]


def _scope(principal: Principal, asked: str | None) -> str:
    return authorisation.listing_scope(principal, asked)


def _require(principal: Principal, kind: str) -> None:
    authorisation.require_read(principal, kind)


def _case_in_scope(components: Components, principal: Principal, case_id: str) -> str:
    try:
        return authorisation.case_in_scope(components.case_log, principal, case_id)
    except CaseNotFound:
        raise ApiProblem(404, "NOT_FOUND", f"no case {case_id!r} is recorded (未找到案件)",
                         case_id=case_id) from None


def _for_reader(components: Components, principal: Principal, body: T) -> T:
    """The body as the principal may see it (application.authorisation.for_reader)."""
    return authorisation.for_reader(components.runner, principal, body)
