"""What every command of the `casechain` command line shares: the application object and its
groups, the consoles, the common options, and opening the store."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from casechain.application import supervision
from casechain.application.case_log import CaseLog
from casechain.application.proofs import Ledger
from casechain.bootstrap import (
    configure_logging,
    missing_store_file,
    open_case_log,
    open_ledger,
    open_projections,
)
from casechain.domain.calendar import SHANGHAI
from casechain.errors import CaseChainError, QueryInvalid, StoreError
from casechain.projections import ProjectionRunner

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="CaseChain: the full, traceable record of enforcement cases (全程留痕).")
case_app = typer.Typer(no_args_is_help=True, help="Read one case.")
app.add_typer(case_app, name="case")
rules_app = typer.Typer(no_args_is_help=True, help="Rule packs: check them, build them.")
app.add_typer(rules_app, name="rules")
projections_app = typer.Typer(no_args_is_help=True, help="Read models: status, rebuild, digest.")
app.add_typer(projections_app, name="projections")
subject_app = typer.Typer(no_args_is_help=True, help="The subject register (一户一档).")
app.add_typer(subject_app, name="subject")
keys_app = typer.Typer(no_args_is_help=True, help="Ed25519 keys that sign checkpoints.")
app.add_typer(keys_app, name="keys")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

DbOption = Annotated[str | None, typer.Option("--db", envvar="CASECHAIN_DB",
                                              help="Store URL or SQLite path "
                                                   "[default: sqlite:///./casechain.db]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
RulesOption = Annotated[str | None, typer.Option("--rules", envvar="CASECHAIN_RULES",
                                                 help="Rule pack YAML [default: the bundled pack]")]


@app.callback()
def _main(log_format: Annotated[str | None, typer.Option(
              "--log-format", envvar="CASECHAIN_LOG_FORMAT", help="auto, json or console")] = None,
          log_level: Annotated[str | None, typer.Option(
              "--log-level", envvar="CASECHAIN_LOG_LEVEL", help="debug, info, warning")] = None
          ) -> None:
    try:
        configure_logging(log_format, log_level or "warning")
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _print_json(value: Any, sort_keys: bool = False) -> None:
    """One JSON document on stdout (UTF-8, zh-CN as is)."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    sys.stdout.write(orjson.dumps(value, option=option).decode() + "\n")


def _print_json_rows(rows: Iterable[Any]) -> int:
    """A JSON array on stdout, one element written as it comes (the same bytes as
    `_print_json` of the whole list); how many were written. Nothing is written before the
    first element is there: a question refused when its first page is read leaves stdout
    empty."""
    items = iter(rows)
    first = next(items, _NONE)
    if first is _NONE:
        sys.stdout.write("[]\n")
        return 0
    sys.stdout.write("[" + orjson.dumps(first).decode())
    count = 1
    for row in items:
        sys.stdout.write("," + orjson.dumps(row).decode())
        count += 1
    sys.stdout.write("]\n")
    return count


_NONE = object()


@contextmanager
def _projections(db: str | None, rules: str | None) -> Iterator[tuple[CaseLog, ProjectionRunner]]:
    """The case log and its projection runner, closed afterwards."""
    case_log = _open(db, rules)
    try:
        yield case_log, open_projections(case_log, rules)
    finally:
        case_log.close()


def _open(db: str | None, rules: str | None = None, create: bool = False) -> CaseLog:
    """The case log on the store; a SQLite file that does not exist is refused (exit 2) unless
    `create`: a mistyped `--db` must not leave an empty store behind and answer "nothing"."""
    missing = missing_store_file(db)
    if missing is not None and not create:
        err.print(f"[red]error:[/red] no store at {escape(missing)} (no such file; 存储文件不存在): "
                  "check --db or CASECHAIN_DB; `casechain import` creates a store")
        raise typer.Exit(2)
    try:
        return open_case_log(db, rules)
    except StoreError:
        raise  # `main` says it in one line, naming the kind of failure
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


# -- options of the questions ------------------------------------------------------------------------------
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Instant to evaluate at, ISO 8601 (no offset: Asia/Shanghai) "
                    "[default: now]")]
ScopeOption = Annotated[str | None, typer.Option(
    "--scope", help="Division-code prefix, e.g. 330106")]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, max=10_000, help="At most this many rows, then the cursor of the next "
                                       "page on stderr [default: all]")]
CursorOption = Annotated[str | None, typer.Option(
    "--cursor", help="Start after the page that gave this cursor")]


def _page_note(shown: int, total: int, next_cursor: str | None) -> None:
    """Say on stderr which part of a listing was printed, and how to get the next page."""
    if next_cursor is not None:
        err.print(f"{shown} of {total} shown; next page: --cursor {next_cursor}", markup=False,
                  soft_wrap=True)
_SEVERITY_LABELS = {"red": "红", "yellow": "黄", "info": "提示"}




def beijing(value: object) -> str:
    """An instant for people: Beijing time with its offset (2025-03-01 10:00:00+08:00), whether
    it was stored in UTC or sent with +08:00; anything else (a date, a missing value) as is."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return "-" if value is None else str(value)
    if moment.tzinfo is None:
        return str(value)
    return moment.astimezone(SHANGHAI).isoformat(sep=" ")


def _instant(text: str | None) -> datetime:
    with _asked("--as-of"):
        return supervision.as_of(text)


@contextmanager
def _asked(option: str | None = None) -> Iterator[None]:
    """A question's bad parameter is one line naming it, and exit status 2."""
    try:
        yield
    except QueryInvalid as exc:
        shown = option or f"--{exc.field.replace('_', '-')}"
        err.print(f"[red]error:[/red] {shown}: {escape(str(exc))}")
        raise typer.Exit(2) from None


# -- the ledger -----------------------------------------------------------------------------
KeyOption = Annotated[str | None, typer.Option(
    "--key", envvar="CASECHAIN_SIGNING_KEY", help="Ed25519 private key (PEM) that signs")]
PublicKeyOption = Annotated[str | None, typer.Option(
    "--public-key", envvar="CASECHAIN_PUBLIC_KEY",
    help="Ed25519 public key (PEM) [default: the public half of --key]")]


@contextmanager
def _failing(code: int = 2) -> Iterator[None]:
    """Print a CaseChain error in one line and exit with `code`."""
    try:
        yield
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(code) from None


@contextmanager
def _ledger(db: str | None, up_to_date: bool = True) -> Iterator[tuple[CaseLog, Ledger]]:
    """The case log and its ledger (brought up to date unless told not to), closed
    afterwards."""
    case_log = _open(db)
    try:
        ledger = open_ledger(case_log)
        if up_to_date:
            with _failing(1):
                ledger.catch_up()
        yield case_log, ledger
    finally:
        case_log.close()


