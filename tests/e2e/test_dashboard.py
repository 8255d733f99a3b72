"""The supervisors' dashboard in a real browser (Debian's Chromium driven by Playwright)
against `casechain serve` as a process on loopback."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.crosscase_stories import concluded
from tests.factories import OFFICERS, SUBJECT, case_walk, envelope
from tests.serving import issue, start_server

CHROMIUM = os.environ.get("CASECHAIN_CHROMIUM", "/usr/bin/chromium")
#: Where each test's last screen is kept (a CI artifact): test-artifacts/dashboard/<test>.png.
ARTIFACTS = Path(os.environ.get("CASECHAIN_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts"))
#: Flags this machine's closed network needs (background connections are refused).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
AS_OF = "2024-07-01T09:00:00"  # a case filed on 1 March 2024 is past its 90 days
#: A person's name that would run script if the page ever parsed log text as HTML.
HOSTILE_NAME = '张某<img src=x onerror="window.__injected=1">'
PERSON_ID = "330106199001011234"

# A shared CI machine with two cores can be slow to start the browser or catch views up:
# wait up to 20 s for what the page should show (a correct page shows it in well under 1 s).
expect.set_options(timeout=20_000)


def _filed(case_id: str, jurisdiction: str, subject: dict[str, Any]) -> list[dict[str, Any]]:
    """A case filed on 1 March 2024 and never decided."""
    payload = {"item_code": "330217001", "subject": subject, "act_date": "2024-02-20",
               "officers": OFFICERS, "procedure": "general"}
    return [envelope("penalty.case_filed", case_id, jurisdiction=jurisdiction, payload=payload,
                     occurred_at="2024-03-01T10:00:00+08:00")]


def _served_late(case_id: str) -> list[dict[str, Any]]:
    """The walk of a case whose decision of 13 March 2024 is served on 28 March, after the 7
    working days (due 24:00 22 March): a breach of 送达超期, in 330106 (the other district)."""
    walk = case_walk(case_id)
    served = next(i for i, e in enumerate(walk) if e["type"] == "penalty.decision_served")
    for days, event in enumerate(walk[served:]):
        when = datetime(2024, 3, 28, 10, tzinfo=timezone(timedelta(hours=8))) + timedelta(days)
        event["occurred_at"] = when.isoformat()
    for event in walk:
        event["jurisdiction"] = "330105001"
    return walk


def _urgent(case_id: str) -> list[dict[str, Any]]:
    """An urgent clue (1315) in 330106 dispatched to 市场监管: acknowledged in 40 s, departed
    after 3 min 30 s (late: 3 minutes), arrived after 12 minutes."""
    shop = {"id": "91330106MA27YYYY1D", "name": "杭州某某餐饮店", "kind": "organisation"}
    steps = (("supervision.clue_registered", "10:00:00", {"subject": shop}),
             ("supervision.dispatched", "10:02:00", {"team": "市场监管", "officers": OFFICERS}),
             ("supervision.acknowledged", "10:02:40", {}),
             ("supervision.departed", "10:05:30", {}), ("supervision.arrived", "10:14:00", {}))
    events = []
    for step, at, payload in steps:
        event = envelope(step, case_id, occurred_at=f"2024-04-01T{at}+08:00")
        event["payload"].update(payload)
        events.append(event)
    return events


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`casechain serve` holding a closed case, an overdue person's case and a case of fake
    goods worth 60,000 yuan never reported to the police in 330106, a camera registered in
    330106, an urgent clue of 市场监管 there, and an overdue case in 330105 (the closed case's
    organisation again); tokens of several roles."""
    folder = tmp_path_factory.mktemp("dashboard")
    tokens_file = folder / "tokens.yaml"
    tokens = {"supervisor": issue(tokens_file, "S-330106", "supervisor", "330106"),
              "officer": issue(tokens_file, "O1001", "officer", "330106"),
              "city": issue(tokens_file, "S-3301", "supervisor", "3301"),
              "service": issue(tokens_file, "feeder", "service", "3301")}
    server, base = start_server(folder / "d.db", tokens_file, stdout=subprocess.DEVNULL)
    try:
        person = {"id": PERSON_ID, "name": HOSTILE_NAME, "kind": "person"}
        events = (case_walk("HZ-D-CLOSED") + _filed("HZ-D-LATE", "330106001", person)
                  + _filed("HZ-D-OTHER", "330105001", SUBJECT) + _served_late("HZ-D-SLOW")
                  + concluded("HZ-D-CRIME", "2025-09-02", 60000).events
                  + _urgent("HZ-D-1315")
                  + [envelope("device.registered", "CAM-330106-0001", jurisdiction="330106",
                              occurred_at="2024-01-10T09:00:00+08:00",
                              actor={"id": "S330106", "role": "service", "org": "330106"})])
        posted = httpx.post(f"{base}/v1/events/batch", json=events,
                            headers={"Authorization": f"Bearer {tokens['service']}"})
        assert posted.json()["appended"] == len(events), posted.text
        yield base, tokens
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, with the flags this machine's closed network needs."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/ensure-browser.sh (make test "
                    "does) or set CASECHAIN_CHROMIUM")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh zh-CN tab; the test fails if the page's script threw anything. Its last screen
    is kept as test-artifacts/dashboard/<test>.png."""
    context = browser.new_context(locale="zh-CN", accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    shots = ARTIFACTS / "dashboard"
    shots.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=shots / f"{request.node.name}.png", full_page=True)
    context.close()
    assert errors == [], f"the page threw: {errors}"


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.get_by_label("访问令牌").fill(token)
    page.get_by_role("button", name="登录").click()


def _look_up(page: Page, case_id: str) -> None:
    _tab(page, "案件")
    page.get_by_label("案件编号").fill(case_id)
    page.get_by_role("button", name="查询").click()


def _tab(page: Page, name: str) -> None:
    page.locator("#tabs").get_by_role("button", name=name, exact=True).click()


def _as_of(page: Page, instant: str, scope: str = "") -> None:
    page.get_by_label("截至时间").fill(instant)
    page.get_by_label("辖区前缀").fill(scope)
    page.get_by_role("button", name="刷新").click()


@pytest.mark.slow
def test_a_supervisor_sees_the_districts_alerts_and_opens_a_case_trail(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """Signed in with a district supervisor's token, the page names the principal, lists the
    district's overdue case as a red 办案超期 alert (not the other district's), and opening it
    shows the case's trail in zh-CN with the person's id masked and the hostile name as text."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    expect(page.locator("#who")).to_contain_text("监督人员 S-330106 · 辖区 西湖区（330106）")
    _as_of(page, AS_OF)
    _tab(page, "预警")
    alerts = page.locator("#alerts tbody tr")
    late = alerts.filter(has_text="HZ-D-LATE").filter(has_text="办案超期")
    expect(late).to_have_count(1)
    expect(late.locator(".badge")).to_have_text("红色")
    expect(late).to_contain_text("2024-05-30 24:00:00")  # 90 days after filing, Beijing time
    expect(late).to_contain_text("《行政处罚法》第六十条")
    expect(late).to_contain_text("330106001")  # no such street in the division table: the code
    expect(page.locator("#alerts")).not_to_contain_text("HZ-D-OTHER")
    expect(page.locator("#alert-summary")).to_contain_text("红色")
    expect(page.locator("#alerts-pager")).to_contain_text("共 ")
    _tab(page, "法定时限")
    decision = page.locator("#deadlines tbody tr[data-code=DECISION_OVERDUE]")
    expect(decision.locator("td")).to_have_text(["办案超期", "0", "0", "1", "1"])
    _tab(page, "概览")
    expect(page.locator("#by-stage")).to_contain_text("监督评价")
    expect(page.locator("#by-stage")).to_contain_text("处罚")
    # The other district's decision served late is no breach of this district's; its own
    # 1315 departure after 3 min 30 s is.
    _tab(page, "违限记录")
    expect(page.locator("#breaches-pager")).to_contain_text("共 1 条")
    expect(page.locator("#breaches tbody tr")).to_contain_text(["HZ-D-1315"])

    _tab(page, "预警")
    late.get_by_role("button", name="HZ-D-LATE").click()
    summary = page.locator("#case-summary")
    expect(page.locator("#case-badges")).to_contain_text("处罚 · 立案")
    expect(summary).to_contain_text("3301**********1234")
    expect(summary).not_to_contain_text(PERSON_ID)
    expect(summary).to_contain_text(HOSTILE_NAME)
    assert page.evaluate("window.__injected") is None
    timeline = page.locator("#timeline tbody tr")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("执法人员 O1001")
    expect(timeline.first).to_contain_text("2024-03-01 10:00:00")
    expect(page.locator("#case-alerts tbody tr").filter(has_text="办案超期")).to_have_count(1)
    page.get_by_role("button", name="← 返回", exact=True).click()
    expect(page.locator("#alerts-panel")).to_be_visible()


