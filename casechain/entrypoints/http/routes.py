"""The routes of the HTTP API: appends, cases, supervision, audit, health.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import orjson
import structlog
from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute

from casechain.application import authorisation, supervision
from casechain.application import breaches as breach_register
from casechain.application import devices as device_register
from casechain.application.appending import append_as
from casechain.application.case_log import AppendOutcome, CaseNotFound
from casechain.application.case_page import case_page, case_subject_id
from casechain.application.exports import PANELS, panel_table, to_csv, to_xlsx
from casechain.application.paging import MAX_LIMIT, Page
from casechain.application.proofs import ProofError, inclusion_document
from casechain.application.queries import (
    BOARD_GROUPS,
    statistics_of,
)
from casechain.application.serving import Components
from casechain.domain.access import (
    READS,
    ROLE_LABELS,
    Principal,
    mask_persons,
    may_read,
    sees_person_ids,
)
from casechain.domain.bounds import MAX_ENVELOPE_BYTES
from casechain.domain.calendar import SHANGHAI
from casechain.domain.deadlines import ALERT_LABELS
from casechain.entrypoints.http.auth import (
    Caller,
    _case_in_scope,
    _for_reader,
    _require,
    _scope,
)
from casechain.entrypoints.http.problems import (
    _PROBLEM_SCHEMA,
    _STATUS,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    PROBLEM,
    ApiProblem,
)
from casechain.errors import StoreError

__all__ = ["register_routes"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

log = structlog.get_logger("casechain.http")

#: An endpoint function, as `APIRouter.get` registers it.
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


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


def _envelope_body(example: Any, many: bool = False) -> dict[str, Any]:
    """The request body: an envelope (`Envelope`, one schema per event type chosen by `type`,
    put in the document's components by `app.openapi_with_envelopes`), or an array of them."""
    one = {"$ref": "#/components/schemas/Envelope"}
    body: dict[str, Any] = {"type": "array", "items": one, "maxItems": MAX_BATCH} if many else one
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
    def get_case(case_id: str, principal: Caller, as_of: AsOf = None) -> dict[str, Any]:
        """Stage, state, subject and every event with actor, source, occurred and recorded
        times and the rule-pack version in force; as of `as_of` (default now) its alerts,
        its row of the referral view (the same row `/v1/referrals` lists), amounts and
        fines, officers with 执法证号, and whether its hash chain recomputes. The read is
        itself recorded."""
        _require(principal, "case")
        with components.reads_together():
            _case_in_scope(components, principal, case_id)
            moment = supervision.as_of(as_of)
            components.access_log.record(principal, "case.read", case_id)
            try:
                body = case_page(components.case_log, components.runner, case_id,
                                 principal.scope, moment)
            except CaseNotFound:
                raise ApiProblem(404, "NOT_FOUND", f"no case {case_id!r}") from None
            return _for_reader(components, principal, body)

    @app.get("/v1/cases/{case_id}/subject", tags=["cases"],
             summary="The register of a case's subject (一户一档)")
    def case_subject(case_id: str, principal: Caller, as_of: AsOf = None) -> dict[str, Any]:
        """The subject register of the case's party, resolved by the server: a reader who sees
        persons' ids masked reaches the register through the case."""
        _require(principal, "supervision")
        _case_in_scope(components, principal, case_id)
        try:
            subject_id = case_subject_id(components.case_log, case_id)
        except CaseNotFound:
            raise ApiProblem(404, "NOT_FOUND", f"no case {case_id!r}") from None
        if subject_id is None:
            raise ApiProblem(404, "NOT_FOUND", f"case {case_id!r} names no subject")
        register = supervision.subject_register(components.runner, supervision.as_of(as_of),
                                                subject_id, principal.scope)
        if register is None:
            raise ApiProblem(404, "NOT_FOUND", f"case {case_id!r}: its subject has no register")
        return _for_reader(components, principal, register)

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
            with components.ledger_lock:
                components.ledger.catch_up()
                return inclusion_document(components.case_log, components.ledger, case_id, seq)
        except ProofError as exc:
            raise ApiProblem(409, "PROOF_UNAVAILABLE", str(exc), case_id=case_id) from None


# -- supervision ----------------------------------------------------------------------------
AsOf = Annotated[str | None, Query(description="ISO 8601 instant; no offset means Asia/Shanghai; "
                                               "default now", examples=["2025-10-15T09:00:00+08:00"])]
Scope = Annotated[str | None, Query(description="division-code prefix inside the token's scope",
                                    examples=["330106"])]


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows a page holds at most")]
Cursor = Annotated[str | None, Query(max_length=512, description=(
    "where the page starts: the X-Next-Cursor of the previous page (leave out to start)"))]
AlertCode = Annotated[str | None, Query(json_schema_extra={"enum": sorted(ALERT_LABELS)})]
BreachCode = Annotated[str | None, Query(json_schema_extra={
    "enum": list(breach_register.BREACH_CODES)})]
Severity = Annotated[str | None, Query(description="only this colour", json_schema_extra={
    "enum": list(supervision.DEADLINE_SEVERITIES)})]
SummaryBy = Annotated[str, Query(description="count by district (6 digits) or street (9)",
                                 json_schema_extra={"enum": list(supervision.SUMMARY_BY)})]
#: The headers of a paged listing (documented on each of its routes).
PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": {"description": "rows the whole listing holds",
                      "schema": {"type": "integer"}},
    "X-Next-Cursor": {"description": "the cursor of the next page (absent on the last)",
                      "schema": {"type": "string"}},
    "Link": {"description": 'RFC 8288: <…&cursor=…>; rel="next" (absent on the last page)',
             "schema": {"type": "string"}}}
PAGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "one page of the listing", "headers": PAGE_HEADERS}}


def _paged(request: Request, response: Response, page: Page) -> None:
    """Say the total and where the next page starts, in headers (the body stays the rows)."""
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor is not None:
        response.headers["X-Next-Cursor"] = page.next_cursor
        response.headers["Link"] = (
            f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"')


async def _listing_slot() -> AsyncIterator[None]:
    """Held while a supervision listing is computed (see `_routes_supervision`)."""
    yield


def _on_one_connection(router: APIRouter, components: Components
                       ) -> Callable[..., Callable[[Endpoint], Endpoint]]:
    """`router.get`, the endpoint's reads made on one connection (`Components.reads_together`):
    a page of alerts makes a dozen reads — the views' positions, the page, its rows, the
    jurisdictions and persons it names — each of which would otherwise check a connection
    out, ping it and wrap itself in BEGIN and COMMIT."""
    def get(path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            @functools.wraps(endpoint)
            def reading_together(*args: Any, **kwargs: Any) -> Any:
                with components.reads_together():
                    return endpoint(*args, **kwargs)

            router.get(path, **options)(reading_together)
            return endpoint
        return register
    return get


def _routes_supervision(app: FastAPI, components: Components) -> list[BaseRoute]:
    """The supervisors' listings, at most `components.listing_slots` computed at once: each
    scans a district's or the city's views (a city-wide page of alerts keeps a core of the
    database busy for a tenth of a second), so a few supervisors polling could take every
    core from an officer's case read. The others wait their turn in the event loop, holding
    no thread (FastAPI's `Depends(max_concurrency=...)`); the slot is given back once the
    answer is encoded as JSON, before it is compressed and sent."""
    runner = components.runner
    router = APIRouter(dependencies=[Depends(_listing_slot, scope="function",
                                             max_concurrency=components.listing_slots)])
    get = _on_one_connection(router, components)

    @get("/v1/board", tags=["supervision"], summary="Supervision board (监管看板)",
         responses=PAGED)
    def board(request: Request, response: Response, principal: Caller, scope: Scope = None,
              team: str | None = None, stage: str | None = None, state: str | None = None,
              item_code: str | None = None, officer: str | None = None,
              count_by: Annotated[str | None, Query(
                  json_schema_extra={"enum": list(BOARD_GROUPS)})] = None,
              limit: Limit = 1000, cursor: Cursor = None, as_of: AsOf = None) -> Any:
        """Cases by jurisdiction prefix, team, stage, state, item and officer: listed a page
        at a time in case-id order, or counted by one of district, team, stage, state,
        item_code. With `as_of` (counts only): the cases that had occurred by then, by
        their district, team or stage at that instant."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        filters = {"team": team, "stage": stage, "state": state, "item_code": item_code}
        if count_by is not None or as_of is not None:
            moment = None if as_of is None else supervision.as_of(as_of)
            return supervision.board(runner, where, filters, officer, count_by, moment)
        page = supervision.board_page(runner, where, filters, officer, limit, cursor)
        _paged(request, response, page)
        return page.rows

    @get("/v1/alerts", tags=["supervision"], summary="Alerts as of an instant (预警)",
         responses=PAGED)
    def alerts(request: Request, response: Response, principal: Caller, as_of: AsOf = None,
               scope: Scope = None, code: AlertCode = None, severity: Severity = None,
               limit: Limit = 1000, cursor: Cursor = None) -> list[dict[str, Any]]:
        """Yellow (20% or less left), red (overdue) and info deadlines, and the referral and
        subject-register checks across cases; each with code, case_id, severity, due_at and
        a zh-CN detail naming the rule and article. A page at a time in due order; the
        counts of all of them: /v1/alerts/summary."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        page = supervision.alerts_page(runner, moment, where, code, limit, cursor, severity)
        _paged(request, response, page)
        return _for_reader(components, principal, page.rows)

    @get("/v1/alerts/summary", tags=["supervision"],
         summary="How many alerts, by code, severity, team and place (预警汇总)")
    def alert_summary(principal: Caller, as_of: AsOf = None, scope: Scope = None,
                      by: SummaryBy = "district") -> dict[str, Any]:
        """The count of alerts as of an instant by code × severity × team × district (or
        street): what a dashboard asks first, the rows on demand from /v1/alerts."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        return supervision.alert_summary(runner, moment, where, by)

    @get("/v1/deadlines", tags=["supervision"], summary="Running deadlines (法定时限)",
         responses=PAGED)
    def deadlines(request: Request, response: Response, principal: Caller, as_of: AsOf = None,
                  scope: Scope = None, code: AlertCode = None, severity: Severity = None,
                  limit: Limit = 1000, cursor: Cursor = None) -> list[dict[str, Any]]:
        """Every running statutory deadline with its colour, green ones included, a page at
        a time in due order."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        page = supervision.deadlines_page(runner, moment, where, code, limit, cursor, severity)
        _paged(request, response, page)
        return page.rows

    @get("/v1/deadlines/summary", tags=["supervision"],
         summary="How many running deadlines, by code, colour, team and place (时限汇总)")
    def deadline_summary(principal: Caller, as_of: AsOf = None, scope: Scope = None,
                         by: SummaryBy = "district") -> dict[str, Any]:
        """The count of running deadlines (green ones too) as of an instant by code ×
        colour × team × district (or street)."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        return supervision.deadline_summary(runner, moment, where, by)

    @get("/v1/breaches", tags=["supervision"], summary="Deadlines met late (违限记录)",
         responses=PAGED)
    def breaches(request: Request, response: Response, principal: Caller, scope: Scope = None,
                 code: BreachCode = None,
                 met_from: Annotated[str | None, Query(alias="from", description=(
                     "met at or after this instant (ISO 8601; no offset: Asia/Shanghai)"))] = None,
                 met_to: Annotated[str | None, Query(alias="to", description=(
                     "met before this instant"))] = None,
                 limit: Limit = 1000, cursor: Cursor = None) -> list[dict[str, Any]]:
        """Every statutory deadline met after its due instant: code, case, team, officers,
        due_at, met_at and lateness, in the order they were met, a page at a time — kept
        for evaluation (监督评价, 执法质效) after the alert is gone."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        start = None if met_from is None else supervision.as_of(met_from, "from")
        end = None if met_to is None else supervision.as_of(met_to, "to")
        page = breach_register.breaches_page(runner, where, code, start, end, limit, cursor)
        _paged(request, response, page)
        return page.rows

    @get("/v1/devices", tags=["supervision"], summary="Device register (非现场执法设备台账)",
         responses=PAGED)
    def devices(request: Request, response: Response, principal: Caller, scope: Scope = None,
                limit: Limit = 1000, cursor: Cursor = None,
                as_of: AsOf = None) -> dict[str, Any]:
        """The devices registered inside the scope (APL Art. 41): kind, location, legal and
        technical review, publication, retirement, their captures, the captures reviewed,
        the parties told and the penalties resting on them; a page at a time in device-id
        order, with devices, captures and penalties per district. With `as_of`: the register
        as it stood then (registered, retired, captured, reviewed, told, penalised by then)."""
        _require(principal, "supervision")
        moment = None if as_of is None else supervision.as_of(as_of)
        page = device_register.devices_page(runner, _scope(principal, scope), limit, cursor,
                                            moment)
        _paged(request, response, page)
        return {"devices": page.rows, "districts": page.extra["districts"]}

    @get("/v1/referrals", tags=["supervision"], summary="行刑衔接 referral view",
         responses=PAGED)
    def referrals(request: Request, response: Response, principal: Caller, as_of: AsOf = None,
                  scope: Scope = None, limit: Limit = 1000, cursor: Cursor = None
                  ) -> dict[str, Any]:
        """Cases reaching a criminal threshold or with referral steps (a page at a time in
        case-id order), and the rates of the whole scope."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        page = supervision.referrals_page(runner, moment, where, limit, cursor)
        _paged(request, response, page)
        return _for_reader(components, principal, {**page.extra, "cases": page.rows,
                                                   "total": page.total,
                                                   "next_cursor": page.next_cursor})

    @get("/v1/subjects/{subject_id}", tags=["supervision"],
         summary="Subject register (一户一档)")
    def subject(subject_id: str, principal: Caller, as_of: AsOf = None) -> dict[str, Any]:
        """A subject's cases and decisions inside the token's scope, inspections per year,
        colour (三色管理) and alerts."""
        _require(principal, "supervision")
        moment = supervision.as_of(as_of)
        register = supervision.subject_register(runner, moment, subject_id, principal.scope)
        if register is None:
            raise ApiProblem(404, "NOT_FOUND", f"no subject {subject_id!r} is recorded")
        if not register["cases"] and register["outside_scope"]["cases"]:
            raise ApiProblem(403, "OUT_OF_SCOPE", f"subject {subject_id} has no case inside the "
                             f"token's scope {principal.scope}")
        return _for_reader(components, principal, register)

    @get("/v1/statistics", tags=["supervision"], summary="Statistics (统计)")
    def statistics(principal: Caller, scope: Scope = None, as_of: AsOf = None
                   ) -> dict[str, Any]:
        """Filed / decided / closed / referred per team, district and month; 首案突破; the
        deadlines met late. With `as_of` (截至时间): the months up to its own, whole."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        return statistics_of(runner, where, None if as_of is None else supervision.as_of(as_of))

    @get("/v1/exports/{panel}", tags=["supervision"],
         summary="A dashboard panel as CSV or Excel (导出)",
         responses={200: {"description": "the panel's table, as an attachment",
                          "content": {"text/csv": {"schema": {"type": "string"}},
                                      XLSX: {"schema": {"type": "string",
                                                        "format": "binary"}}}}})
    def export_panel(panel: Annotated[str, Path(description=f"one of {', '.join(PANELS)}")],
                     principal: Caller, as_of: AsOf = None, scope: Scope = None,
                     format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "xlsx"
                     ) -> Response:
        """The panel's rows as of `as_of` inside the scope, as the dashboard shows them (zh-CN
        headings, division names, persons' ids masked for readers who see them masked): for
        writing a 通报."""
        _require(principal, "supervision")
        where, moment = _scope(principal, scope), supervision.as_of(as_of)
        table = panel_table(runner, principal, panel, moment, where)
        stamp = moment.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
        name = quote(f"{table.title}-{where or '全部'}-{stamp}.{format}")
        body, kind = (to_csv(table), "text/csv; charset=utf-8") if format == "csv" else (
            to_xlsx(table), XLSX)
        return Response(body, media_type=kind, headers={
            "Content-Disposition": f"attachment; filename=\"export.{format}\"; "
                                   f"filename*=UTF-8''{name}"})

    @get("/v1/response", tags=["supervision"], summary="1315 response (1315快速响应)")
    def response(principal: Caller, scope: Scope = None, as_of: AsOf = None
                 ) -> list[dict[str, Any]]:
        """Urgent clues per team and district: shares within 1 / 3 / 15 minutes; with
        `as_of`, the clues dispatched by then and the steps taken by then."""
        _require(principal, "supervision")
        where = _scope(principal, scope)
        return supervision.urgent_response(
            runner, where, None if as_of is None else supervision.as_of(as_of))

    app.include_router(router)
    return list(router.routes)


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
        with components.ledger_lock:
            components.ledger.catch_up()
            size, root = components.ledger.root()
            latest = components.ledger.latest_checkpoint()
        return {"tree_size": size, "root_hash": root.hex(),
                "latest_checkpoint": latest.as_dict() if latest else None}

    @app.get("/v1/ledger/verification", tags=["ledger"], summary="Verify the whole log (校验)")
    def verification(principal: Caller) -> dict[str, Any]:
        """Recompute every case chain and the tree; compare every stored checkpoint."""
        _require(principal, "ledger")
        with components.ledger_lock:
            components.ledger.catch_up()
            return components.ledger.verify().as_dict()

    @app.get("/v1/access-log", tags=["audit"], summary="Who read which audit trail (查阅记录)")
    def access_log(request: Request, response: Response, principal: Caller,
                   case_id: str | None = None, limit: Limit = 1000,
                   cursor: Cursor = None, verify: Annotated[bool, Query(description=(
                       "recompute the whole chain (seconds a million entries); false: the "
                       "page alone, `intact` and `problem` null"))] = True) -> dict[str, Any]:
        """A page of the access-log entries the reader may see, newest first (`total` of
        them, `next_cursor` where the next page starts, also in the paging headers), the
        log's length (`count`) and last hash, and whether the whole chain is intact."""
        _require(principal, "access_log")
        page = authorisation.accesses_page(components.runner, components.access_log,
                                           principal, case_id, limit, cursor)
        _paged(request, response, page)
        listed = {"entries": page.rows, "total": page.total, "next_cursor": page.next_cursor}
        if not verify:
            entries, head = components.access_log.head()
            return {**listed, "count": entries, "head_hash": head, "intact": None,
                    "problem": None}
        entries, head, problem = components.access_log.verify()
        return {**listed, "count": entries, "head_hash": head, "intact": problem is None,
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


def register_routes(app: FastAPI, components: Components) -> list[BaseRoute]:
    """Every route of the API on `app`; returned, the supervision listings' (those that take
    a listing slot: `listings.ListingsElsewhere` may send them to a process of their own)."""
    _routes_append(app, components)
    _routes_cases(app, components)
    listings = _routes_supervision(app, components)
    _routes_audit(app, components)
    _routes_health(app, components)
    return listings
