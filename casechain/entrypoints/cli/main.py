"""The `casechain` command line."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from casechain.adapters.ledger import (
    Checkpoint,
    Ledger,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    public_key_from_pem,
    public_pem,
)
from casechain.adapters.logging import configure_logging
from casechain.adapters.rulepack_files import (
    DEFAULT_PACK,
    RulePackInvalid,
    catalogue_to_pack,
    check_pack_file,
    load_pack,
)
from casechain.application import supervision
from casechain.application.case_log import CaseLog, CaseNotFound
from casechain.application.importing import IMPORT_BATCH, RejectedLine, import_file
from casechain.application.proofs import (
    bundle,
    check_document,
    consistency_document,
    inclusion_document,
    read_document,
)
from casechain.application.queries import (
    case_view,
)
from casechain.bootstrap import (
    open_case_log,
    open_projections,
    rules_path_from,
    verify_projections,
)
from casechain.domain.payloads import STAGE_LABELS
from casechain.errors import CaseChainError, QueryInvalid, StoreError
from casechain.projections import PAGE, ProjectionRunner

__all__ = ["app", "main"]

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


@contextmanager
def _projections(db: str | None, rules: str | None) -> Iterator[tuple[CaseLog, ProjectionRunner]]:
    """The case log and its projection runner, closed afterwards."""
    case_log = _open(db, rules)
    try:
        yield case_log, open_projections(case_log, rules)
    finally:
        case_log.close()


def _open(db: str | None, rules: str | None = None) -> CaseLog:
    try:
        return open_case_log(db, rules)
    except StoreError:
        raise  # `main` says it in one line, naming the kind of failure
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


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
                              ] = True) -> None:
    """Append every line of LOG in file order; report each rejected line; exit 1 if any was."""
    case_log = _open(db, rules)
    try:
        with _progress(log_file) as progress:
            task = progress.add_task("import", total=log_file.stat().st_size)
            summary = import_file(
                case_log, log_file, batch_size=batch_size,
                on_bytes=lambda n: progress.advance(task, n),
                on_rejected=None if as_json else _print_rejected)
        if ledger:
            Ledger(case_log.store).catch_up()
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
        out.print(f"{entry['seq']:>4}  {entry['occurred_at']}  {entry['label']} {entry['type']}  "
                  f"by {who}{cert}  via {entry.get('source') or '-'}  "
                  f"recorded {entry['recorded_at']}  position {entry['position']}", markup=False)


# -- rules ---------------------------------------------------------------------------
@rules_app.command("check")
def rules_check(pack: Annotated[str | None, typer.Argument(
                    help="Rule pack YAML [default: CASECHAIN_RULES, else the bundled pack]")
                ] = None, as_json: JsonOption = False) -> None:
    """Check a rule pack; list every problem with its location; exit 1 if there is any."""
    pack = rules_path_from(pack) or DEFAULT_PACK
    try:
        problems = check_pack_file(pack)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        _print_json({"pack": str(pack), "problems": [
            {"location": p.location, "line": p.line, "message": p.message} for p in problems]})
    else:
        for problem in problems:
            out.print(f"{pack}:{problem}", markup=False)
        if not problems:
            loaded = load_pack(pack)
            items = sum(len(v.items) for v in loaded.versions)
            out.print(f"{pack}: ok — {len(loaded.versions)} version(s), {items} item(s) "
                      f"(规则包校验通过)", markup=False)
    if problems:
        raise typer.Exit(1)


@rules_app.command("import-catalogue")
def rules_import_catalogue(
        catalogue: Annotated[Path, typer.Argument(help="Catalogue spreadsheet saved as CSV (UTF-8)",
                                                  exists=True, dir_okay=False)],
        output: Annotated[Path, typer.Option("-o", "--output", help="Pack YAML to write")
                          ] = Path("rules.yaml"),
        effective_from: Annotated[str, typer.Option("--effective-from")] = "2021-07-15",
        name: Annotated[str, typer.Option("--name")] = "imported catalogue") -> None:
    """Turn a catalogue spreadsheet (CSV) into a rule pack YAML; report every bad cell."""
    try:
        pack = catalogue_to_pack(catalogue, effective_from=date.fromisoformat(effective_from),
                                 name=name)
    except RulePackInvalid as exc:
        for problem in exc.problems:
            out.print(f"{catalogue}:{problem}", markup=False)
        raise typer.Exit(1) from None
    output.write_text(yaml.safe_dump(pack, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    out.print(f"wrote {len(pack['versions'][0]['items'])} items to {output}")


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
    with _projections(db, rules) as (case_log, runner):
        unknown = [n for n in name or [] if n not in runner.views]
        if unknown:
            err.print(f"[red]error:[/red] no view {', '.join(unknown)}; views are "
                      f"{', '.join(runner.views)}")
            raise typer.Exit(2)
        head = case_log.store.max_notification_id() or 0
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
        head = case_log.store.max_notification_id() or 0
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


# -- board and 1315 -------------------------------------------------------------------
@app.command()
def board(db: DbOption = None, rules: RulesOption = None,
          scope: Annotated[str | None, typer.Option("--scope", help="Division-code prefix")] = None,
          team: Annotated[str | None, typer.Option("--team")] = None,
          stage: Annotated[str | None, typer.Option("--stage")] = None,
          state: Annotated[str | None, typer.Option("--state")] = None,
          item: Annotated[str | None, typer.Option("--item")] = None,
          officer: Annotated[str | None, typer.Option("--officer", help="Officer id")] = None,
          count_by: Annotated[str | None, typer.Option(
              "--count-by", help="district, team, stage, state or item_code")] = None,
          as_json: JsonOption = False) -> None:
    """Supervision board (监管看板): cases filtered by scope, team, stage, state, item,
    officer — listed, or counted by one of them."""
    with _projections(db, rules) as (_, runner), _asked():
        rows = supervision.board(runner, scope, {"team": team, "stage": stage, "state": state,
                                                 "item_code": item}, officer, count_by)
    if isinstance(rows, dict):
        counts = rows
        if as_json:
            _print_json(counts, sort_keys=True)
        else:
            for key, n in counts.items():
                out.print(f"{key or '-':24} {n:>8}", markup=False)
        return
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        out.print(f"{row['case_id']:20} {row['jurisdiction']:10} {row['team'] or '-':6} "
                  f"{STAGE_LABELS.get(row['stage'], row['stage'])} {row['state']:24} "
                  f"{row['item_code'] or '-':10} {row['subject_name'] or ''}", markup=False)
    out.print(f"{len(rows)} case(s) (案件 {len(rows)} 件)")


@app.command("response")
def response_1315(db: DbOption = None, rules: RulesOption = None,
                  as_json: JsonOption = False) -> None:
    """1315 response: urgent clues per team and district, and the share acknowledged within
    1, departed within 3 and arrived within 15 minutes."""
    with _projections(db, rules) as (_, runner):
        shares = supervision.urgent_response(runner)
    if as_json:
        _print_json(shares)
        return
    for row in shares:
        out.print(f"{row['team']:16} {row['district']:8} {row['urgent_clues']:>5} urgent  "
                  f"1分钟接收 {row['acknowledged_within_1_min']:.0%}  "
                  f"3分钟出发 {row['departed_within_3_min']:.0%}  "
                  f"15分钟到达 {row['arrived_within_15_min']:.0%}", markup=False)


# -- alerts ------------------------------------------------------------------------------
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Instant to evaluate at, ISO 8601 (no offset: Asia/Shanghai) "
                    "[default: now]")]
ScopeOption = Annotated[str | None, typer.Option(
    "--scope", help="Division-code prefix, e.g. 330106")]
_SEVERITY_LABELS = {"red": "红", "yellow": "黄", "info": "提示"}


@app.command()
def alerts(db: DbOption = None, rules: RulesOption = None, as_of: AsOfOption = None,
           scope: ScopeOption = None,
           code: Annotated[str | None, typer.Option("--code", help="Only this alert code")] = None,
           as_json: JsonOption = False) -> None:
    """Alerts as of an instant: running deadlines that are yellow (20% or less left) or red
    (overdue), the referral checks and the subject-register checks across cases."""
    moment = _instant(as_of)
    with _projections(db, rules) as (_, runner), _asked():
        listed = supervision.supervision_alerts(runner, moment, scope, code)
    if as_json:
        _print_json(listed)
        return
    for alert in listed:
        out.print(f"{_SEVERITY_LABELS[alert['severity']]} {alert['severity']:6} "
                  f"{alert['code']:20} {alert['case_id']:20} due {alert['due_at']}  "
                  f"{alert['detail']}", markup=False)
    out.print(f"{len(listed)} alert(s) as of {moment.isoformat()} (预警 {len(listed)} 条)")


# -- referrals and the subject register ---------------------------------------------
@app.command()
def referrals(db: DbOption = None, rules: RulesOption = None, as_of: AsOfOption = None,
              scope: ScopeOption = None, as_json: JsonOption = False) -> None:
    """行刑衔接: every case reaching a criminal threshold or with referral steps, its status
    and timings, and the referral rate per team and district."""
    moment = _instant(as_of)
    with _projections(db, rules) as (_, runner):
        answer = supervision.referrals(runner, moment, scope)
    rows, rates = answer["cases"], answer["rates"]
    if as_json:
        _print_json(answer)
        return
    for row in rows:
        mark = "涉嫌犯罪" if row["threshold_met"] else "未达标准"
        out.print(f"{row['case_id']:20} {row['jurisdiction']:10} {row['team'] or '-':6} "
                  f"{mark} {row['status_label']:12} {row['reason'] or ''}", markup=False)
    for rate in rates:
        out.print(f"{rate['team']:6} {rate['district']:8} 达到追诉标准 {rate['threshold_met']} 件, "
                  f"已移送 {rate['transferred']} 件, 移送率 {rate['rate']:.0%}", markup=False)
    out.print(f"{len(rows)} case(s) as of {moment.isoformat()} (行刑衔接案件 {len(rows)} 件)")


@subject_app.command("show")
def subject_show(subject_id: str, db: DbOption = None, rules: RulesOption = None,
                 as_of: AsOfOption = None, as_json: JsonOption = False) -> None:
    """一户一档: a subject's cases, decisions and fines, inspections per year (joint ones
    counted), colour (三色管理) and its alerts."""
    moment = _instant(as_of)
    with _projections(db, rules) as (_, runner):
        register = supervision.subject_register(runner, moment, subject_id)
    if register is None:
        err.print(f"[red]error:[/red] no subject {subject_id!r} in the store")
        raise typer.Exit(1)
    if as_json:
        _print_json(register)
        return
    colours = {"red": "红", "yellow": "黄", "green": "绿"}
    out.print(f"{register['subject_id']} {register['name'] or ''}  "
              f"{colours[register['colour']]}色 ({register['colour_reason']})", markup=False)
    for case in register["cases"]:
        out.print(f"  案件 {case['case_id']:20} {case['item_code'] or '-':10} "
                  f"act {case['act_date'] or '-'}", markup=False)
    for d in register["decisions"]:
        out.print(f"  决定 {d['case_id']:20} {d['decided_at']} {d['outcome']} fine {d['fine']:g}",
                  markup=False)
    for year in register["inspections_per_year"]:
        out.print(f"  {year['year']} 检查 {year['inspections']} 次, 联合检查 {year['joint']} 次",
                  markup=False)
    for alert in register["alerts"]:
        out.print(f"  预警 {alert['code']} {alert['case_id']} {alert['detail']}", markup=False)


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
        ledger = Ledger(case_log.store)
        if up_to_date:
            with _failing(1):
                ledger.catch_up()
        yield case_log, ledger
    finally:
        case_log.close()


@keys_app.command("generate")
def keys_generate(out_dir: Annotated[Path, typer.Option("--out-dir", file_okay=False)] = Path("."),
                  ) -> None:
    """Write a new signing key (casechain-signing.pem, mode 0600) and its public key
    (casechain-public.pem). Keep the private key off the database server."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with _failing():
        key = generate_key(out_dir / "casechain-signing.pem", out_dir / "casechain-public.pem")
    out.print(f"key id {key_id(key.public_key())}: {out_dir / 'casechain-signing.pem'} "
              f"(private), {out_dir / 'casechain-public.pem'} (public)")