@pytest.mark.slow
def test_the_headline_counts_alerts_by_kind_and_a_click_filters_them(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """The strip above the tabs counts the alerts by colour and kind; clicking 办案超期's red
    count opens the alert list holding only red 办案超期 alerts."""
    base, tokens = served
    _sign_in(page, base, tokens["city"])
    _as_of(page, AS_OF)
    kind = page.locator("#headline-kinds .kind[data-code=DECISION_OVERDUE]")
    expect(kind.locator(".name")).to_have_text("办案超期")
    expect(kind.locator(".count.red")).to_have_text("2")
    expect(page.locator("#headline-totals .red")).to_contain_text("红色")
    kind.locator(".count.red").click()
    expect(page.locator("#alerts-panel")).to_be_visible()
    rows = page.locator("#alerts tbody tr")
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n)).to_contain_text("办案超期")
        expect(rows.nth(n).locator(".badge")).to_have_text("红色")
    assert page.url.endswith("#alerts")


@pytest.mark.slow
def test_the_overview_draws_the_trend_the_teams_and_the_streets(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """概览 draws three ECharts charts served by this server (no CDN): the monthly trend of
    filings up to 截至时间's month, the teams' transfer and 1315 rates, and the alerts per
    street named from the pack's division table (from china-division: 330105001 米市巷街道)."""
    base, tokens = served
    _sign_in(page, base, tokens["city"])
    _as_of(page, AS_OF)
    expect(page.locator("#overview-panel")).to_have_attribute("data-as-of", re.compile("^2024-07-01T09:00"))
    for chart in ("chart-trend", "chart-teams", "chart-streets"):
        expect(page.locator(f"#{chart} canvas")).to_have_count(1)
    trend = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-trend'))"
                          ".getOption()")
    months = trend["xAxis"][0]["data"]
    assert months and max(months) <= "2024-07", months  # nothing after 截至时间's month
    assert [s["name"] for s in trend["series"]] == ["立案", "作出决定", "结案", "移送公安"]
    streets = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-streets'))"
                            ".getOption().series[0].data")
    names = {leaf["name"].split(" ")[0] for district in streets for leaf in district["children"]}
    assert {"西湖区", "拱墅区"} <= {district["name"] for district in streets}
    assert "米市巷街道" in names, names
    _tab(page, "按月统计")
    expect(page.locator("#statistics tbody")).not_to_contain_text("2025-")
    expect(page.locator("#first-cases")).to_contain_text("统计至 2024-07")


