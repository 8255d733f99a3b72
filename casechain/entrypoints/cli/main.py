"""The `casechain` command line: the entry point, and every command group registered in the
order `--help` lists them."""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import typer
from eventsourcing.persistence import PersistenceError
from rich.markup import escape

from casechain.entrypoints.cli.common import app, err
from casechain.errors import StoreError

__all__ = ["app", "main", "readable"]

#: The command groups, in the order `casechain --help` lists their commands; each registers
#: its commands on `app` when imported.
GROUPS = ("cases", "rules", "projections", "supervisors", "ledger", "tools", "services")
for _group in GROUPS:
    importlib.import_module(f"casechain.entrypoints.cli.{_group}")


#: What an option takes, as `--help` names it (instead of the type's `<str>`).
_METAVARS = {"db": "URL", "rules": "PACK", "as_of": "INSTANT", "scope": "PREFIX", "limit": "N",
             "cursor": "CURSOR", "code": "CODE", "output": "FILE", "key": "PEM",
             "public_key": "PEM", "tokens": "FILE"}


def readable(command: Any) -> Any:
    """`--help` that reads well: each paragraph flowed as one (no sentence broken where the
    docstring's line ended), an option's value named by what it is, a flag by nothing.
    `command` is the Click command Typer builds (Typer vendors its own Click, hence `Any`)."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    for param in command.params:
        if param.param_type_name == "option" and param.metavar is None:
            name = param.name or ""
            param.metavar = "" if param.is_flag else _METAVARS.get(name, name.upper())
        elif param.param_type_name == "argument":
            # Typer shows an argument's Python type (`<list[str]>`) beside its name, which
            # says what it takes already (`name...`): the type is left out.
            param.display_type_rich = lambda ctx: None
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        """`--help` shows no type either (it is a flag; Click makes it on demand)."""
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        readable(sub)
    return command


def main() -> None:
    """Entry point of the `casechain` command. A store that cannot be reached or used is one
    line on stderr and exit status 2, not a traceback."""
    try:
        readable(typer.main.get_command(app))(prog_name="casechain")
    except PersistenceError as exc:  # ours are the library's classes too (Store…Error)
        kind = type(exc).__name__.removeprefix("Store")
        err.print(f"[red]error:[/red] the event store failed ({kind}): "
                  f"{escape(str(exc).strip())}", markup=True)
        sys.exit(2)
    except StoreError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
        sys.exit(2)


if __name__ == "__main__":  # `python -m casechain.entrypoints.cli.main` (serve's listing process)
    main()
