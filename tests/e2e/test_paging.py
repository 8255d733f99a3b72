"""Paged, aggregated and compressed reads (the city's volume): every listing a page at a
time after an opaque cursor, with its total; the alert summary; gzip; reads that do not
wait for each other. On both databases, over a simulated half year of one district."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from casechain.adapters.tokens import issue_token
from casechain.application import supervision
from casechain.application.queries import alerts_as_of, deadlines_as_of
from casechain.application.rule_packs import calendar_of, load_pack
from casechain.application.serving import Components
from casechain.application.simulation import simulate
from casechain.bootstrap import open_case_log, open_projections, open_service
from casechain.entrypoints.cli import supervisors
from casechain.entrypoints.cli.main import app
from casechain.entrypoints.http.app import create_app
from tests.factories import case_walk

AS_OF = "2025-06-30T18:00:00"
Api = tuple[TestClient, dict[str, str], Components, str]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Api]:
    """An API over 300 simulated cases of 330106 (January to June 2025)."""
    from tests.pg import create_database, drop_database

    folder = tmp_path_factory.mktemp("paging")
    url = (f"sqlite:///{folder / 'p.db'}" if request.param == "sqlite" else create_database())
    tokens = folder / "tokens.yaml"
    auth = {"city": issue_token(tokens, "city", ["supervisor"], "3301", None),
            "service": issue_token(tokens, "svc", ["service"], "3301", None)}
    pack = load_pack(None)
    case_log = open_case_log(url)
    outcomes = list(case_log.append_many(simulate(300, 7, date(2025, 1, 2), 6, pack,
                                                  calendar_of(pack), "330106")))
    assert {o.status for o in outcomes} == {"appended"}
    components = open_service(case_log, open_projections(case_log), tokens)
    try:
        with TestClient(create_app(components, follow=False)) as client:
            yield client, auth, components, url
    finally:
        case_log.close()
        if request.param == "postgres":
            drop_database(url)


def _get(client: TestClient, token: str, path: str, **params: Any) -> httpx.Response:
    if path == "/v1/board":  # the board lists the cases as they stand (as_of: counts only)
        params.pop("as_of", None)
    return client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def _all_pages(client: TestClient, token: str, path: str, limit: int,
               **params: Any) -> tuple[list[list[Any]], list[httpx.Response]]:
    pages, answers, cursor = [], [], None
    while True:
        answer = _get(client, token, path, limit=limit, as_of=AS_OF,
                      **({"cursor": cursor} if cursor else {}), **params)
        assert answer.status_code == 200, answer.text
        answers.append(answer)
        body = answer.json()
        pages.append(body["cases"] if isinstance(body, dict) else body)
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages, answers


@pytest.mark.parametrize("path", ["/v1/alerts", "/v1/deadlines", "/v1/board", "/v1/referrals",
                                  "/v1/breaches"])
def test_pages_put_together_are_the_whole_listing(api: Api, path: str) -> None:
    """Page after page through the cursor gives every row once, in order, and each page
    says the total; the last page has no next cursor and no Link."""
    client, auth, _, _ = api
    whole = _get(client, auth["city"], path, limit=10_000, as_of=AS_OF)
    rows = whole.json()["cases"] if path == "/v1/referrals" else whole.json()
    assert len(rows) > 5, "the simulated half year gives more rows than a page"
    pages, answers = _all_pages(client, auth["city"], path, 5)
    assert [row for page in pages for row in page] == rows
    assert all(len(page) == 5 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 5
    assert {a.headers["X-Total-Count"] for a in answers} == {str(len(rows))}
    assert all('rel="next"' in a.headers["Link"] for a in answers[:-1])
    assert "Link" not in answers[-1].headers


def test_a_page_is_stable_while_cases_are_appended(api: Api) -> None:
    """Keyset paging: a case filed between two page reads neither repeats a row of the
    first page nor shifts the second (it appears in case-id order, where it falls)."""
    client, auth, _, _ = api
    first = _get(client, auth["city"], "/v1/board", limit=50, as_of=AS_OF)
    posted = client.post("/v1/events/batch", json=case_walk("HZ-0000-PAGING")[:8],
                         headers={"Authorization": f"Bearer {auth['service']}"})
    assert posted.status_code == 200 and posted.json()["appended"] == 8
    second = _get(client, auth["city"], "/v1/board", limit=50,
                  cursor=first.headers["X-Next-Cursor"])
    shown = [r["case_id"] for r in first.json()]
    following = [r["case_id"] for r in second.json()]
    assert not set(shown) & set(following)
    assert min(following) > max(shown)
    assert int(second.headers["X-Total-Count"]) == int(first.headers["X-Total-Count"]) + 1


def test_the_board_filters_an_officer_exactly(api: Api) -> None:
    """An officer id matches that officer only (O1001 is not O10011), on every page."""
    client, auth, components, _ = api
    rows = supervision.board(components.runner, None, {}, None)
    assert isinstance(rows, list)
    officer = next(r["officers"] for r in rows if r["officers"]).split(",")[0]
    listed = _get(client, auth["city"], "/v1/board", officer=officer, limit=10_000).json()
    expected = [r["case_id"] for r in rows if officer in (r["officers"] or "").split(",")]
    assert [r["case_id"] for r in listed] == expected
    assert _get(client, auth["city"], "/v1/board", officer=officer[:-1] + "%").json() == []


@pytest.mark.parametrize(("params", "field"), [({"cursor": "not-a-cursor"}, "cursor"),
                                               ({"cursor": "WyJ4Il0"}, "cursor"),
                                               ({"limit": 0}, "limit"),
                                               ({"limit": 10_001}, "limit")])
def test_a_cursor_or_limit_the_listing_did_not_give_is_422_naming_it(
        api: Api, params: dict[str, Any], field: str) -> None:
    client, auth, _, _ = api
    answer = _get(client, auth["city"], "/v1/alerts", as_of=AS_OF, **params)
    assert answer.status_code == 422
    assert field in answer.text


def test_the_summary_counts_every_alert_by_code_severity_team_and_place(api: Api) -> None:
    """The counts add up to the alerts listed; by street the places are the 9-digit streets,
    and the district itself for the cases its own teams handle (items not delegated to
    streets)."""
    client, auth, _, _ = api
    listed = _get(client, auth["city"], "/v1/alerts", as_of=AS_OF, limit=10_000).json()
    summary = _get(client, auth["city"], "/v1/alerts/summary", as_of=AS_OF).json()
    assert summary["total"] == len(listed) == sum(c["count"] for c in summary["counts"])
    by_code: dict[str, int] = {}
    for alert in listed:
        by_code[alert["code"]] = by_code.get(alert["code"], 0) + 1
    counted: dict[str, int] = {}
    for row in summary["counts"]:
        counted[row["code"]] = counted.get(row["code"], 0) + row["count"]
        assert row["district"] == "330106" and row["label"]
    assert counted == by_code
    streets = _get(client, auth["city"], "/v1/alerts/summary", as_of=AS_OF, by="street").json()
    assert {len(row["street"]) for row in streets["counts"]} == {6, 9}
    assert {row["street"][:6] for row in streets["counts"]} == {"330106"}
    assert _get(client, auth["city"], "/v1/alerts/summary", by="county").status_code == 422


def test_listings_are_gzipped_for_clients_that_accept_it(api: Api) -> None:
    client, auth, _, _ = api
    answer = client.get("/v1/board", params={"limit": 500},
                        headers={"Authorization": f"Bearer {auth['city']}",
                                 "Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    # the client unpacked it: the bytes on the wire were under a third of the rows' JSON
    assert int(answer.headers["content-length"]) * 3 < len(answer.content)
    assert len(orjson.loads(answer.content)) == int(answer.headers["X-Total-Count"])


def test_a_case_read_does_not_wait_for_a_running_alert_query(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """An alert query held in the middle of its work: a case read answers meanwhile (there
    is no process-wide read lock across a query)."""
    client, auth, _, _ = api
    inside, release = threading.Event(), threading.Event()
    real = supervision.alert_rows

    def held(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert release.wait(30), "the case read never came"
        return real(*args, **kwargs)

    monkeypatch.setattr(supervision, "alert_rows", held)
    answers: list[int] = []
    query = threading.Thread(target=lambda: answers.append(
        _get(client, auth["city"], "/v1/alerts", as_of=AS_OF).status_code))
    query.start()
    try:
        assert inside.wait(30)
        case = _get(client, auth["city"], "/v1/cases/HZ-2025-0000001")
    finally:
        release.set()
        query.join(60)
    assert case.status_code == 200
    assert answers == [200]


def test_the_cli_pages_and_summarises_alerts(api: Api, tmp_path: Path) -> None:
    _, _, _, url = api
    runner = CliRunner()
    first = runner.invoke(app, ["alerts", "--db", url, "--as-of", AS_OF, "--limit", "3",
                                "--json"])
    assert first.exit_code == 0, first.output
    assert len(orjson.loads(first.stdout)) == 3
    cursor = first.stderr.rsplit("--cursor ", 1)[1].strip()
    second = runner.invoke(app, ["alerts", "--db", url, "--as-of", AS_OF, "--limit", "3",
                                 "--cursor", cursor, "--json"])
    assert second.exit_code == 0, second.output
    whole = orjson.loads(runner.invoke(app, ["alerts", "--db", url, "--as-of", AS_OF,
                                             "--json"]).stdout)
    assert orjson.loads(first.stdout) + orjson.loads(second.stdout) == whole[:6]
    summary = runner.invoke(app, ["alerts", "--db", url, "--as-of", AS_OF, "--summary",
                                  "--json"])
    assert orjson.loads(summary.stdout)["total"] == len(whole)
    bad = runner.invoke(app, ["alerts", "--db", url, "--cursor", "zzz"])
    assert bad.exit_code == 2 and "cursor" in bad.output


def test_the_cli_prints_every_alert_a_page_at_a_time(api: Api, monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    """`casechain alerts` without --limit prints the whole listing, read a few rows at a time
    (here three: the city's year has tens of thousands, never all in memory at once): the
    same alerts, in due order, as the listing evaluated whole, as JSON and as lines."""
    _, _, components, url = api
    asked: list[int | None] = []
    page_of = supervision.alerts_page

    def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append(args[4] if len(args) > 4 else kwargs.get("limit"))
        return page_of(*args, **kwargs)

    monkeypatch.setattr(supervisors, "STREAMED_PAGE", 3)
    monkeypatch.setattr(supervision, "alerts_page", counted)
    runner = CliRunner()
    streamed = runner.invoke(app, ["alerts", "--db", url, "--as-of", AS_OF, "--json"])
    assert streamed.exit_code == 0, streamed.output
    whole = alerts_as_of(components.runner, datetime.fromisoformat(AS_OF + "+08:00"))
    assert len(whole) > 9
    assert orjson.loads(streamed.stdout) == orjson.loads(orjson.dumps(whole))
    assert asked == [3] * -(-len(whole) // 3)  # a page of three at a time, to the end
    lines = runner.invoke(app, ["alerts", "--db", url, "--as-of", AS_OF])
    assert lines.exit_code == 0, lines.output
    assert f"{len(whole)} alert(s) as of" in lines.stdout
    assert [line.split()[3] for line in lines.stdout.splitlines()[:-1]] == [
        a["case_id"] for a in whole]


def _counted_in_python(components: Components, rows: list[dict[str, Any]],
                       with_green: bool) -> dict[tuple[Any, ...], int]:
    board = supervision.board(components.runner, None, {})
    assert isinstance(board, list)
    teams = {r["case_id"]: r["team"] for r in board}
    counts: dict[tuple[Any, ...], int] = {}
    for row in rows:
        if row["severity"] == "green" and not with_green:
            continue
        key = (row["code"], row["severity"], teams.get(row["case_id"]) or None,
               row["jurisdiction"][:6])
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_sql_pages_and_summaries_equal_the_rows_at_every_boundary(api: Api) -> None:
    """The pages are cut and the summaries counted in SQL (a clock's instants compared with the instant);
    at the instants where colours change — each due instant, each fifth-of-the-period mark
    — and one second either side, they equal the counts of the rows evaluated in Python."""
    _, _, components, _ = api
    runner = components.runner
    marks: set[datetime] = set()
    for text in ("2025-03-31T18:00:00+08:00", AS_OF + "+08:00"):
        for row in deadlines_as_of(runner, datetime.fromisoformat(text)):
            due, started = datetime.fromisoformat(row["due_at"]), datetime.fromisoformat(
                row["started_at"])
            marks |= {due, due - (due - started) / 5}
        for row in alerts_as_of(runner, datetime.fromisoformat(text)):
            marks.add(datetime.fromisoformat(row["due_at"]))
    instants = sorted({m + timedelta(seconds=s) for m in sorted(marks)[::7] for s in (-1, 0, 1)})
    assert len(instants) > 60
    def in_due_order(rows: list[dict[str, Any]]) -> list[bytes]:
        return [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in sorted(rows, key=lambda r: (
            datetime.fromisoformat(r["due_at"]), r["case_id"], r["code"], r.get("step", "")))]

    for moment in instants:
        paged_alerts = supervision.alerts_page(runner, moment, None, limit=10_000)
        assert in_due_order(paged_alerts.rows) == in_due_order(alerts_as_of(runner, moment))
        assert [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in paged_alerts.rows] == \
            in_due_order(paged_alerts.rows), "the SQL page is in due order"
        paged_deadlines = supervision.deadlines_page(runner, moment, "330106", limit=10_000)
        assert in_due_order(paged_deadlines.rows) == in_due_order(
            deadlines_as_of(runner, moment, "330106"))
        alerts = supervision.alert_summary(runner, moment, None)
        expected = _counted_in_python(components, alerts_as_of(runner, moment), False)
        assert {(c["code"], c["severity"], c["team"], c["district"]): c["count"]
                for c in alerts["counts"]} == expected, moment
        deadlines = supervision.deadline_summary(runner, moment, "330106")
        expected = _counted_in_python(components, deadlines_as_of(runner, moment, "330106"),
                                      True)
        assert {(c["code"], c["severity"], c["team"], c["district"]): c["count"]
                for c in deadlines["counts"]} == expected, moment


def test_the_device_register_pages_and_counts_per_district(api: Api) -> None:
    """GET /v1/devices (APL Art. 41): the district's four devices, two a page through the
    cursor, the total in X-Total-Count, and the district's captures and penalties counted."""
    client, auth, _, _ = api
    whole = _get(client, auth["city"], "/v1/devices")
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert [d["device_id"] for d in body["devices"]] == [
        "CAM-330106-001", "CAM-330106-002", "CAM-330106-003", "UAV-330106-004"]
    assert whole.headers["X-Total-Count"] == "4"
    (district,) = body["districts"]
    assert district["devices"] == 4
    assert district["captures"] == sum(d["captures"] for d in body["devices"]) > 0
    first = _get(client, auth["city"], "/v1/devices", limit=2)
    rest = _get(client, auth["city"], "/v1/devices", limit=2,
                cursor=first.headers["X-Next-Cursor"])
    assert [d["device_id"] for d in first.json()["devices"] + rest.json()["devices"]] == [
        d["device_id"] for d in body["devices"]]
    assert "X-Next-Cursor" not in rest.headers
