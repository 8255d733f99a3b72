"""The supervisors' questions: board, response, alerts, referrals, subject show."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import typer

from casechain.application import breaches as breach_register
from casechain.application import devices as device_register
from casechain.application import supervision
from casechain.application.paging import MAX_LIMIT, every_row
from casechain.domain.deadlines import yuan
from casechain.domain.payloads import STAGE_LABELS
from casechain.entrypoints.cli.common import (
    _SEVERITY_LABELS,
    AsOfOption,
    CursorOption,
    DbOption,
    JsonOption,
    LimitOption,
    RulesOption,
    ScopeOption,
    _asked,
    _instant,
    _page_note,
    _print_json,
    _print_json_rows,
    _projections,
    app,
    beijing,
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
          limit: LimitOption = None, cursor: CursorOption = None,
          as_of: Annotated[str | None, typer.Option(
              "--as-of", help="Count as of this instant (with --count-by district, team or "
                              "stage), ISO 8601, no offset: Asia/Shanghai")] = None,
          as_json: JsonOption = False) -> None:
    """Supervision board (监管看板): cases filtered by scope, team, stage, state, item,
    officer — listed (a page at a time with --limit), or counted by one of them; counted as
    of an instant with --as-of (the cases that had occurred by then, where they stood)."""
    filters = {"team": team, "stage": stage, "state": state, "item_code": item}
    moment = None if as_of is None else _instant(as_of)
    with _projections(db, rules) as (_, runner), _asked():
        if count_by is None and moment is None and (limit is not None or cursor is not None):
            page = supervision.board_page(runner, scope, filters, officer, limit, cursor)
            rows: list[dict[str, object]] | dict[str, int] = page.rows
            total, next_cursor = page.total, page.next_cursor
        else:
            rows = supervision.board(runner, scope, filters, officer, count_by, moment)
            total, next_cursor = len(rows), None
    if isinstance(rows, dict):
        counts = rows
        if as_json:
            _print_json(counts, sort_keys=True)
        else:
            for key, n in counts.items():
                out.print(f"{key or '-':24} {n:>8}", markup=False)
        return
    _page_note(len(rows), total, next_cursor)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        out.print(f"{row['case_id']!s:20} {row['jurisdiction']!s:10} {row['team'] or '-'!s:6} "
                  f"{STAGE_LABELS.get(str(row['stage']), row['stage'])} {row['state']!s:24} "
                  f"{row['item_code'] or '-'!s:10} {row['subject_name'] or ''}", markup=False)
    out.print(f"{len(rows)} case(s) (案件 {len(rows)} 件)"
              + (f" of {total}" if total != len(rows) else ""))


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

#: Rows read at a time when a whole listing is printed: the API's largest page (about 12 MB
#: of alerts; each page is counted again with the listing, so not fewer rows than that).
STREAMED_PAGE = MAX_LIMIT


@app.command()
def alerts(db: DbOption = None, rules: RulesOption = None, as_of: AsOfOption = None,
           scope: ScopeOption = None,
           code: Annotated[str | None, typer.Option("--code", help="Only this alert code")] = None,
           summary: Annotated[bool, typer.Option(
               "--summary", help="Counts by code, severity, team and district instead of rows")
           ] = False,
           by_street: Annotated[bool, typer.Option(
               "--by-street", help="With --summary: by street (乡镇街道) instead of district")
           ] = False,
           limit: LimitOption = None, cursor: CursorOption = None,
           as_json: JsonOption = False) -> None:
    """Alerts as of an instant: running deadlines that are yellow (20% or less left) or red
    (overdue), the referral checks and the subject-register checks across cases. Without
    --limit every alert is printed, read and written a page at a time."""
    moment = _instant(as_of)
    with _projections(db, rules) as (_, runner), _asked():
        if summary:
            counted = supervision.alert_summary(runner, moment, scope,
                                                "street" if by_street else "district")
            _print_summary(counted, as_json)
            return
        if limit is not None or cursor is not None:
            page = supervision.alerts_page(runner, moment, scope, code, limit, cursor)
            _page_note(len(page.rows), page.total, page.next_cursor)
            listed: Iterable[dict[str, Any]] = page.rows
        else:  # the city's year is tens of thousands of alerts: never all in memory at once
            listed = every_row(lambda after: supervision.alerts_page(
                runner, moment, scope, code, STREAMED_PAGE, after))
        if as_json:
            _print_json_rows(listed)
            return
        shown = 0
        for alert in listed:
            out.print(f"{_SEVERITY_LABELS[alert['severity']]} {alert['severity']:6} "
                      f"{alert['code']:20} {alert['case_id']:20} due "
                      f"{beijing(alert['due_at'])}  {alert['detail']}", markup=False)
            shown += 1
    out.print(f"{shown} alert(s) as of {beijing(moment)} (预警 {shown} 条)")


def _print_summary(counted: dict[str, object], as_json: bool) -> None:
    if as_json:
        _print_json(counted)
        return
    by = str(counted["by"])
    rows = counted["counts"]
    assert isinstance(rows, list)
    for row in rows:
        out.print(f"{_SEVERITY_LABELS[row['severity']]} {row['code']:28} {row['label']:10} "
                  f"{row['team'] or '-':8} {row[by]:10} {row['count']:>7}", markup=False)
    out.print(f"{counted['total']} alert(s) as of {beijing(counted['as_of'])} (预警 {counted['total']} 条)")


# -- referrals and the subject register ---------------------------------------------
@app.command()
def referrals(db: DbOption = None, rules: RulesOption = None, as_of: AsOfOption = None,
              scope: ScopeOption = None, limit: LimitOption = None,
              cursor: CursorOption = None, as_json: JsonOption = False) -> None:
    """行刑衔接: every case reaching a criminal threshold or with referral steps, its status
    and timings, and the referral rate per team and district."""
    moment = _instant(as_of)
    with _projections(db, rules) as (_, runner), _asked():
        if limit is not None or cursor is not None:
            page = supervision.referrals_page(runner, moment, scope, limit, cursor)
            answer = {**page.extra, "cases": page.rows, "total": page.total,
                      "next_cursor": page.next_cursor}
            _page_note(len(page.rows), page.total, page.next_cursor)
        else:
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
    out.print(f"{len(rows)} case(s) as of {beijing(moment)} (行刑衔接案件 {len(rows)} 件)")


@app.command()
def breaches(db: DbOption = None, rules: RulesOption = None, scope: ScopeOption = None,
             code: Annotated[str | None, typer.Option("--code", help="Only this deadline")
                             ] = None,
             met_from: Annotated[str | None, typer.Option(
                 "--from", help="Met at or after this instant (ISO 8601; Asia/Shanghai)")
             ] = None,
             met_to: Annotated[str | None, typer.Option(
                 "--to", help="Met before this instant")] = None,
             limit: LimitOption = None, cursor: CursorOption = None,
             as_json: JsonOption = False) -> None:
    """违限记录: every statutory deadline met late — code, case, team, officers, due, met
    and lateness — in the order they were met, a page at a time (for 监督评价 and 执法质效)."""
    start = None if met_from is None else _asked_instant(met_from, "--from")
    end = None if met_to is None else _asked_instant(met_to, "--to")
    with _projections(db, rules) as (_, runner), _asked():
        page = breach_register.breaches_page(runner, scope, code, start, end, limit, cursor)
    _page_note(len(page.rows), page.total, page.next_cursor)
    if as_json:
        _print_json({"breaches": page.rows, "total": page.total,
                     "next_cursor": page.next_cursor})
        return
    for row in page.rows:
        out.print(f"{row['code']:26} {row['case_id']:20} {row['team'] or '-':6} "
                  f"due {beijing(row['due_at'])}  met {beijing(row['met_at'])}  逾期{row['lateness']}  "
                  f"{','.join(row['officers']) or '-'}", markup=False)
    out.print(f"{len(page.rows)} of {page.total} breach(es) (违限 {page.total} 条)")


@app.command()
def devices(db: DbOption = None, rules: RulesOption = None, scope: ScopeOption = None,
            limit: LimitOption = None, cursor: CursorOption = None,
            as_of: Annotated[str | None, typer.Option(
                "--as-of", help="The register as it stood at this instant, ISO 8601 (no "
                                "offset: Asia/Shanghai) [default: as it stands]")] = None,
            as_json: JsonOption = False) -> None:
    """非现场执法设备台账: the devices registered inside the scope — kind, place, legal and
    technical review, published, retired — with their captures, the captures reviewed and
    the penalties resting on them, and the counts per district (APL Art. 41)."""
    moment = None if as_of is None else _instant(as_of)
    with _projections(db, rules) as (_, runner), _asked():
        page = device_register.devices_page(runner, scope, limit, cursor, moment)
    _page_note(len(page.rows), page.total, page.next_cursor)
    if as_json:
        _print_json({"devices": page.rows, "districts": page.extra["districts"],
                     "total": page.total, "next_cursor": page.next_cursor})
        return
    for row in page.rows:
        review = "已审核" if row["approved"] else "未经法制和技术审核"
        out.print(f"{row['device_id']:24} {row['kind']:7} {row['jurisdiction']:10} {review}  "
                  f"公布 {row['published_at'][:10]}  抓拍 {row['captures']}  "
                  f"处罚 {row['penalties']}  {row['location']}"
                  + (f"  停用 {row['retired_at'][:10]}" if row["retired_at"] else ""),
                  markup=False)
    for d in page.extra["districts"]:
        out.print(f"{d['district']:8} 设备 {d['devices']} 台，抓拍 {d['captures']} 起，"
                  f"处罚 {d['penalties']} 件", markup=False)
    out.print(f"{len(page.rows)} of {page.total} device(s) (设备 {page.total} 台)")


def _asked_instant(text: str, option: str) -> datetime:
    with _asked(option):
        return supervision.as_of(text, option.lstrip("-"))


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
        outcome = "给予处罚" if d["outcome"] == "penalty" else "不予处罚"
        out.print(f"  决定 {d['case_id']:20} {beijing(d['decided_at'])} {outcome} "
                  f"罚款 {yuan(d['fine'])}", markup=False)
    for year in register["inspections_per_year"]:
        out.print(f"  {year['year']} 检查 {year['inspections']} 次, 联合检查 {year['joint']} 次",
                  markup=False)
    for alert in register["alerts"]:
        out.print(f"  预警 {alert['code']} {alert['case_id']} {alert['detail']}", markup=False)