def test_the_overview_counts_the_cases_by_stage_as_of_its_instant(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """概览's cases by stage and team follow 截至时间 (the board's spans): none before any
    case occurred; as of 1 July 2024 the cases filed by then, in their stages then."""
    base, tokens = served
    _sign_in(page, base, tokens["city"])
    _as_of(page, "2020-01-01T00:00:00")
    expect(page.locator("#overview-panel")).to_have_attribute("data-as-of",
                                                              re.compile("^2020-01-01T00:00"))
    expect(page.locator("#by-stage tbody tr")).to_have_count(0)
    expect(page.locator("#by-team tbody tr")).to_have_count(0)
    _as_of(page, AS_OF)
    expect(page.locator("#overview-panel")).to_have_attribute("data-as-of",
                                                              re.compile("^2024-07-01T09:00"))
    expect(page.locator("#by-stage")).to_contain_text("处罚")
    expect(page.locator("#by-team")).to_contain_text("综合执法")


@pytest.mark.slow
def test_the_1315_panel_shows_each_limit_met_or_missed(served: tuple[str, dict[str, str]],
                                                      page: Page) -> None:
    """1315快速响应: 市场监管's urgent clue answered in 40 s and on site in 12 minutes but gone
    out after 3 min 30 s is 100% / 0% / 100%; as of 截至时间 only the steps taken by then."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _tab(page, "1315快速响应")
    market = page.locator("#response tbody tr").filter(has_text="市场监管")
    expect(market.locator("td")).to_have_text(["市场监管", "西湖区（330106）", "1", "100.0%",
                                               "0.0%", "100.0%"])
    # 截至时间 two minutes after the dispatch: answered, not yet gone out nor on site.
    _as_of(page, "2024-04-01T10:04:00")
    expect(market.locator("td")).to_have_text(["市场监管", "西湖区（330106）", "1", "100.0%",
                                               "0.0%", "0.0%"])
    _as_of(page, "2024-04-01T10:01:00")  # before the dispatch: no clue of 市场监管 yet
    expect(market).to_have_count(0)


@pytest.mark.slow
def test_the_device_register_lists_the_districts_cameras(served: tuple[str, dict[str, str]],
                                                          page: Page) -> None:
    """非现场执法设备 (APL Art. 41): the camera registered with both reviews and published is
    listed as 已通过 and in use, and counted under 西湖区; as of 截至时间 before its
    registration the register is empty."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _tab(page, "非现场执法设备")
    camera = page.locator("#devices tbody tr").filter(has_text="CAM-330106-0001")
    expect(camera.locator("td").nth(1)).to_have_text("摄像头")
    expect(camera).to_contain_text("已通过")
    expect(camera).to_contain_text("在用")
    expect(camera).to_contain_text("2024-01-10 09:00:00")
    expect(page.locator("#device-districts tbody tr").first.locator("td")).to_have_text(
        ["西湖区（330106）", "1", "0", "0"])
    _as_of(page, "2020-01-01T00:00:00")  # before it was registered: the register was empty
    expect(page.locator("#devices tbody tr")).to_have_count(0)
    expect(page.locator("#device-districts tbody tr")).to_have_count(0)
    _as_of(page, AS_OF)
    expect(camera).to_contain_text("在用")


@pytest.mark.slow
def test_a_decision_served_late_is_on_the_breach_panel(served: tuple[str, dict[str, str]],
                                                       page: Page) -> None:
    """违限记录 (APL Arts. 61, 85): a city-wide reader sees the decision served after its 7
    working days counted under its month and team, and listed with its case."""
    base, tokens = served
    _sign_in(page, base, tokens["city"])
    _tab(page, "违限记录")
    late = page.locator("#breach-months tbody tr").filter(has_text="送达超期")
    expect(late.locator("td")).to_have_text(["2024-03", "综合执法", "送达超期", "1"])
    listed = page.locator("#breaches tbody tr").filter(has_text="HZ-D-SLOW")
    expect(listed).to_contain_text("送达超期")
    expect(page.locator("#breaches-pager")).to_contain_text("共 2 条")  # and the 1315 one


@pytest.mark.slow
def test_a_case_that_should_have_gone_to_the_police_is_on_the_referral_panel(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """行刑衔接: the case over the threshold and never reported is listed as 未报告移送 with
    its crime and amount, the team's transfer rate is 0%, and 应移未移 is among the alerts."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, "2025-09-10T00:00:00")
    _tab(page, "行刑衔接")
    listed = page.locator("#referrals tbody tr").filter(has_text="HZ-D-CRIME")
    expect(listed).to_contain_text("未报告移送")
    expect(listed).to_contain_text("60,000")
    expect(page.locator("#referral-rates tbody tr")).to_contain_text(["0.0%"])
    expect(page.locator("#referrals")).not_to_contain_text("HZ-D-OTHER")
    _tab(page, "预警")
    missing = page.locator("#alerts tbody tr").filter(has_text="HZ-D-CRIME")
    expect(missing.filter(has_text="应移未移")).to_have_count(1)


@pytest.mark.slow
def test_the_case_page_says_what_the_referral_view_says(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """Opened from 行刑衔接, the case page shows the same status, crime and condition as the
    referral list (one source), its 应移未移 alert, the amount, the officers' 执法证号 and a
    verified hash chain; the subject's register words the case's status the same; 返回 goes
    back to the referral list."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, "2025-09-10T00:00:00")
    _tab(page, "行刑衔接")
    listed = page.locator("#referrals tbody tr").filter(has_text="HZ-D-CRIME")
    expect(listed).to_have_count(1)
    cells = listed.locator("td")
    crime, reason, status = cells.nth(2).inner_text(), cells.nth(3).inner_text(), \
        cells.nth(4).inner_text()
    listed.get_by_role("button", name="HZ-D-CRIME").click()
    summary = page.locator("#case-summary")
    expect(summary.locator("dd").nth(4)).to_have_text(status)  # 行刑衔接
    expect(summary.locator("dd").nth(5)).to_have_text(crime)
    expect(summary.locator("dd").nth(6)).to_have_text(reason)
    expect(summary).to_contain_text("60,000 元")
    expect(page.locator("#case-badges")).to_contain_text("哈希链校验通过")
    expect(page.locator("#case-alerts tbody tr").filter(has_text="应移未移")).to_have_count(1)
    expect(page.locator("#case-officers tbody tr").first).to_contain_text(
        OFFICERS[0]["cert_no"])
    page.get_by_role("button", name="查看当事人档案（一户一档）").click()
    in_register = page.locator("#subject-cases tbody tr").filter(has_text="HZ-D-CRIME")
    expect(in_register).to_contain_text(status)
    page.get_by_role("button", name="← 返回案件", exact=True).click()
    expect(page.locator("#case-panel")).to_be_visible()
    page.get_by_role("button", name="← 返回", exact=True).click()
    expect(page.locator("#referral-panel")).to_be_visible()


@pytest.mark.slow
def test_a_subjects_register_is_reached_from_a_case_though_its_id_is_masked(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """The person's id is masked for a supervisor, yet 查看当事人档案 on the case opens the
    register (the server resolves it through the case), masked too; 返回案件 goes back."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _look_up(page, "HZ-D-LATE")
    page.get_by_role("button", name="查看当事人档案（一户一档）").click()
    summary = page.locator("#subject-summary")
    expect(summary).to_contain_text("3301**********1234")
    expect(summary).not_to_contain_text(PERSON_ID)
    expect(page.locator("#subject-cases tbody tr")).to_contain_text(["HZ-D-LATE"])
    page.get_by_role("button", name="← 返回案件", exact=True).click()
    expect(page.locator("#case-summary")).to_contain_text("HZ-D-LATE")


@pytest.mark.slow
def test_a_subjects_register_lists_only_its_cases_inside_the_scope(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """一户一档 of the organisation of the closed case: its two cases in 330106 (not the one in
    330105) and its fine, colour 黄色 for one penalty within twelve months; clicking a case
    opens its trail."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, "2024-07-01T09:00:00")
    _tab(page, "当事人档案")
    page.get_by_label("当事人证件号码").fill(SUBJECT["id"])
    page.get_by_role("button", name="查档").click()
    summary = page.locator("#subject-summary")
    expect(summary).to_contain_text(SUBJECT["name"])
    expect(summary).to_contain_text("黄色")
    expect(summary).to_contain_text("20,000 元")
    expect(page.locator("#subject-decisions tbody tr")).to_contain_text(["给予处罚"])
    cases = page.locator("#subject-cases tbody tr")
    expect(cases).to_have_count(2)
    expect(page.locator("#subject")).not_to_contain_text("HZ-D-OTHER")
    cases.get_by_role("button", name="HZ-D-CLOSED").click()
    expect(page.locator("#timeline tbody tr")).to_have_count(18)


@pytest.mark.slow
def test_the_whole_trail_of_a_case_in_order(served: tuple[str, dict[str, str]],
                                             page: Page) -> None:
    """A case looked up by its number shows every event in order with its zh-CN label."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _look_up(page, "HZ-D-CLOSED")
    timeline = page.locator("#timeline tbody tr")
    expect(timeline).to_have_count(18)
    expect(timeline.nth(0)).to_contain_text("准予许可")
    expect(timeline.nth(6)).to_contain_text("立案")
    expect(timeline.nth(17)).to_contain_text("2024-03-18 10:00:00")
    expect(page.locator("#case-badges")).to_contain_text("监督评价")
    expect(page.locator("#case-summary")).to_contain_text("罚款 20,000 元")


@pytest.mark.slow
def test_another_districts_case_is_refused_on_the_page(served: tuple[str, dict[str, str]],
                                                       page: Page) -> None:
    """A case of 330105 looked up by 330106's supervisor shows OUT_OF_SCOPE and no trail."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _look_up(page, "HZ-D-OTHER")
    expect(page.get_by_role("alert")).to_contain_text("OUT_OF_SCOPE")
    expect(page.get_by_role("alert")).to_contain_text("无权查看")
    expect(page.locator("#case")).to_be_hidden()


@pytest.mark.slow
def test_a_refusal_is_cleared_when_the_scope_is(served: tuple[str, dict[str, str]],
                                                page: Page) -> None:
    """辖区前缀 outside the token's district is refused (OUT_OF_SCOPE); cleared and refreshed,
    the message goes and nothing stacks under it."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, AS_OF, scope="330105")
    expect(page.get_by_role("alert")).to_contain_text("OUT_OF_SCOPE")
    _as_of(page, AS_OF, scope="")
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.locator("#headline-kinds .kind")).not_to_have_count(0)


@pytest.mark.slow
def test_a_refusal_is_said_in_chinese_naming_the_field_and_value(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """A 辖区前缀 of another district is refused in zh-CN naming the field and the value
    given; the server's English detail stays folded under 技术详情 until opened."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, AS_OF, scope="330105")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("无权查看", use_inner_text=True)
    expect(alert).to_contain_text("辖区前缀：330105。（OUT_OF_SCOPE）", use_inner_text=True)
    expect(alert).not_to_contain_text("outside the token", use_inner_text=True)
    expect(alert.locator("details")).to_have_count(1)  # said once, though two parts asked
    alert.get_by_text("技术详情").first.click()
    expect(alert.locator("details code").first).to_contain_text(
        "lies outside the token's scope 330106", use_inner_text=True)


@pytest.mark.slow
def test_an_officer_sees_case_lookup_only(served: tuple[str, dict[str, str]],
                                          page: Page) -> None:
    """An officer may read cases but not the supervision views: those tabs are not shown,
    and the person's id is shown whole (the officer's work needs it)."""
    base, tokens = served
    _sign_in(page, base, tokens["officer"])
    expect(page.locator("#who")).to_contain_text("执法人员 O1001")
    expect(page.locator("#tabs").get_by_role("button", name="预警")).to_be_hidden()
    expect(page.locator("#headline")).to_be_hidden()
    expect(page.locator("#case-panel")).to_be_visible()
    _look_up(page, "HZ-D-LATE")
    expect(page.locator("#case-summary")).to_contain_text(PERSON_ID)
    expect(page.get_by_role("alert")).to_be_hidden()


@pytest.mark.slow
def test_a_wrong_token_is_refused_and_nothing_is_shown(served: tuple[str, dict[str, str]],
                                                       page: Page) -> None:
    """An unknown token is answered with 令牌无效或已过期 and the sign-in form stays."""
    base, _ = served
    _sign_in(page, base, "not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("令牌无效或已过期")
    expect(page.get_by_role("alert")).to_contain_text("UNAUTHENTICATED")
    expect(page.locator("#board")).to_be_hidden()
    expect(page.get_by_label("访问令牌")).to_be_visible()


@pytest.mark.slow
def test_signing_out_forgets_the_token_and_the_last_case(served: tuple[str, dict[str, str]],
                                                         page: Page) -> None:
    """退出 removes the token from the tab and empties the case number: the next person to
    sign in does not see what was looked at; a reload asks for the token again."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _look_up(page, "HZ-D-CLOSED")
    expect(page.locator("#timeline tbody tr")).to_have_count(18)
    page.get_by_role("button", name="退出").click()
    expect(page.locator("#board")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('casechain.token')") is None
    _sign_in(page, base, tokens["supervisor"])
    _tab(page, "案件")
    expect(page.get_by_label("案件编号")).to_have_value("")
    expect(page.locator("#case")).to_be_hidden()
    page.get_by_role("button", name="退出").click()
    page.reload()
    expect(page.get_by_label("访问令牌")).to_be_visible()
    expect(page.locator("#board")).to_be_hidden()


@pytest.mark.slow
def test_a_panel_exports_to_excel_and_csv_as_shown(served: tuple[str, dict[str, str]],
                                                   page: Page, tmp_path: Path) -> None:
    """导出 Excel on 预警 downloads an .xlsx that opens (openpyxl) with zh-CN headings and the
    district's alerts as of 截至时间 (persons' ids masked); 导出 CSV on 行刑衔接 a CSV with the
    case never reported."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, AS_OF)
    _tab(page, "预警")
    with page.expect_download() as download:
        page.locator("#alerts-panel").get_by_role("button", name="导出 Excel").click()
    assert re.fullmatch(r"预警-330106-20240701-0900\.xlsx", download.value.suggested_filename)
    workbook = tmp_path / download.value.suggested_filename
    download.value.save_as(workbook)
    sheet = load_workbook(workbook, read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:4] == ["等级", "预警", "预警代码", "案件编号"]
    late = [r for r in rows if r[3] == "HZ-D-LATE" and r[2] == "DECISION_OVERDUE"]
    assert late and late[0][0] == "红色" and late[0][4] == "330106001"
    assert not any(r[3] == "HZ-D-OTHER" for r in rows[1:])

    _as_of(page, "2025-09-10T00:00:00")
    _tab(page, "行刑衔接")
    with page.expect_download() as download:
        page.locator("#referral-panel").get_by_role("button", name="导出 CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["案件编号", "辖区代码", "辖区"]
    crime = next(r for r in table if r[0] == "HZ-D-CRIME")
    assert "未报告移送" in crime and "是" in crime


@pytest.mark.slow
def test_automatic_refresh_shows_a_case_filed_meanwhile(served: tuple[str, dict[str, str]],
                                                        page: Page) -> None:
    """With 每分钟自动刷新 on, a case filed after the page loaded appears a minute later
    (the page's clock is fast-forwarded) without a click."""
    base, tokens = served
    page.clock.install()
    _sign_in(page, base, tokens["supervisor"])
    _as_of(page, "2025-10-15T09:00:00", scope="330106099")
    _tab(page, "法定时限")
    page.get_by_label("每分钟自动刷新").check()
    rows = page.locator("#deadlines tbody tr")
    expect(rows).to_have_count(0)
    shop = {"id": "91330106MA27ZZZZ0C", "name": "杭州某某超市", "kind": "organisation"}
    filed = _filed("HZ-D-NEW", "330106099001", shop)
    filed[0]["occurred_at"] = "2025-10-01T10:00:00+08:00"  # after the other tests' instants
    posted = httpx.post(f"{base}/v1/events/batch", json=filed,
                        headers={"Authorization": f"Bearer {tokens['service']}"})
    assert posted.json()["appended"] == 1, posted.text
    page.clock.run_for(61_000)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(["办案超期", "1", "0", "0", "1"])
