"""Commands that run CaseChain as a service: `serve`, `tokens issue`, `kafka publish|consume`.

Registered on the `casechain` command by `casechain.adapters.cli` (imported at its end).
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from casechain.adapters.cli import DbOption, RulesOption, app, err, out
from casechain.adapters.tokens import TokenFile, issue_token
from casechain.bootstrap import open_case_log, open_projections
from casechain.domain.access import ROLES
from casechain.errors import CaseChainError

__all__ = ["kafka_app", "tokens_app"]

tokens_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of the HTTP API (令牌).")
app.add_typer(tokens_app, name="tokens")
kafka_app = typer.Typer(no_args_is_help=True, help="Kafka: publish committed events, consume "
                                                   "inbound envelopes.")
app.add_typer(kafka_app, name="kafka")

TokensOption = Annotated[Path, typer.Option(
    "--tokens", envvar="CASECHAIN_TOKENS", help="Token file (YAML; hashes only, never tokens)")]


@tokens_app.command("issue")
def tokens_issue(principal: Annotated[str, typer.Option("--principal", help="Principal id")],
                 role: Annotated[list[str], typer.Option("--role", help=f"One of {', '.join(ROLES)}"
                                                         "; repeat for several")],
                 tokens: TokensOption,
                 scope: Annotated[str, typer.Option("--scope", help="Division-code prefix; "
                                                    "empty: everywhere")] = "",
                 days: Annotated[float, typer.Option("--days", min=0.0, help="Valid for; "
                                                     "0: no expiry")] = 90.0) -> None:
    """Add a token to the token file and print it once (only its SHA-256 is kept)."""
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    try:
        token = issue_token(tokens, principal, role, scope, expires)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(f"token for {principal} ({', '.join(role)}, scope {scope or '(all)'}, "
              f"expires {expires.isoformat() if expires else 'never'}) — shown once:")
    out.print(token, markup=False)


@app.command()
def serve(tokens: TokensOption, db: DbOption = None, rules: RulesOption = None,
          host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
          max_lag: Annotated[int, typer.Option("--max-lag", help="/readyz fails when a view "
                                               "lags more events than this")] = 100_000) -> None:
    """The HTTP API (OpenAPI at /openapi.json, docs at /docs) on HOST:PORT."""
    import uvicorn

    from casechain.adapters.http_api import Components, create_app

    try:
        token_file = TokenFile(tokens)
        case_log = open_case_log(db, rules)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        components = Components(case_log, open_projections(case_log, rules), token_file,
                                max_lag=max_lag)
        err.print(f"CaseChain API on http://{host}:{port} (store {case_log.db_url})")
        uvicorn.run(create_app(components), host=host, port=port, log_level="warning",
                    access_log=False)
    finally:
        case_log.close()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for workers that stop between batches."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
