"""Export of a dashboard panel as a table a supervisor writes a 通报 from: CSV or Excel.

Each panel's rows come from the same use cases as its `/v1` listing (as of the same instant,
inside the same scope, persons' ids masked for readers who see them masked), with zh-CN
headings, division names beside the codes, money as numbers, times in Beijing time. CSV is
UTF-8 with a byte-order mark (Excel opens it with the Chinese intact); `.xlsx` is written by
openpyxl in write-only mode, one streamed sheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook

from casechain.application import authorisation, supervision
from casechain.application import breaches as breach_register
from casechain.application import devices as device_register
from casechain.application.paging import Page
from casechain.application.queries import statistics_of
from casechain.domain.access import Principal
from casechain.domain.calendar import SHANGHAI
from casechain.domain.crosscase import REFERRAL_STATUS_LABELS
from casechain.domain.deadlines import ALERT_LABELS
from casechain.domain.rulepack import RulePack
from casechain.errors import QueryInvalid
from casechain.projections.machinery import ProjectionRunner
from casechain.projections.views import views_of

__all__ = ["PANELS", "Table", "pack_of", "panel_table", "to_csv", "to_xlsx"]

_SEVERITIES = {"red": "红色", "yellow": "黄色", "green": "绿色", "info": "提示"}
_METRICS = (("filed", "立案"), ("decided", "作出决定"), ("closed", "结案"), ("referred", "移送公安"))
_PAGE = 1000
_DEVICE_KINDS = {"camera": "摄像头", "drone": "无人机", "sensor": "传感器"}


@dataclass(frozen=True)
class Table:
    """A panel as rows: its title (the sheet's and the file's name) and headings."""

    title: str
    headings: list[str]
    rows: list[list[Any]]


def _every(page_after: Callable[[str | None], Page]) -> Iterator[dict[str, Any]]:
    """Every row of a paged listing, a page at a time (a page's cursor asks for the next)."""
    cursor = None
    while True:
        page = page_after(cursor)
        yield from page.rows
        cursor = page.next_cursor
        if cursor is None:
            return


def _beijing(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


class _Panels:
    """The tables of the panels, for one reader, instant and scope."""

    def __init__(self, runner: ProjectionRunner, pack: RulePack, principal: Principal,
                 moment: datetime, scope: str | None) -> None:
        self.runner, self.pack, self.principal = runner, pack, principal
        self.moment, self.scope = moment, scope

    def place(self, code: str | None) -> str:
        return self.pack.division_name(code or "") or ""

    def shown(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return authorisation.for_reader(self.runner, self.principal, rows)

    def alerts(self) -> Table:
        every = _every(lambda cursor: supervision.alerts_page(
            self.runner, self.moment, self.scope, None, _PAGE, cursor))
        rows = [[_SEVERITIES.get(a["severity"], a["severity"]), ALERT_LABELS[a["code"]][0],
                 a["code"], a["case_id"], a["jurisdiction"], self.place(a["jurisdiction"]),
                 _beijing(a["due_at"]), a["detail"]] for a in self.shown(list(every))]
        return Table("预警", ["等级", "预警", "预警代码", "案件编号", "辖区代码", "辖区", "到期时间",
                            "说明"], rows)

    def deadlines(self) -> Table:
        counted: dict[str, dict[str, int]] = {}
        summary = supervision.deadline_summary(self.runner, self.moment, self.scope)
        for c in summary["counts"]:
            counted.setdefault(c["code"], {}).setdefault(c["severity"], 0)
            counted[c["code"]][c["severity"]] += c["count"]
        rows = [[ALERT_LABELS[code][0], code, *(n.get(s, 0) for s in ("green", "yellow", "red")),
                 sum(n.values())] for code, n in sorted(counted.items())]
        return Table("法定时限", ["时限", "代码", "绿色", "黄色", "红色", "合计"], rows)

    def referrals(self) -> Table:
        answer = supervision.referrals(self.runner, self.moment, self.scope)
        rows = [[c["case_id"], c["jurisdiction"], self.place(c["jurisdiction"]), c.get("team"),
                 c.get("subject_name"), c.get("subject_id"), c.get("crime"), c.get("reason"),
                 "是" if c.get("threshold_met") else "否",
                 c.get("status_label") or REFERRAL_STATUS_LABELS.get(c.get("status")) or "未报告移送",
                 _beijing(c.get("known_at"))] for c in self.shown(answer["cases"])]
        return Table("行刑衔接", ["案件编号", "辖区代码", "辖区", "队伍", "当事人", "证件号码",
                              "涉嫌罪名", "依据", "达到追诉标准", "移送状态", "知悉时间"], rows)

    def breaches(self) -> Table:
        every = _every(lambda cursor: breach_register.breaches_page(
            self.runner, self.scope, None, None, self.moment, _PAGE, cursor))
        rows = [[b["label"], b["code"], b["case_id"], b["jurisdiction"],
                 self.place(b["jurisdiction"]), b["team"], _beijing(b["due_at"]),
                 _beijing(b["met_at"]), b["lateness"], "、".join(b["officers"])] for b in every]
        return Table("违限记录", ["时限", "代码", "案件编号", "辖区代码", "辖区", "队伍", "应完成时间",
                              "实际完成时间", "逾期", "执法人员"], rows)

    def statistics(self) -> Table:
        counted: dict[tuple[str, str, str], dict[str, int]] = {}
        for c in statistics_of(self.runner, self.scope, self.moment)["counts"]:
            key = (c["month"], c["team"], c["district"])
            counted.setdefault(key, {})[c["metric"]] = c["count"]
        rows = [[month, team, district, self.place(district),
                 *(n.get(metric, 0) for metric, _ in _METRICS)]
                for (month, team, district), n in sorted(counted.items())]
        return Table("按月统计", ["月份", "队伍", "区县代码", "区县", *(label for _, label in _METRICS)],
                     rows)

    def devices(self) -> Table:
        every = _every(lambda cursor: device_register.devices_page(
            self.runner, self.scope, _PAGE, cursor, self.moment))
        rows = [[d["device_id"], _DEVICE_KINDS.get(d["kind"], d["kind"]), d["location"],
                 d["jurisdiction"], self.place(d["jurisdiction"]),
                 "是" if d["approved"] else "否", _beijing(d["published_at"]),
                 _beijing(d.get("retired_at")), d["captures"], d["reviewed"], d["informed"],
                 d["penalties"]] for d in every]
        return Table("非现场执法设备", ["设备编号", "类型", "设置地点", "辖区代码", "辖区",
                                   "法制与技术审核", "公布时间", "停用时间", "抓拍", "已审核",
                                   "已告知", "处罚"], rows)

    def response(self) -> Table:
        rows = [[r["team"] or "未填写", r["district"], self.place(r["district"]), r["urgent_clues"],
                 r["acknowledged_within_1_min"], r["departed_within_3_min"],
                 r["arrived_within_15_min"]]
                for r in supervision.urgent_response(self.runner, self.scope, self.moment)]
        return Table("1315快速响应", ["队伍", "区县代码", "区县", "紧急线索", "1分钟内响应（比例）",
                                  "3分钟内出发（比例）", "15分钟内到场（比例）"], rows)


#: The panels that export, by the name the URL and the dashboard use.
PANELS = ("alerts", "deadlines", "referrals", "breaches", "statistics", "response", "devices")


def panel_table(runner: ProjectionRunner, principal: Principal, panel: str,
                moment: datetime, scope: str | None) -> Table:
    """The rows of one panel as `principal` may see them, as of `moment` inside `scope`."""
    if panel not in PANELS:
        raise QueryInvalid("panel", panel, f"is not a panel; one of {', '.join(PANELS)}")
    table: Table = getattr(_Panels(runner, pack_of(runner), principal, moment, scope), panel)()
    return table


def pack_of(runner: ProjectionRunner) -> RulePack:
    """The rule pack the views are kept by (its division names label the codes)."""
    pack: RulePack = views_of(runner).statistics.pack
    return pack


def to_csv(table: Table) -> bytes:
    """The table as CSV, UTF-8 with a byte-order mark."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(table.headings)
    writer.writerows(["" if v is None else v for v in row] for row in table.rows)
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """The table as one sheet of an Excel workbook (.xlsx)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title)
    sheet.append(table.headings)
    for row in table.rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
