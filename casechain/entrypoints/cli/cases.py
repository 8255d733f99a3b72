"""The commands on the log and its cases: import, export, case show."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import orjson
import structlog
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from casechain.application.case_log import CaseLog, CaseNotFound
from casechain.application.importing import (
    IMPORT_BATCH,
    ImportFailed,
    RejectedLine,
    import_file,
    import_in_parallel,
)
from casechain.application.queries import (
    case_view,
)
from casechain.bootstrap import open_case_log, open_ledger
from casechain.entrypoints.cli.common import (
    DbOption,
    JsonOption,
    RulesOption,
    _open,
    _print_json,
    _projections,
    app,
    beijing,
    case_app,
    err,
    out,
)


# -- import -------------------------------------------------------------------------
@app.command("import")
def import_(log_file: Annotated[Path, typer.Argument(help="JSON Lines log, one envelope a line",
                                                     exists=True, dir_okay=False)],
            db: DbOption = None, rules: RulesOption = None, as_json: JsonOption = False,
            batch_size: Annotated[int, typer.Option(min=1, max=50_000,
                                                    help="Envelopes per transaction")
                                  ] = IMPORT_BATCH,
            ledger: Annotated[bool, typer.Option(
                "--ledger/--no-ledger", help="Bring the Merkle ledger up to date afterwards")
                              ] = True,
            workers: Annotated[int, typer.Option(
                min=1, max=32, help="Processes appending at once, the cases shared among them "
                                    "(PostgreSQL only)")] = 1) -> None:
    """Append every line of LOG in file order; report each rejected line; exit 1 if any was.

    With --workers N each case's lines are still appended in file order, but the cases are
    shared among N processes: the log's positions interleave them (see docs/operations.md)."""
    case_log = _open(db, rules, create=True)
    try:
        if workers > 1 and not case_log.store.insert_waits_on_server:
            err.print(f"[red]error:[/red] --workers {workers}: a SQLite store takes one writer "
                      "at a time (SQLite 一次只允许一个写入者); use --workers 1, or a PostgreSQL "
                      "store")
            raise typer.Exit(2)
        with _progress(log_file) as progress:
            task = progress.add_task("import", total=log_file.stat().st_size)
            on_bytes = partial(progress.advance, task)
            on_rejected = None if as_json else _print_rejected
            if workers > 1:
                with _ledger_following(case_log, ledger):
                    summary = import_in_parallel(
                        partial(open_case_log, case_log.db_url, rules), log_file,
                        workers=workers, batch_size=batch_size, on_bytes=on_bytes,
                        on_rejected=on_rejected)
            else:
                summary = import_file(case_log, log_file, batch_size=batch_size,
                                      on_bytes=on_bytes, on_rejected=on_rejected)
        if ledger:
            open_ledger(case_log).catch_up()
    except ImportFailed as exc:
        err.print(f"[red]error:[/red] the import stopped (导入中断); the lines committed before "
                  f"stay, and importing the file again appends only the rest: {escape(str(exc))}")
        raise typer.Exit(1) from None
    finally:
        case_log.close()
    if as_json:
        _print_json(summary.as_dict())
    else:
        out.print(f"{summary.lines} lines: {summary.appended} appended, "
                  f"{summary.duplicates} duplicate, {summary.rejected} rejected "
                  f"(导入 {summary.appended} 条，重复 {summary.duplicates} 条，"
                  f"拒绝 {summary.rejected} 条)")
    if summary.rejected:
        raise typer.Exit(1)


#: Seconds between the ledger's catch-ups while the workers of an import append.
_LEDGER_EVERY = 2.0


