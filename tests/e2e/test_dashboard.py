"""The supervisors' dashboard in a real browser (Debian's Chromium driven by Playwright)
against `casechain serve` as a process on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.crosscase_stories import concluded
from tests.factories import OFFICERS, SUBJECT, case_walk, envelope
from tests.serving import issue, start_server

CHROMIUM = os.environ.get("CASECHAIN_CHROMIUM", "/usr/bin/chromium")
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`casechain serve` holding a closed case, an overdue person's case and a case of fake
    goods worth 60,000 yuan never reported to the police in 330106, and an overdue case in
    330105 (the closed case's organisation again); tokens of several roles."""
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
                  + concluded("HZ-D-CRIME", "2025-09-02", 60000).events)
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
def page(browser: Browser) -> Iterator[Page]:
    """A fresh zh-CN tab; the test fails if the page's script threw anything."""
    context = browser.new_context(locale="zh-CN")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"the page threw: {errors}"


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/")
    page.get_by_label("访问令牌").fill(token)
    page.get_by_role("button", name="登录").click()


def _look_up(page: Page, case_id: str) -> None:
    page.get_by_label("案件编号").fill(case_id)
    page.get_by_role("button", name="查询").click()


@pytest.mark.slow
def test_a_supervisor_sees_the_districts_alerts_and_opens_a_case_trail(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """Signed in with a district supervisor's token, the page names the principal, lists the
    district's overdue case as a red 办案超期 alert (not the other district's), and opening it
    shows the case's trail in zh-CN with the person's id masked and the hostile name as text."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    expect(page.locator("#who")).to_contain_text("监督人员 S-330106 · 辖区 330106")
    page.get_by_label("截至时间").fill(AS_OF)
    page.get_by_role("button", name="刷新").click()

    alerts = page.locator("#alerts tbody tr")
    late = alerts.filter(has_text="HZ-D-LATE").filter(has_text="办案超期")
    expect(late).to_have_count(1)
    expect(late.locator(".badge")).to_have_text("红色")
    expect(late).to_contain_text("2024-05-30 24:00:00")  # 90 days after filing, Beijing time
    expect(page.locator("#alerts")).not_to_contain_text("HZ-D-OTHER")
    expect(page.locator("#alert-summary")).to_contain_text("红色")
    decision = page.locator("#deadlines tbody tr[data-code=DECISION_OVERDUE]")
    expect(decision.locator("td")).to_have_text(["办案超期", "0", "0", "1", "1"])
    expect(page.locator("#by-stage")).to_contain_text("监督评价")
    expect(page.locator("#by-stage")).to_contain_text("处罚")
    # The other district's decision served late is no breach of this district's.
    expect(page.locator("#breaches-total")).to_contain_text("共 0 次逾期完成")

    late.get_by_role("button", name="HZ-D-LATE").click()
    summary = page.locator("#case-summary")
    expect(summary).to_contain_text("立案")
    expect(summary).to_contain_text("3301**********1234")
    expect(summary).not_to_contain_text(PERSON_ID)
    expect(summary).to_contain_text(HOSTILE_NAME)
    assert page.evaluate("window.__injected") is None
    timeline = page.locator("#timeline tbody tr")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("执法人员 O1001")
    expect(timeline.first).to_contain_text("2024-03-01 10:00:00")


@pytest.mark.slow
def test_a_decision_served_late_is_on_the_breach_panel(served: tuple[str, dict[str, str]],
                                                       page: Page) -> None:
    """违限记录 (APL Arts. 61, 85): a city-wide reader sees the decision served after its 7
    working days counted under its month and team, after its alert is gone."""
    base, tokens = served
    _sign_in(page, base, tokens["city"])
    page.get_by_role("button", name="刷新").click()
    late = page.locator("#breaches tbody tr").filter(has_text="送达超期")
    expect(late.locator("td")).to_have_text(["2024-03", "综合执法", "送达超期", "1"])
    expect(page.locator("#breaches-total")).to_contain_text("共 1 次逾期完成")


@pytest.mark.slow
def test_a_case_that_should_have_gone_to_the_police_is_on_the_referral_panel(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """行刑衔接: the case over the threshold and never reported is listed as 未报告移送 with
    its crime and amount, the team's transfer rate is 0%, and 应移未移 is among the alerts."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    page.get_by_label("截至时间").fill("2025-09-10T00:00:00")
    page.get_by_role("button", name="刷新").click()
    listed = page.locator("#referrals tbody tr").filter(has_text="HZ-D-CRIME")
    expect(listed).to_contain_text("未报告移送")
    expect(listed).to_contain_text("60,000")
    expect(page.locator("#referral-rates tbody tr")).to_contain_text(["0.0%"])
    missing = page.locator("#alerts tbody tr").filter(has_text="HZ-D-CRIME")
    expect(missing.filter(has_text="应移未移")).to_have_count(1)
    expect(page.locator("#referrals")).not_to_contain_text("HZ-D-OTHER")


@pytest.mark.slow
def test_a_subjects_register_lists_only_its_cases_inside_the_scope(
        served: tuple[str, dict[str, str]], page: Page) -> None:
    """一户一档 of the organisation of the closed case: its two cases in 330106 (not the one in
    330105) and its fine, colour 黄色 for one penalty within twelve months; clicking a case
    opens its trail."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    page.get_by_label("截至时间").fill("2024-07-01T09:00:00")
    page.get_by_role("button", name="刷新").click()
    page.get_by_label("当事人证件号码").fill(SUBJECT["id"])
    page.get_by_role("button", name="查档").click()
    summary = page.locator("#subject-summary")
    expect(summary).to_contain_text(SUBJECT["name"])
    expect(summary).to_contain_text("黄色")
    expect(summary).to_contain_text("20000")
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
    expect(page.locator("#case-summary")).to_contain_text("监督评价")


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
def test_an_officer_sees_case_lookup_only(served: tuple[str, dict[str, str]],
                                          page: Page) -> None:
    """An officer may read cases but not the supervision views: those panels are not shown,
    and the person's id is shown whole (the officer's work needs it)."""
    base, tokens = served
    _sign_in(page, base, tokens["officer"])
    expect(page.locator("#who")).to_contain_text("执法人员 O1001")
    expect(page.locator("#alerts-panel")).to_be_hidden()
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
def test_signing_out_forgets_the_token(served: tuple[str, dict[str, str]], page: Page) -> None:
    """退出 removes the token from the tab: a reload asks for it again."""
    base, tokens = served
    _sign_in(page, base, tokens["supervisor"])
    expect(page.locator("#who")).to_be_visible()
    page.get_by_role("button", name="退出").click()
    expect(page.locator("#board")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('casechain.token')") is None
    page.reload()
    expect(page.get_by_label("访问令牌")).to_be_visible()
    expect(page.locator("#board")).to_be_hidden()


@pytest.mark.slow
def test_automatic_refresh_shows_a_case_filed_meanwhile(served: tuple[str, dict[str, str]],
                                                        page: Page) -> None:
    """With 每分钟自动刷新 on, a case filed after the page loaded appears a minute later
    (the page's clock is fast-forwarded) without a click."""
    base, tokens = served
    page.clock.install()
    _sign_in(page, base, tokens["supervisor"])
    page.get_by_label("截至时间").fill("2025-10-15T09:00:00")
    page.get_by_label("辖区前缀").fill("330106099")
    page.get_by_role("button", name="刷新").click()
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