@keys_app.command("public")
def keys_public(key: KeyOption = None) -> None:
    """Print the public key (PEM) of a signing key, to publish or hand to a witness."""
    if key is None:
        err.print("[red]error:[/red] --key (or CASECHAIN_SIGNING_KEY) is required")
        raise typer.Exit(2)
    with _failing():
        sys.stdout.write(public_pem(load_private_key(key).public_key()).decode())


def _public_key(public_key: str | None, key: str | None) -> Any:
    with _failing():
        if public_key:
            return load_public_key(public_key)
        if key:
            return load_private_key(key).public_key()
    return None


@app.command()
def checkpoint(db: DbOption = None, key: KeyOption = None,
               output: Annotated[Path | None, typer.Option(
                   "-o", "--output", help="Also write the checkpoint here (for a witness)")] = None,
               every: Annotated[float | None, typer.Option(
                   "--every", min=1, help="Issue one every SECONDS until stopped")] = None,
               as_json: JsonOption = False) -> None:
    """Sign the log's current size and Merkle root (Ed25519) and store the checkpoint."""
    if key is None:
        err.print("[red]error:[/red] --key (or CASECHAIN_SIGNING_KEY) is required to sign")
        raise typer.Exit(2)
    with _failing():
        signing = load_private_key(key)
    stop = threading.Event()
    if every is not None:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _ledger(db, up_to_date=False) as (_, ledger), suppress(KeyboardInterrupt):
        while True:
            with _failing():
                issued = ledger.checkpoint(signing)
            if output is not None:
                output.write_bytes(orjson.dumps(issued.as_dict(), option=orjson.OPT_INDENT_2))
            if as_json:
                _print_json(issued.as_dict())
            else:
                out.print(f"checkpoint: {issued.tree_size} events, root {issued.root_hash}, "
                          f"signed {issued.issued_at} by key {issued.key_id}", markup=False)
            if every is None or stop.wait(every):
                return


