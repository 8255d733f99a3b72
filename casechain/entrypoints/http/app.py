"""The HTTP API (`casechain serve`): append events, ask the views, prove the log.

FastAPI over the same use cases as the command line: `CaseLog.append_many` for appends (same
validation, codes and idempotency as `import`), `casechain.application.queries` for reads.
Every error is RFC 9457 problem+json carrying a DESIGN.md code; bad input is never a 500.

Security: a bearer token (`adapters.tokens`) names a principal with roles and a jurisdiction
scope (`domain.access`). Appends outside the scope are `OUT_OF_SCOPE`, event types the roles
may not emit `FORBIDDEN`, both 403; reads outside the scope are 403 `OUT_OF_SCOPE`. Every read
of a case's audit trail is written to the hash-chained access log before it is answered.

A follower thread keeps the views and the Merkle ledger caught up beside the writers; every
query also catches its views up first, so an answer never lags an append it follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import orjson
import structlog
from eventsourcing.persistence import PersistenceError
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from casechain.adapters.access_log import AccessLog
from casechain.adapters.ledger import AutoCheckpoint, Ledger
from casechain.adapters.tokens import TokenFile, TokenInvalid
from casechain.application import authorisation, supervision
from casechain.application.appending import GroupAppender, append_as
from casechain.application.case_log import AppendOutcome, CaseLog, CaseNotFound
from casechain.application.proofs import ProofError, inclusion_document
from casechain.application.queries import (
    BOARD_GROUPS,
    case_view,
    deadlines_as_of,
    statistics_of,
)
from casechain.domain.access import (
    READS,
    ROLE_LABELS,
    Principal,
    mask_persons,
    may_read,
    sees_person_ids,
)
from casechain.domain.bounds import MAX_ENVELOPE_BYTES
from casechain.domain.deadlines import ALERT_LABELS
from casechain.entrypoints.http.dashboard import register_dashboard
from casechain.errors import AccessRefused, CaseChainError, QueryInvalid, StoreError
from casechain.projections.machinery import ProjectionRunner

__all__ = ["ApiProblem", "Components", "create_app"]

log = structlog.get_logger("casechain.http")
T = TypeVar("T")

PROBLEM = "application/problem+json"
MAX_BATCH = 10_000
#: Largest batch body: 10,000 usual events fit many times over; a single envelope is bounded
#: by MAX_ENVELOPE_BYTES whatever the body.
MAX_BATCH_BYTES = 64 * 1024 * 1024
_STATUS = {"SCHEMA_INVALID": 422, "UNKNOWN_EVENT_TYPE": 422, "HASH_MISMATCH": 422,
           "OUT_OF_SCOPE": 403, "FORBIDDEN": 403, "CONCURRENCY_CONFLICT": 409}
_TITLES = {
    "UNAUTHENTICATED": "未认证 — no valid bearer token",
    "OUT_OF_SCOPE": "超出管辖范围 — outside the token's jurisdiction scope",
    "FORBIDDEN": "无权操作 — the token's roles may not do this",
    "NOT_FOUND": "未找到 — no such resource",
    "SCHEMA_INVALID": "格式不符 — the request does not match the schema",
    "CONCURRENCY_CONFLICT": "并发冲突 — the case is not at the expected seq",
    "STORE_UNAVAILABLE": "存储不可用 — the event store cannot be reached",
    "PROOF_UNAVAILABLE": "无法出具证明 — the proof cannot be made yet",
    "INTERNAL": "内部错误 — an unexpected error; nothing was appended by this request",
}


class ApiProblem(Exception):
    """An RFC 9457 problem: HTTP status, DESIGN.md code, detail, and extra members."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra

    def response(self, instance: str) -> JSONResponse:
        """The problem+json response."""
        body = {"type": f"urn:casechain:problem:{self.code}", "code": self.code,
                "title": _TITLES.get(self.code, "事件被拒绝 — the event was rejected"),
                "status": self.status, "detail": self.detail, "instance": instance, **self.extra}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM, headers=headers)


