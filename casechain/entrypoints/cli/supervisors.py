"""The supervisors' questions: board, response, alerts, referrals, subject show."""

from __future__ import annotations

from typing import Annotated

import typer

from casechain.application import supervision
from casechain.domain.payloads import STAGE_LABELS
from casechain.entrypoints.cli.common import (
    _SEVERITY_LABELS,
    AsOfOption,
    DbOption,
    JsonOption,
    RulesOption,
    ScopeOption,
    _asked,
    _instant,
    _print_json,
    _projections,
    app,
    err,
    out,
    subject_app,
)


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
