"""The HTTP API (`casechain serve`): append events, ask the views, prove the log.

FastAPI over the same use cases as the command line: `CaseLog.append_many` for appends (same
validation, codes and idempotency as `import`), `casechain.application.queries` for reads.
Every error is RFC 9457 problem+json carrying a docs/contract.md code; bad input is never a 500.

Security: a bearer token (`adapters.tokens`) names a principal with roles and a jurisdiction
scope (`domain.access`). Appends outside the scope are `OUT_OF_SCOPE`, event types the roles
may not emit `FORBIDDEN`, both 403; reads outside the scope are 403 `OUT_OF_SCOPE`. Every read
of a case's audit trail is written to the hash-chained access log before it is answered.

A follower thread keeps the views and the Merkle ledger caught up beside the writers; every
query also brings its views to the log's head as it stood when it began (`ProjectionRunner.
ready`; a case read only as far as its own case and subject need), so an answer never lags
an append it follows.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from casechain.application.exports import pack_of
from casechain.application.serving import Components
from casechain.domain.envelope import envelope_schema
from casechain.entrypoints.http.auth import Caller
from casechain.entrypoints.http.dashboard import register_dashboard
from casechain.entrypoints.http.listings import ListingProcess, ListingsElsewhere
from casechain.entrypoints.http.problems import _PROBLEM_SCHEMA, PROBLEM, ApiProblem, install_error_handlers
from casechain.entrypoints.http.routes import register_routes

__all__ = ["ApiProblem", "Caller", "create_app"]

log = structlog.get_logger("casechain.http")


# -- the application ------------------------------------------------------------------------
def create_app(components: Components, follow: bool = True,
               listings: ListingProcess | None = None) -> FastAPI:
    """The FastAPI application over the given components; with `listings`, a listing
    process started for it, the supervision listings are answered there while it answers,
    and it is stopped when the application shuts down (before uvicorn passes the signal
    that stopped it on: this process's own handling of that signal ends it at once)."""
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
        if listings is not None:
            listings.stop()
        components.appender.close()
        if follow:
            worker.join(timeout=10)

    # Swagger UI (/docs) and ReDoc (/redoc) with their scripts served from this server: a
    # government intranet (政务内网) reaches no CDN.
    app = FastAPIOffline(
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
    # Listings compress about tenfold (repeated keys and codes); small answers go as they are.
    # Level 6 (zlib's default), not Starlette's 9: on the city year a first page of 1,000
    # referrals compresses in 7 ms instead of 20 (8 % larger), 1,000 alerts in 3 instead of 7.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    install_error_handlers(app)

    listing_routes = register_routes(app, components)
    if listings is not None:  # outermost: an answer from there is compressed already
        app.add_middleware(ListingsElsewhere, socket_path=listings.socket_path,
                           routes=listing_routes)
    register_dashboard(app, pack_of(components.runner).divisions)
    app.openapi = lambda: _openapi_with_envelopes(app)  # type: ignore[method-assign]
    return app


def _openapi_with_envelopes(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the envelope's schemas: `Envelope` (a union discriminated by
    `type`), one `Envelope_<stage>_<name>` per event type and its payload's schema."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, summary=app.summary,
                               description=app.description, routes=app.routes)
        union = envelope_schema(ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(union.pop("$defs"))
        schemas["Envelope"] = {"title": "Envelope", "description": (
            "An event as a service sends it; `type` chooses the schema of its `payload`."),
            **union}
        app.openapi_schema = document
    return app.openapi_schema
