"""The `casechain` command line: the entry point, and every command group registered in the
order `--help` lists them."""

from __future__ import annotations

import importlib
import sys

from eventsourcing.persistence import PersistenceError
from rich.markup import escape

from casechain.entrypoints.cli.common import app, err
from casechain.errors import StoreError

__all__ = ["app", "main"]

#: The command groups, in the order `casechain --help` lists their commands; each registers
#: its commands on `app` when imported.
GROUPS = ("cases", "rules", "projections", "supervisors", "ledger", "tools", "services")
for _group in GROUPS:
    importlib.import_module(f"casechain.entrypoints.cli.{_group}")


def main() -> None:
    """Entry point of the `casechain` command. A store that cannot be reached or used is one
    line on stderr and exit status 2, not a traceback."""
    try:
        app()
    except PersistenceError as exc:  # ours are the library's classes too (Store…Error)
        kind = type(exc).__name__.removeprefix("Store")
        err.print(f"[red]error:[/red] the event store failed ({kind}): "
                  f"{escape(str(exc).strip())}", markup=True)
        sys.exit(2)
    except StoreError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
        sys.exit(2)