@app.command()
def checkpoints(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every stored checkpoint, oldest first (the JSON form is what a witness keeps)."""
    with _ledger(db, up_to_date=False) as (_, ledger):
        stored = ledger.stored_checkpoints()
    if as_json:
        _print_json([cp.as_dict() for cp in stored])
        return
    for cp in stored:
        out.print(f"{cp.issued_at}  {cp.tree_size:>10} events  root {cp.root_hash}  "
                  f"key {cp.key_id}", markup=False)


@app.command()
def verify(db: DbOption = None, public_key: PublicKeyOption = None, key: KeyOption = None,
           against: Annotated[list[Path] | None, typer.Option(
               "--against", exists=True, dir_okay=False,
               help="A checkpoint JSON held outside the store (repeatable)")] = None,
           as_json: JsonOption = False) -> None:
    """Recompute every case chain and the Merkle tree; check them against the stored
    checkpoints and those given with --against. Exit 0 when intact, 1 otherwise."""
    verifying = _public_key(public_key, key)
    if against and verifying is None:
        err.print("[red]error:[/red] --against needs --public-key to check the checkpoint")
        raise typer.Exit(2)
    with _failing():
        outside = [Checkpoint.from_dict(orjson.loads(p.read_bytes())) for p in against or []]
    with _ledger(db, up_to_date=False) as (_, ledger):
        total = ledger.size()
        with Progress(TextColumn("verifying"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} events"), TimeRemainingColumn(),
                      console=err, disable=not err.is_terminal) as progress:
            task = progress.add_task("verify", total=total)
            result = ledger.verify(verifying, outside, on_page=lambda n: progress.advance(task, n))
    if as_json:
        _print_json(result.as_dict())
    else:
        out.print(f"{result.events} events of {result.cases} cases, tree root "
                  f"{result.root_hash}, {result.checkpoints_checked} checkpoint comparison(s)"
                  + ("" if result.signatures_checked else " (signatures not checked: no key)"),
                  markup=False)
        for problem in result.problems[:20]:
            where = (f"case {problem.case_id} seq {problem.seq} position {problem.position}"
                     if problem.case_id else f"position {problem.position}"
                     if problem.position else "log")
            out.print(f"BAD {problem.what}: {where}: {problem.detail}", markup=False)
        out.print("intact (完整)" if result.intact else
                  f"{len(result.problems)} problem(s) — NOT intact (已被篡改)")
    if not result.intact:
        raise typer.Exit(1)


@app.command()
def proof(case_id: Annotated[str | None, typer.Argument(help="Case whose events to prove")] = None,
          seq: Annotated[int | None, typer.Option("--seq", min=1)] = None,
          consistency: Annotated[tuple[int, int] | None, typer.Option(
              "--consistency", help="OLD_SIZE NEW_SIZE")] = None,
          db: DbOption = None,
          output: Annotated[Path | None, typer.Option("-o", "--output")] = None) -> None:
    """An inclusion proof of a case's events against the latest checkpoint, or a
    consistency proof between two tree sizes; JSON, checkable with verify-proof."""
    if (case_id is None) == (consistency is None):
        err.print("[red]error:[/red] give a CASE_ID or --consistency OLD_SIZE NEW_SIZE")
        raise typer.Exit(2)
    with _ledger(db) as (case_log, ledger), _failing(1):
        doc = (consistency_document(ledger, *consistency) if consistency
               else inclusion_document(case_log, ledger, str(case_id), seq))
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    if output is not None:
        output.write_bytes(text)
        out.print(f"proof written to {output}")
    else:
        sys.stdout.write(text.decode() + "\n")


@app.command("verify-proof")
def verify_proof(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
                 public_key: PublicKeyOption = None, as_json: JsonOption = False) -> None:
    """Check a proof file or an evidence bundle offline, with the public key alone."""
    with _failing():
        doc, bundled = read_document(file)
    verifying = _public_key(public_key, None)
    note = None
    if verifying is None and bundled is not None:
        with _failing():
            verifying = public_key_from_pem(bundled)
        note = (f"key taken from the bundle (id {key_id(verifying)}): compare it with the key "
                "the agency publishes")
    if verifying is None:
        err.print("[red]error:[/red] --public-key (or CASECHAIN_PUBLIC_KEY) is required")
        raise typer.Exit(2)
    try:
        findings = check_document(doc, verifying)
    except (CaseChainError, KeyError, ValueError, TypeError) as exc:
        if as_json:
            _print_json({"valid": False, "error": str(exc)})
        else:
            out.print(f"INVALID: {exc}", markup=False)
        raise typer.Exit(1) from None
    if note:
        findings.append(note)
    if as_json:
        _print_json({"valid": True, "findings": findings})
        return
    for line in findings:
        out.print(line, markup=False)
    out.print("valid (核验通过)")


@app.command("bundle")
def bundle_(case_id: str, output: Annotated[Path, typer.Option("-o", "--output")],
            db: DbOption = None, public_key: PublicKeyOption = None,
            key: KeyOption = None) -> None:
    """Evidence bundle (证据包): the case's events, their inclusion proofs, the signed
    checkpoint, the public key and a zh-CN summary, in one zip."""
    verifying = _public_key(public_key, key)
    if verifying is None:
        err.print("[red]error:[/red] --public-key or --key is required (the bundle carries it)")
        raise typer.Exit(2)
    with _ledger(db) as (case_log, ledger), _failing(1):
        doc = bundle(case_log, ledger, case_id, verifying, output)
    out.print(f"{output}: {len(doc['proofs'])} events of case {case_id}, checkpoint of "
              f"{doc['tree_size']} events")



# -- replay ---------------------------------------------------------------------------
@app.command()
def replay(log_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
           rules: RulesOption = None, as_of: AsOfOption = None,
           compare: Annotated[str | None, typer.Option(
               "--compare", help="OLD_PACK: what-if — what changes from OLD_PACK to --rules")
                              ] = None,
           as_json: JsonOption = False) -> None:
    """Load LOG into a throw-away store (never your database), rebuild every view; print the
    per-view counts, the alerts and the projection digest. With --compare OLD_PACK: which
    events would be rejected and which alerts appear or disappear under --rules, per case."""
    from casechain.application import replay as replaying

    moment = _instant(as_of)
    with _failing():
        if compare is not None:
            diff = replaying.compare(log_file, rules or DEFAULT_PACK, compare, moment)
            if as_json:
                _print_json(diff)
                return
            for case_id, change in diff["cases"].items():
                out.print(f"案件 {case_id}", markup=False)
                for r in change["newly_rejected"]:
                    out.print(f"  + rejected line {r['line']}: {', '.join(r['codes'])}",
                              markup=False)
                for r in change["no_longer_rejected"]:
                    out.print(f"  - no longer rejected line {r['line']}: {', '.join(r['codes'])}",
                              markup=False)
                for a in change["alerts_appear"]:
                    out.print(f"  + alert {a['code']} {a['severity']} due {a['due_at']}",
                              markup=False)
                for a in change["alerts_disappear"]:
                    out.print(f"  - alert {a['code']} {a['severity']} due {a['due_at']}",
                              markup=False)
            out.print(f"{len(diff['cases'])} case(s) change from {compare} to "
                      f"{rules or 'the bundled pack'} as of {diff['as_of']}")
            return
        result = replaying.replay(log_file, rules, moment)
    if as_json:
        _print_json(result.as_dict())
        return
    out.print(f"{result.events} lines: {result.appended} appended, {len(result.rejected)} "
              f"rejected; digest {result.digest} at position {result.position}", markup=False)
    for name, count in sorted(result.views.items()):
        out.print(f"  {name:36} {count:>9} rows", markup=False)
    out.print(f"{len(result.alerts)} alert(s) as of {result.as_of}")


# -- simulate -----------------------------------------------------------------------
@app.command()
def simulate(cases: Annotated[int, typer.Option("--cases", min=1)] = 100,
             seed: Annotated[int, typer.Option("--seed")] = 1,
             start: Annotated[str, typer.Option("--start", help="First filing date")] = "2025-01-02",
             months: Annotated[int, typer.Option("--months", min=1, max=120,
                                                 help="Months the filings spread over")] = 12,
             district: Annotated[str | None, typer.Option(
                 "--district", help="One district's cases only, e.g. 330106")] = None,
             rules: RulesOption = None,
             output: Annotated[Path, typer.Option("-o", "--output")] = Path("simulated.jsonl")
             ) -> None:
    """Write a realistic synthetic log (nine teams, supervision and approval, hearings,
    referrals, late payments …), valid under the rule pack and deterministic for a seed."""
    from casechain.adapters.rulepack_files import calendar_of
    from casechain.application.simulation import simulate as simulated

    with _failing():
        pack = load_pack(rules_path_from(rules))
        first = date.fromisoformat(start)
        count = 0
        with output.open("wb") as handle:
            for envelope in simulated(cases, seed, first, months, pack, calendar_of(pack),
                                      district):
                handle.write(orjson.dumps(envelope) + b"\n")
                count += 1
    out.print(f"wrote {count} events of {cases} cases to {output}")


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


# The service commands (serve, tokens, kafka) live in their own module and register here.
from casechain.entrypoints.cli import services as _services  # noqa: E402, F401