@dataclass
class Components:
    """What the API works on: the case log, its views, tokens, access log and ledger."""

    case_log: CaseLog
    runner: ProjectionRunner
    tokens: TokenFile
    max_lag: int = 100_000
    follow_interval: float = 1.0
    access_log: AccessLog = field(init=False)
    ledger: Ledger = field(init=False)
    appender: GroupAppender = field(init=False)
    reading: threading.Lock = field(default_factory=threading.Lock)
    follower: threading.Thread | None = None
    follower_error: str | None = None
    #: Signed checkpoints made by the follower itself (serve --key).
    checkpoints: AutoCheckpoint | None = None

    def __post_init__(self) -> None:
        self.access_log = AccessLog(self.case_log.store)
        self.ledger = Ledger(self.case_log.store)
        self.appender = GroupAppender(self.case_log)

    def follow(self, stop: threading.Event) -> None:
        """Keep the views and the ledger caught up until `stop` is set. A failure is logged
        and shown by /readyz until a later round succeeds; the thread never dies of one."""
        self.follower_error = None
        while not stop.wait(self.follow_interval):
            try:
                with self.reading:
                    self.runner.catch_up()
                    self.ledger.catch_up()
                if self.checkpoints is not None:
                    self.checkpoints.maybe()
            except (CaseChainError, PersistenceError) as exc:  # say so, try again later
                log.warning("follow.failed", error=str(exc).strip())
                self.follower_error = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            except Exception as exc:  # a defect: keep the server answering, say so loudly
                log.exception("follow.crashed")
                self.follower_error = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            else:
                self.follower_error = None

    def follower_state(self) -> str:
        """"ok", or why the views and the ledger are not being kept up."""
        if self.follower is not None and not self.follower.is_alive():
            return "the follower thread has stopped"
        return f"failing: {self.follower_error}" if self.follower_error else "ok"

    def read(self, query: Callable[[], T]) -> T:
        """Run a query of the views (one at a time: each catches its views up first)."""
        with self.reading:
            return query()


# -- request pieces ---------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="An opaque token issued by `casechain tokens "
                                                   "issue`; roles and scope are filed with it.")


