"""Errors of the HTTP API as RFC 9457 problem+json, each carrying a code of the contract;
bad input is never a 500.
"""

from __future__ import annotations

from typing import Any

import structlog
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from casechain.errors import AccessRefused, QueryInvalid, StoreError

__all__ = ["MAX_BATCH", "MAX_BATCH_BYTES", "PROBLEM", "ApiProblem", "install_error_handlers"]

log = structlog.get_logger("casechain.http")


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
    """An RFC 9457 problem: HTTP status, docs/contract.md code, detail, and extra members."""

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


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "code", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "code": {"type": "string"},
                   "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "rejections": {"type": "array", "items": {"type": "object"}}}}


def install_error_handlers(app: FastAPI) -> None:
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
