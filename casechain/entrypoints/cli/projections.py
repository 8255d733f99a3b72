"""The read-model commands: projections status, rebuild, digest, verify, run."""

from __future__ import annotations

import signal
import threading
from contextlib import suppress
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from casechain.bootstrap import (
    verify_projections,
)
from casechain.entrypoints.cli.common import (
    DbOption,
    JsonOption,
    RulesOption,
    _print_json,
    _projections,
    err,
    out,
    projections_app,
)
from casechain.projections import PAGE


# -- projections ---------------------------------------------------------------------
@projections_app.command("status")
def projections_status(db: DbOption = None, rules: RulesOption = None,
                       as_json: JsonOption = False) -> None:
    """Each view's position, the log's head and the lag."""
    with _projections(db, rules) as (_, runner):
        statuses = runner.status()
    if as_json:
        _print_json([s.as_dict() for s in statuses])
        return
    for status in statuses:
        out.print(f"{status.name:12} position {status.position:>10}  head {status.head:>10}  "
                  f"lag {status.lag:>10}", markup=False)


@projections_app.command("rebuild")
def projections_rebuild(name: Annotated[list[str] | None, typer.Argument(
                            help="Views to rebuild [default: all]")] = None,
                        db: DbOption = None, rules: RulesOption = None) -> None:
    """Drop views and rebuild them from the whole log (progress bar on a terminal)."""
    with _projections(db, rules) as (_, runner):
        unknown = [n for n in name or [] if n not in runner.views]
        if unknown:
            err.print(f"[red]error:[/red] no view {', '.join(unknown)}; views are "
                      f"{', '.join(runner.views)}")
            raise typer.Exit(2)
        head = runner.store.max_notification_id() or 0
        chosen = name or list(runner.views)
        with Progress(TextColumn("rebuilding {task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} events"), TimeRemainingColumn(),
                      console=err, disable=not err.is_terminal) as progress:
            tasks = {n: progress.add_task(n, total=head) for n in chosen}
            applied = runner.rebuild(chosen, on_page=lambda n, k: progress.advance(tasks[n], k))
    out.print(f"rebuilt {', '.join(chosen)}: {applied} events applied")


@projections_app.command("digest")
def projections_digest(db: DbOption = None, rules: RulesOption = None,
                       as_json: JsonOption = False) -> None:
    """One hash over all views and the log position it covers (compare two runs)."""
    with _projections(db, rules) as (_, runner):
        digest, position, counts = runner.digest()
    if as_json:
        _print_json({"digest": digest, "position": position, "rows": counts})
    else:
        out.print(f"{digest}  position {position}", markup=False)


@projections_app.command("verify")
def projections_verify(db: DbOption = None, rules: RulesOption = None,
                       as_json: JsonOption = False) -> None:
    """Recompute every view from the log in a scratch store and compare it with the stored
    rows; exit 1 naming each view whose rows were edited, added or deleted by hand."""
    with _projections(db, rules) as (case_log, runner):
        head = runner.store.max_notification_id() or 0
        with Progress(TextColumn("recomputing {task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} events"), TimeRemainingColumn(),
                      console=err, disable=not err.is_terminal) as progress:
            tasks = {n: progress.add_task(n, total=head) for n in runner.views}
            compared = verify_projections(case_log, runner, rules,
                                          on_page=lambda n, k: progress.advance(tasks[n], k))
    differing = sorted(name for name, (stored, again) in compared.items() if stored != again)
    if as_json:
        _print_json({"intact": not differing, "differing": differing,
                     "views": {name: {"stored": stored, "recomputed": again}
                               for name, (stored, again) in compared.items()}})
    else:
        for name in differing:
            out.print(f"view {name}: its stored rows differ from the rows recomputed from the "
                      "log — they were edited, added or deleted outside CaseChain; run "
                      f"`casechain projections rebuild {name}` after keeping a copy as evidence")
        out.print("every view matches the log" if not differing else
                  f"{len(differing)} of {len(compared)} views differ from the log")
    if differing:
        raise typer.Exit(1)


@projections_app.command("run")
def projections_run(db: DbOption = None, rules: RulesOption = None,
                    interval: Annotated[float, typer.Option(min=0.05)] = 0.5,
                    page: Annotated[int, typer.Option(
                        min=1, max=100_000, help="Events per transaction")] = PAGE) -> None:
    """Keep the views up to date beside the writer until interrupted (polls the log)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _projections(db, rules) as (_, runner), suppress(KeyboardInterrupt):
        runner.page = page
        runner.run(stop, interval)