def _principal_of(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    tokens: TokenFile = request.app.state.components.tokens
    try:
        return tokens.principal(credentials.credentials if credentials else None)
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
    return components.read(lambda: authorisation.for_reader(components.runner, principal, body))


# -- the application ------------------------------------------------------------------------
def create_app(components: Components, follow: bool = True) -> FastAPI:
    """The FastAPI application over the given components."""
    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = threading.Thread(target=components.follow, args=(stop,), daemon=True,
                                  name="casechain-follow")
        if follow:
            worker.start()
            components.follower = worker
        yield
        stop.set()
        components.appender.close()
        if follow:
            worker.join(timeout=10)

    app = FastAPI(
        title="CaseChain", version="1",
        summary="行政执法案件全程留痕 — the record of every step of every enforcement case",
        description=__doc__, lifespan=lifespan,
        responses={401: {"description": "未认证: no, unknown or expired token",
                         "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}},
                   403: {"description": "OUT_OF_SCOPE or FORBIDDEN",
                         "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}},
                   404: {"description": "NOT_FOUND: no such case, subject or route",
                         "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}},
                   413: {"description": "SCHEMA_INVALID: the body is larger than accepted",
                         "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}},
                   422: {"description": "SCHEMA_INVALID: a parameter or body is malformed",
                         "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}},
                   503: {"description": "STORE_UNAVAILABLE",
                         "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}}})
    app.state.components = components
    _install_error_handlers(app)

    _routes_append(app, components)
    _routes_cases(app, components)
    _routes_supervision(app, components)
    _routes_audit(app, components)
    _routes_health(app, components)
    register_dashboard(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> Response:
        return exc.response(request.url.path)

    @app.exception_handler(AccessRefused)
    async def _refused(request: Request, exc: AccessRefused) -> Response:
        return ApiProblem(403, exc.code, str(exc), **exc.extra).response(request.url.path)

    @app.exception_handler(QueryInvalid)
    async def _query(request: Request, exc: QueryInvalid) -> Response:
        return ApiProblem(422, "SCHEMA_INVALID", f"query parameter {exc}", field=exc.field,
                          value=exc.value if isinstance(exc.value, (str, int)) else None
                          ).response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid')}"
        return ApiProblem(422, "SCHEMA_INVALID", detail, field=where,
                          errors=[{"field": ".".join(str(p) for p in e.get("loc", ())),
                                   "message": str(e.get("msg"))} for e in exc.errors()]
                          ).response(request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = "NOT_FOUND" if exc.status_code == 404 else "SCHEMA_INVALID"
        return ApiProblem(exc.status_code, code, str(exc.detail)).response(request.url.path)

    @app.exception_handler(StoreError)
    @app.exception_handler(PersistenceError)  # unreachable, lost, or its tables gone
    async def _store(request: Request, exc: Exception) -> Response:
        log.error("store.unavailable", path=request.url.path, error=str(exc).strip())
        if request.url.path == "/v1/events/batch":
            # A batch goes in transactions of 1,000: those before the failure are stored.
            detail = ("the event store failed during this batch; events of it may have been "
                      "appended before the failure — send the whole batch again once the store "
                      "is back: those already stored come back as duplicate, nothing twice")
        else:
            detail = ("the event store cannot be reached; nothing was changed by this request "
                      "— try again later (the server log has the details)")
        return ApiProblem(503, "STORE_UNAVAILABLE", detail).response(request.url.path)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("request.failed", path=request.url.path)
        return ApiProblem(500, "INTERNAL", f"{type(exc).__name__}; the server log has the "
                          "details").response(request.url.path)


# -- appends ---------------------------------------------------------------------------------
_EXAMPLE_EVENT = {
    "event_id": "5b0e7c52-3f0c-4c53-9d5e-0f4b1c7d9a01", "case_id": "HZ-2025-0000001",
    "type": "supervision.clue_registered", "occurred_at": "2025-03-03T09:15:00+08:00",
    "actor": {"id": "officer-0001", "role": "officer", "cert_no": "33010600001"},
    "jurisdiction": "330106001",
    "payload": {"subject": {"id": "P68018465858", "name": "张三", "kind": "person"},
                "source": "patrol", "urgent": False, "description": "占道经营"},
}
_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["index", "status"],
    "properties": {"index": {"type": "integer"},
                   "status": {"type": "string", "enum": ["appended", "duplicate", "rejected"]},
                   "case_id": {"type": ["string", "null"]},
                   "event_id": {"type": ["string", "null"]},
                   "seq": {"type": "integer"}, "position": {"type": "integer"},
                   "rejections": {"type": "array", "items": {"type": "object"}}}}
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "code", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "code": {"type": "string"},
                   "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "rejections": {"type": "array", "items": {"type": "object"}}}}


def _envelope_body(example: Any, many: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "array", "items": {"type": "object"}} if many else {
        "type": "object", "required": ["event_id", "case_id", "type", "occurred_at", "actor",
                                       "jurisdiction", "payload"]}
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": body, "examples": {"event": {"summary": "a clue registered on patrol",
                                               "value": example}}}}}}


async def _json_body(request: Request, limit: int) -> Any:
    """The request's JSON body, read no further than `limit` bytes (413 beyond it)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise ApiProblem(422, "SCHEMA_INVALID", f"the body is not JSON ({exc})") from None


def _too_large(size: int, limit: int) -> ApiProblem:
    return ApiProblem(413, "SCHEMA_INVALID", f"the body is at least {size:,} bytes; at most "
                      f"{limit:,} are accepted here (an envelope is at most 256 KiB; keep "
                      "documents in the evidence store and send their sha256)",
                      field="body", value=size)


def _append_all(components: Components, principal: Principal, raws: list[Any]
                ) -> list[AppendOutcome]:
    """Authorise and append one principal's envelopes in order (no grouping)."""
    return append_as(components.case_log, [(principal, raw) for raw in raws])


def _routes_append(app: FastAPI, components: Components) -> None:
    @app.post("/v1/events", tags=["append"], status_code=201,
              summary="Append one event (追加事件)",
              openapi_extra=_envelope_body(_EXAMPLE_EVENT),
              responses={200: {"description": "a duplicate: this event_id is recorded already",
                               "content": {"application/json": {"schema": _OUTCOME_SCHEMA}}},
                         201: {"description": "appended",
                               "content": {"application/json": {"schema": _OUTCOME_SCHEMA}}},
                         409: {"description": "CONCURRENCY_CONFLICT",
                               "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}}})
    async def append_one(request: Request, principal: Caller) -> Response:
        """Append one envelope with the rules of `import`: validated, judged against the
        lifecycle and the rule pack in force, chained. The same event_id again is a
        duplicate (200), not an error. A rejection lists every broken rule, most
        fundamental first, as problem+json with the first rule's code."""
        raw = await _json_body(request, MAX_ENVELOPE_BYTES)
        (outcome,) = await asyncio.wrap_future(components.appender.submit(principal, [raw]))
        if outcome.status == "rejected":
            first = outcome.rejections[0]
            raise ApiProblem(_STATUS.get(first.code, 422), first.code,
                             "; ".join(r.message for r in outcome.rejections),
                             case_id=outcome.case_id, event_id=outcome.event_id,
                             rejections=[r.as_dict() for r in outcome.rejections])
        return JSONResponse(outcome.as_dict(), status_code=201 if outcome.status == "appended"
                            else 200)

    @app.post("/v1/events/batch", tags=["append"], summary="Append a batch (批量追加)",
              openapi_extra=_envelope_body([_EXAMPLE_EVENT], many=True),
              responses={200: {"description": "one result per event, in order",
                               "content": {"application/json": {"schema": {
                                   "type": "object", "properties": {
                                       "appended": {"type": "integer"},
                                       "duplicates": {"type": "integer"},
                                       "rejected": {"type": "integer"},
                                       "results": {"type": "array", "items": _OUTCOME_SCHEMA}}}}}}})
    async def append_batch(request: Request, principal: Caller) -> Response:
        """Append a JSON array of envelopes in order, each judged on its own — per-event
        results, like `import`: a rejected event does not stop the others (a later event of
        the same case is judged against what was appended before it)."""
        raws = await _json_body(request, MAX_BATCH_BYTES)
        if not isinstance(raws, list):
            raise ApiProblem(422, "SCHEMA_INVALID", "the body must be a JSON array of envelopes")
        if len(raws) > MAX_BATCH:
            raise ApiProblem(422, "SCHEMA_INVALID", f"a batch holds at most {MAX_BATCH} events; "
                             f"this one has {len(raws)}", field="body", value=len(raws))
        outcomes = await asyncio.wrap_future(components.appender.submit(principal, raws))
        counts = {s: sum(1 for o in outcomes if o.status == s)
                  for s in ("appended", "duplicate", "rejected")}
        return JSONResponse({"appended": counts["appended"], "duplicates": counts["duplicate"],
                             "rejected": counts["rejected"],
                             "results": [o.as_dict() for o in outcomes]})


# -- cases -------------------------------------------------------------------------------------
def _routes_cases(app: FastAPI, components: Components) -> None:
    @app.get("/v1/cases/{case_id}", tags=["cases"], summary="A case and its audit timeline (案件)")
    def get_case(case_id: str, principal: Caller) -> dict[str, Any]:
        """Stage, state, subject and every event with actor, source, occurred and recorded
        times and the rule-pack version in force. The read is itself recorded."""
        _require(principal, "case")
        _case_in_scope(components, principal, case_id)
        components.access_log.record(principal, "case.read", case_id)
        try:
            body = components.read(lambda: case_view(components.case_log, components.runner,
                                                     case_id, principal.scope))
        except CaseNotFound:
            raise ApiProblem(404, "NOT_FOUND", f"no case {case_id!r}") from None
        return _for_reader(components, principal, body)

    @app.get("/v1/cases/{case_id}/events", tags=["cases"],
             summary="Export a case as JSON Lines (导出)",
             responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                              "description": "one exported envelope a line"}})
    def export_case(case_id: str, principal: Caller) -> Response:
        """The case's events as exported envelopes, one a line, importable elsewhere. For
        roles that do not need persons' ids (supervisor, auditor) the ids are masked, and such
        an export is for reading only: its hashes no longer match (re-import refuses it)."""
        _require(principal, "case")
        _case_in_scope(components, principal, case_id)
        components.access_log.record(principal, "case.export", case_id)
        records = components.case_log.case_records(case_id)
        if not sees_person_ids(principal.roles):
            records = [mask_persons(record, set()) for record in records]
        return Response(b"".join(orjson.dumps(r) + b"\n" for r in records),
                        media_type="application/x-ndjson")

    @app.get("/v1/cases/{case_id}/proof", tags=["ledger"],
             summary="Inclusion proof of a case's events (存在性证明)")
    def case_proof(case_id: str, principal: Caller,
                   seq: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
        """Inclusion proofs against the latest signed checkpoint; check them offline with
        `casechain verify-proof` and the public key."""
        _require(principal, "ledger")
        _case_in_scope(components, principal, case_id)
        components.access_log.record(principal, "case.proof", case_id)
        try:
            with components.reading:
                components.ledger.catch_up()
                return inclusion_document(components.case_log, components.ledger, case_id, seq)
        except ProofError as exc:
            raise ApiProblem(409, "PROOF_UNAVAILABLE", str(exc), case_id=case_id) from None


# -- supervision ----------------------------------------------------------------------------
AsOf = Annotated[str | None, Query(description="ISO 8601 instant; no offset means Asia/Shanghai; "
                                               "default now", examples=["2025-10-15T09:00:00+08:00"])]
Scope = Annotated[str | None, Query(description="division-code prefix inside the token's scope",
                                    examples=["330106"])]


def _routes_supervision(app: FastAPI, components: Components) -> None:
    runner = components.runner

    @app.get("/v1/board", tags=["supervision"], summary="Supervision board (监管看板)")
    def board(principal: Caller, scope: Scope = None, team: str | None = None,
              stage: str | None = None, state: str | None = None, item_code: str | None = None,
              officer: str | None = None,
              count_by: Annotated[str | None, Query(
                  json_schema_extra={"enum": list(BOARD_GROUPS)})] = None) -> Any:
        """Cases by jurisdiction prefix, team, stage, state, item and officer: listed, or
        counted by one of district, team, stage, state, item_code."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        return components.read(lambda: supervision.board(runner, where, {
            "team": team, "stage": stage, "state": state, "item_code": item_code}, officer,
            count_by))

    @app.get("/v1/alerts", tags=["supervision"], summary="Alerts as of an instant (预警)")
    def alerts(principal: Caller, as_of: AsOf = None, scope: Scope = None,
               code: Annotated[str | None, Query(json_schema_extra={"enum": sorted(ALERT_LABELS)})] = None
               ) -> list[dict[str, Any]]:
        """Yellow (20% or less left), red (overdue) and info deadlines, and the referral and
        subject-register checks across cases; each with code, case_id, severity, due_at and
        a zh-CN detail naming the rule and article."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        return _for_reader(components, principal, components.read(
            lambda: supervision.supervision_alerts(runner, moment, where, code)))

    @app.get("/v1/deadlines", tags=["supervision"], summary="Running deadlines (法定时限)")
    def deadlines(principal: Caller, as_of: AsOf = None, scope: Scope = None,
                  code: Annotated[str | None, Query(json_schema_extra={"enum": sorted(ALERT_LABELS)})] = None
                  ) -> list[dict[str, Any]]:
        """Every running statutory deadline with its colour, green ones included."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        return components.read(lambda: deadlines_as_of(runner, moment, where, code))

    @app.get("/v1/referrals", tags=["supervision"], summary="行刑衔接 referral view")
    def referrals(principal: Caller, as_of: AsOf = None, scope: Scope = None) -> dict[str, Any]:
        """Cases reaching a criminal threshold or with referral steps, and rates."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        return _for_reader(components, principal, components.read(
            lambda: supervision.referrals(runner, moment, where)))

    @app.get("/v1/subjects/{subject_id}", tags=["supervision"],
             summary="Subject register (一户一档)")
    def subject(subject_id: str, principal: Caller, as_of: AsOf = None) -> dict[str, Any]:
        """A subject's cases and decisions inside the token's scope, inspections per year,
        colour (三色管理) and alerts."""
        _require(principal, "supervision")
        moment = supervision.as_of(as_of)
        register = components.read(lambda: supervision.subject_register(
            runner, moment, subject_id, principal.scope))
        if register is None:
            raise ApiProblem(404, "NOT_FOUND", f"no subject {subject_id!r} is recorded")
        if not register["cases"] and register["outside_scope"]["cases"]:
            raise ApiProblem(403, "OUT_OF_SCOPE", f"subject {subject_id} has no case inside the "
                             f"token's scope {principal.scope}")
        return _for_reader(components, principal, register)

    @app.get("/v1/statistics", tags=["supervision"], summary="Statistics (统计)")
    def statistics(principal: Caller, scope: Scope = None) -> dict[str, Any]:
        """Filed / decided / closed / referred per team, district and month; 首案突破."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        return components.read(lambda: statistics_of(runner, where))

    @app.get("/v1/response", tags=["supervision"], summary="1315 response (1315快速响应)")
    def response(principal: Caller, scope: Scope = None) -> list[dict[str, Any]]:
        """Urgent clues per team and district: shares within 1 / 3 / 15 minutes."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        return components.read(lambda: supervision.urgent_response(runner, where))


# -- audit: export, ledger, access log --------------------------------------------------------
def _routes_audit(app: FastAPI, components: Components) -> None:
    @app.get("/v1/export", tags=["audit"], summary="Export a range of the log as JSON Lines",
             responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                              "description": "one exported envelope a line, streamed"}})
    def export_range(principal: Caller,
                     after: Annotated[int, Query(ge=0, description="position to start after")] = 0,
                     until: Annotated[int | None, Query(ge=1)] = None) -> Response:
        """Events in global order, streamed, those of cases inside the token's scope only."""
        _require(principal, "export")
        components.access_log.record(principal, "log.export", f"positions {after + 1}-{until or ''}")
        return StreamingResponse(_export_lines(components, principal, after, until),
                                 media_type="application/x-ndjson")

    @app.get("/v1/ledger", tags=["ledger"], summary="Ledger head and latest checkpoint")
    def ledger(principal: Caller) -> dict[str, Any]:
        """The tree size, root, and the latest signed checkpoint."""
        _require(principal, "ledger")
        with components.reading:
            components.ledger.catch_up()
            size, root = components.ledger.root()
            latest = components.ledger.latest_checkpoint()
        return {"tree_size": size, "root_hash": root.hex(),
                "latest_checkpoint": latest.as_dict() if latest else None}

    @app.get("/v1/ledger/verification", tags=["ledger"], summary="Verify the whole log (校验)")
    def verification(principal: Caller) -> dict[str, Any]:
        """Recompute every case chain and the tree; compare every stored checkpoint."""
        _require(principal, "ledger")
        with components.reading:
            components.ledger.catch_up()
            return components.ledger.verify().as_dict()

    @app.get("/v1/access-log", tags=["audit"], summary="Who read which audit trail (查阅记录)")
    def access_log(principal: Caller, case_id: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
        """The latest access-log entries (newest first), and whether the chain is intact."""
        _require(principal, "access_log")
        entries, head, problem = components.access_log.verify()
        listed = components.access_log.entries(case_id, limit)
        if principal.scope:  # only the reads of cases inside the scope (DESIGN.md, scoped reads)
            held = components.case_log.jurisdictions({e["resource"] for e in listed})
            listed = [e for e in listed if (held.get(e["resource"]) or "").startswith(
                principal.scope)]
        return {"entries": listed, "count": entries,
                "head_hash": head, "intact": problem is None,
                "problem": problem.as_dict() if problem else None}


def _export_lines(components: Components, principal: Principal, after: int,
                  until: int | None) -> Iterator[bytes]:
    page: list[bytes] = []
    for record in components.case_log.export(after=after):
        if until is not None and record["position"] > until:
            break
        if principal.covers(record.get("jurisdiction")):
            page.append(orjson.dumps(record) + b"\n")
        if len(page) >= 500:
            yield b"".join(page)
            page = []
    if page:
        yield b"".join(page)


# -- health ----------------------------------------------------------------------------------
def _routes_health(app: FastAPI, components: Components) -> None:
    @app.get("/healthz", tags=["health"], summary="The process is alive")
    def healthz() -> dict[str, str]:
        """Always 200 while the server answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The store answers and the views keep up",
             responses={503: {"description": "not ready",
                              "content": {"application/json": {"schema": {"type": "object"}}}}})
    def readyz() -> Response:
        """200 when the store answers and no view lags more than the configured events."""
        try:
            statuses = components.runner.status()
        except (StoreError, PersistenceError) as exc:
            return JSONResponse({"ready": False, "store": "unreachable",
                                 "detail": str(exc).strip()}, status_code=503)
        views = {s.name: {"position": s.position, "lag": s.lag} for s in statuses}
        worst = max((s.lag for s in statuses), default=0)
        follower = components.follower_state()
        ready = worst <= components.max_lag and follower == "ok"
        return JSONResponse({"ready": ready, "store": "ok", "follower": follower,
                             "max_lag": components.max_lag, "views": views},
                            status_code=200 if ready else 503)

    @app.get("/v1/whoami", tags=["health"], summary="Who the token speaks for (当前身份)")
    def whoami(principal: Caller) -> dict[str, Any]:
        """The principal, its roles (with zh-CN labels), scope, expiry and the kinds of
        reading it may make; the dashboard shows only what these allow."""
        return {"principal": principal.id, "roles": list(principal.roles),
                "role_labels": [ROLE_LABELS.get(r, r) for r in principal.roles],
                "scope": principal.scope,
                "expires_at": principal.expires_at.isoformat() if principal.expires_at else None,
                "reads": [kind for kind in READS if may_read(principal.roles, kind)],
                "sees_person_ids": sees_person_ids(principal.roles)}