@contextmanager
def _ledger_following(case_log: CaseLog, enabled: bool) -> Iterator[None]:
    """While the workers of an import append, keep the Merkle ledger following the log on a
    thread of this process (which only reads and deals out the lines), instead of building
    all of it afterwards (about 11 µs an event: 44 s on the city's year). Positions become
    visible in order (each batch takes them under the table lock and commits before
    releasing it), so the ledger never skips one; the caller's catch-up afterwards covers
    the rest, and does all of it if this thread failed (logged)."""
    if not enabled:
        yield
        return
    ledger, stop = open_ledger(case_log), threading.Event()

    def follow() -> None:
        try:
            while not stop.wait(_LEDGER_EVERY):
                ledger.catch_up()
        except Exception as exc:  # the catch-up afterwards does it again, and says why
            structlog.get_logger("casechain.ledger").warning(
                "ledger.follow_failed", error=f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=follow, name="casechain-ledger", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _print_rejected(entry: RejectedLine) -> None:
    for rejection in entry.rejections:
        out.print(f"line {entry.line}: {rejection['code']} {rejection['message']}", markup=False)


def _progress(path: Path) -> Progress:
    return Progress(TextColumn(f"importing {path.name}"), BarColumn(), DownloadColumn(),
                    TimeRemainingColumn(), console=err, disable=not err.is_terminal,
                    transient=False)


# -- export -------------------------------------------------------------------------
@app.command()
def export(db: DbOption = None,
           case: Annotated[str | None, typer.Option("--case", help="Only this case")] = None,
           output: Annotated[Path | None, typer.Option("-o", "--output",
                                                       help="File to write [default: stdout]")] = None
           ) -> None:
    """Write the log (or one case) as JSON Lines with the engine-set fields."""
    case_log = _open(db)
    target = output.open("wb") if output else sys.stdout.buffer
    try:
        for record in case_log.export(case):
            target.write(orjson.dumps(record) + b"\n")
    except CaseNotFound:
        err.print(f"[red]error:[/red] no case {case!r} in {case_log.db_url}")
        raise typer.Exit(1) from None
    finally:
        if output:
            target.close()
        else:
            target.flush()
        case_log.close()


# -- case show ----------------------------------------------------------------------
@case_app.command("show")
def case_show(case_id: str, db: DbOption = None, rules: RulesOption = None,
              as_json: JsonOption = False) -> None:
    """A case's current stage and state and its full timeline (who, what, when, from where,
    under which rule-pack version), read from the audit-timeline view."""
    with _projections(db, rules) as (case_log, runner):
        try:
            view = case_view(case_log, runner, case_id)
        except CaseNotFound:
            err.print(f"[red]error:[/red] no case {case_id!r} in {case_log.db_url} (未找到案件)")
            raise typer.Exit(1) from None
    subject_view, timeline = view["subject"], view["timeline"]
    if as_json:
        _print_json(view)
        return
    out.print(f"案件 {case_id} · {view['stage_label']} {view['stage']} · state {view['state']}"
              + (f" · 行刑衔接 {view['referral_state']}" if view["referral_state"] else "")
              + f" · seq {view['seq']} · cycle {view['cycle']} · {view['jurisdiction']}",
              markup=False)
    if subject_view:
        first = subject_view.get("first_offence")
        note = "" if first is None else (" · 首次违法 first offence" if first else
                                         f" · 此前已处罚 {len(subject_view['earlier_penalties'])} 次")
        out.print(f"当事人 {subject_view['name']} ({subject_view['kind']}) · 事项 {view['item_code']}"
                  f"{note}", markup=False)
    for entry in timeline:
        actor = entry["actor"]
        who = " ".join(str(actor[k]) for k in ("id", "role", "org") if actor.get(k))
        cert = f" 执法证 {actor['cert_no']}" if actor.get("cert_no") else ""
        out.print(f"{entry['seq']:>4}  {beijing(entry['occurred_at'])}  {entry['label']} "
                  f"{entry['type']}  by {who}{cert}  via {entry.get('source') or '-'}  "
                  f"recorded {beijing(entry['recorded_at'])}  position {entry['position']}",
                  markup=False)
