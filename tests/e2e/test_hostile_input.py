"""Hostile input and hostile insiders: one bad envelope is rejected alone, with its code, and
never takes a reader, another client's request or the engine down (docs/errors.md, Bounds)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from casechain.adapters.tokens import issue_token
from casechain.application.serving import Components
from casechain.bootstrap import open_case_log, open_projections, open_service
from casechain.entrypoints.http.app import create_app
from tests.crosscase_stories import inspection
from tests.factories import case_walk, envelope
from tests.helpers import at, wait_for

PROBLEM = "application/problem+json"
#: Every read a supervisor of 330106 makes on the dashboard, with an instant in the demo year.
READS = ("/v1/board", "/v1/alerts?as_of=2025-12-31T18:00:00", "/v1/deadlines?as_of=2025-12-31",
         "/v1/referrals?as_of=2025-12-31", "/v1/statistics", "/v1/response",
         "/v1/subjects/91330106MA27XXXX0A?as_of=2025-12-31")

Api = tuple[TestClient, dict[str, str], Components]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(store_url: str, tmp_path: Path) -> Iterator[Api]:
    """An API on a fresh store (SQLite, then PostgreSQL) holding one whole case of 330106."""
    path = tmp_path / "tokens.yaml"
    tokens = {"service": issue_token(path, "svc", ["service"], "330106", None),
              "city": issue_token(path, "city", ["service"], "3301", None),
              "supervisor": issue_token(path, "sup", ["supervisor"], "330106", None),
              "admin": issue_token(path, "root", ["admin"], "", None),
              "O1001": issue_token(path, "O1001", ["officer"], "330106", None),
              "officer-107": issue_token(path, "O2001", ["officer"], "330107", None)}
    case_log = open_case_log(store_url)
    components = open_service(case_log, open_projections(case_log), path)
    with TestClient(create_app(components, follow=False)) as client:
        posted = client.post("/v1/events/batch", json=case_walk("HZ-1"),
                             headers=_auth(tokens["service"]))
        assert posted.json()["appended"] == 18, posted.json()["results"][0]
        yield client, tokens, components
    case_log.close()


def _reads_answer(client: TestClient, token: str) -> dict[str, int]:
    """The status of the case read and of every supervision read."""
    statuses = {path: client.get(path, headers=_auth(token)).status_code for path in READS}
    statuses["/v1/cases/HZ-1"] = client.get("/v1/cases/HZ-1", headers=_auth(token)).status_code
    return statuses


def _clue(case_id: str, **changes: Any) -> dict[str, Any]:
    return copy.deepcopy(envelope("supervision.clue_registered", case_id,
                                  **{"occurred_at": "2025-03-03T09:00:00+08:00", **changes}))


@pytest.mark.postgres
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                                    "2999-01-01T00:00:00+08:00", "1999-12-31T23:59:59+08:00"])
def test_an_event_dated_outside_the_recordable_years_is_refused_and_reads_go_on(
        api: Api, moment: str) -> None:
    """An occurred_at before 2000 or after the clock is 422 naming occurred_at (it once
    bricked every view with an OverflowError); every read still answers 200."""
    client, tokens, _ = api
    answer = client.post("/v1/events", json=_clue("EVIL-1", occurred_at=moment),
                         headers=_auth(tokens["service"]))
    assert (answer.status_code, answer.json()["code"]) == (422, "SCHEMA_INVALID")
    assert answer.json()["rejections"][0]["field"] == "occurred_at"
    assert set(_reads_answer(client, tokens["supervisor"]).values()) == {200}


def test_an_event_dated_a_minute_ahead_of_the_clock_is_accepted_an_hour_ahead_is_not(
        api: Api) -> None:
    """Clocks drift: ten minutes ahead of the recording instant is allowed, more is not."""
    from datetime import UTC, datetime, timedelta
    client, tokens, _ = api
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    ok = client.post("/v1/events", json=_clue("SOON-1", occurred_at=soon),
                     headers=_auth(tokens["service"]))
    refused = client.post("/v1/events", json=_clue("SOON-2", occurred_at=later),
                          headers=_auth(tokens["service"]))
    assert ok.status_code == 201
    assert refused.status_code == 422
    assert "10 minutes" in refused.json()["detail"]


@pytest.mark.postgres
@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59", "0001-01-01T00:00:00",
                                   "9999-12-31T23:59:59-12:00"])
def test_an_instant_outside_the_recordable_years_is_422_on_every_query(api: Api, as_of: str
                                                                        ) -> None:
    """as_of far in the future or the past is a 422 naming as_of, never a 500."""
    client, tokens, _ = api
    for path in ("/v1/alerts", "/v1/deadlines", "/v1/referrals",
                 "/v1/subjects/91330106MA27XXXX0A"):
        answer = client.get(path, params={"as_of": as_of}, headers=_auth(tokens["supervisor"]))
        assert (answer.status_code, answer.json()["code"]) == (422, "SCHEMA_INVALID"), path
        assert "2000-2099" in answer.json()["detail"]


@pytest.mark.postgres
@pytest.mark.parametrize(("change", "field"), [
    (lambda e: e["actor"].update(role="r" * 65), "actor.role"),
    (lambda e: e["payload"]["subject"].update(id="S" * 65), "payload.subject.id"),
    (lambda e: e["payload"]["subject"].update(id="S" * 130), "payload.subject.id"),
    (lambda e: e["payload"]["subject"].update(name="张\x00三"), "payload.subject.name"),
    (lambda e: e["payload"]["subject"].update(name="张" * 201), "payload.subject.name"),
    (lambda e: e["payload"].update(description="x\x07y"), "payload.description"),
    (lambda e: e["payload"].update(description="x" * 20_001), "payload.description"),
    (lambda e: e.update(case_id="C" * 65), "case_id"),
    (lambda e: e.update(jurisdiction="３３０１０６"), "jurisdiction"),
    (lambda e: e.update(jurisdiction="0330106"), "jurisdiction"),
])
def test_a_field_beyond_its_bound_is_refused_alone_and_every_view_still_reads(
        api: Api, change: Any, field: str) -> None:
    """Ids over 64 characters, names over 200, free text over 20,000, control characters and
    roles that do not exist are 422 naming the field (on PostgreSQL they were accepted and
    then broke reads, or broke the append of everything committed with them); the valid
    envelope sent in the same batch is appended."""
    client, tokens, _ = api
    bad = _clue("EVIL-2")
    change(bad)
    good = _clue("GOOD-2")
    answer = client.post("/v1/events/batch", json=[bad, good], headers=_auth(tokens["admin"]))
    results = answer.json()["results"]
    assert answer.status_code == 200
    assert [r["status"] for r in results] == ["rejected", "appended"]
    assert results[0]["rejections"][0]["code"] in ("SCHEMA_INVALID", "FORBIDDEN")
    assert any(r["field"] == field for r in results[0]["rejections"]), results[0]
    assert set(_reads_answer(client, tokens["supervisor"]).values()) == {200}


@pytest.mark.postgres
@pytest.mark.parametrize("amount", [True, "100", -1, 10**12 + 1, 12.345])
def test_an_amount_that_is_not_a_plain_yuan_figure_is_refused(api: Api, amount: Any) -> None:
    """Amounts are JSON numbers from 0 to 10^12 with at most two decimals: true, "100",
    negative, huge and sub-fen figures are 422 naming the field."""
    client, tokens, _ = api
    walk = case_walk("AMT-1")
    concluded = next(e for e in walk if e["type"] == "penalty.investigation_concluded")
    concluded = copy.deepcopy(concluded)
    concluded["payload"]["illegal_gains"] = amount
    body = [*walk[:walk.index(next(e for e in walk if e["type"] ==
                                   "penalty.investigation_concluded"))], concluded]
    answer = client.post("/v1/events/batch", content=_json(body),
                         headers={**_auth(tokens["service"]), "content-type": "application/json"})
    last = answer.json()["results"][-1]
    assert last["status"] == "rejected"
    assert last["rejections"][0]["field"] == "payload.illegal_gains"


def _json(value: Any) -> bytes:
    """JSON of `value`, where the string "DEEP" becomes an object nested 1,000 deep (no
    serialiser writes one: the test writes it by hand)."""
    import json
    deep = b'{"inner":' * 1000 + b'"bottom"' + b"}" * 1000
    return json.dumps(value, ensure_ascii=False).encode().replace(b'"DEEP"', deep)


@pytest.mark.postgres
def test_a_body_nested_a_thousand_deep_is_refused_alone_in_a_batch_that_tells_the_truth(
        api: Api) -> None:
    """A 1,000-deep envelope is 422 for anyone (it was a 500 from the message builder); in a
    batch with valid events, those are appended and the answer says so event by event."""
    client, tokens, components = api
    deep = _clue("EVIL-3")
    deep["payload"]["extra"] = "DEEP"
    single = client.post("/v1/events", content=_json(deep),
                         headers={**_auth(tokens["supervisor"]), "content-type":
                                  "application/json"})
    batch = [_clue(f"OK-{n}") for n in range(200)] + [deep]
    answer = client.post("/v1/events/batch", content=_json(batch),
                         headers={**_auth(tokens["service"]), "content-type": "application/json"})
    assert (single.status_code, single.json()["code"]) in ((422, "SCHEMA_INVALID"),
                                                           (403, "FORBIDDEN"))
    body = answer.json()
    assert answer.status_code == 200
    assert (body["appended"], body["rejected"]) == (200, 1)
    assert "32 levels" in body["results"][-1]["rejections"][0]["message"]
    assert len(components.case_log.case_records("OK-199")) == 1


def test_an_envelope_over_256_kib_is_413_and_nothing_is_stored(api: Api) -> None:
    """A body larger than an envelope may be is refused before it is read in full."""
    client, tokens, components = api
    big = _clue("BIG-1")
    big["payload"]["description"] = "x" * (300 * 1024)
    answer = client.post("/v1/events", json=big, headers=_auth(tokens["service"]))
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == "SCHEMA_INVALID"
    assert components.case_log.jurisdictions(["BIG-1"]) == {"BIG-1": None}


def test_an_event_id_resent_for_another_case_is_refused_not_a_silent_duplicate(api: Api
                                                                                 ) -> None:
    """The same event_id for the same case is a duplicate; for another case it is refused."""
    client, tokens, _ = api
    first = _clue("ID-1")
    same = client.post("/v1/events", json=first, headers=_auth(tokens["service"]))
    again = client.post("/v1/events", json=first, headers=_auth(tokens["service"]))
    other = client.post("/v1/events", json={**first, "case_id": "ID-2"},
                        headers=_auth(tokens["service"]))
    assert (same.status_code, again.status_code) == (201, 200)
    assert (other.status_code, other.json()["rejections"][0]["field"]) == (422, "event_id")


def test_an_officer_appends_only_as_itself_in_its_own_role(api: Api) -> None:
    """actor.role must be a role of the token: an officer claiming admin is FORBIDDEN."""
    client, tokens, _ = api
    claim = _clue("ROLE-1")
    claim["actor"] = {"id": "O1001", "role": "admin", "cert_no": "33010012345"}
    answer = client.post("/v1/events", json=claim, headers=_auth(tokens["O1001"]))
    assert (answer.status_code, answer.json()["code"]) == (403, "FORBIDDEN")
    assert answer.json()["rejections"][0]["field"] == "actor.role"


@pytest.mark.postgres
def test_a_case_stays_in_the_district_of_its_first_event_until_it_is_transferred(
        api: Api) -> None:
    """A city-wide service naming another district on a 330106 case is OUT_OF_SCOPE (the
    case and its history no longer follow the latest event); case.transferred moves it, and
    then 330106's supervisor is refused and the message names no other district."""
    client, tokens, components = api
    walk = case_walk("MOVE-1")
    client.post("/v1/events", json=walk[0], headers=_auth(tokens["city"]))
    elsewhere = client.post("/v1/events", json={**walk[1], "jurisdiction": "330107"},
                            headers=_auth(tokens["city"]))
    street = client.post("/v1/events", json={**walk[1], "jurisdiction": "330106"},
                         headers=_auth(tokens["city"]))
    moved = client.post("/v1/events", json=envelope(
        "case.transferred", "MOVE-1", jurisdiction="3301", occurred_at="2024-03-02T09:00:00+08:00",
        payload={"to_jurisdiction": "330107001", "reason": "指定管辖"}),
        headers=_auth(tokens["city"]))
    refused = client.get("/v1/cases/MOVE-1", headers=_auth(tokens["supervisor"]))
    board = client.get("/v1/board", headers=_auth(tokens["supervisor"])).json()
    city_board = client.get("/v1/board", params={"scope": "330107"},
                            headers=_auth(tokens["admin"])).json()
    assert "MOVE-1" not in {row["case_id"] for row in board}
    assert [row["stage"] for row in city_board if row["case_id"] == "MOVE-1"] == ["approval"]
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "OUT_OF_SCOPE")
    assert street.status_code == 201
    assert moved.status_code == 201, moved.json()
    assert components.case_log.jurisdictions(["MOVE-1"]) == {"MOVE-1": "330107001"}
    assert refused.status_code == 403
    assert "330107" not in refused.json()["detail"]


@pytest.mark.postgres
def test_an_officer_of_another_district_cannot_add_to_a_case_created_meanwhile(
        store_url: str, tmp_path: Path) -> None:
    """Two servers on one store: an officer of 330107 posts a batch whose last event is a
    step of VICTIM-x through one; through the other, a 330106 service creates VICTIM-x at the worst
    moment — after the first server accepted the request, just before its append transaction
    began. The officer's event is refused OUT_OF_SCOPE (it once became seq 2 of 330106's
    case), the rest of the batch is appended, and 330106's supervisor reads its case."""
    path = tmp_path / "tokens.yaml"
    officer = issue_token(path, "O1001", ["officer"], "330107", None)
    service = issue_token(path, "svc", ["service"], "330106", None)
    supervisor = issue_token(path, "sup", ["supervisor"], "330106", None)
    logs = [open_case_log(store_url), open_case_log(store_url)]
    apps = [open_service(log, open_projections(log), path) for log in logs]
    try:
        with TestClient(create_app(apps[0], follow=False)) as one, \
                TestClient(create_app(apps[1], follow=False)) as two:
            created: list[int] = []
            begin_write = logs[0].store.begin_write

            def other_server_first() -> Any:
                if not created:
                    created.append(two.post("/v1/events", json=_clue("VICTIM-x"),
                                            headers=_auth(service)).status_code)
                return begin_write()

            logs[0].store.begin_write = other_server_first  # type: ignore[method-assign]
            batch = [_clue(f"OWN-{n}", jurisdiction="330107001") for n in range(50)]
            batch.append(envelope("supervision.dispatched", "VICTIM-x",
                                  jurisdiction="330107001",
                                  occurred_at="2025-03-03T09:05:00+08:00"))
            posted = one.post("/v1/events/batch", json=batch, headers=_auth(officer))
            read = one.get("/v1/cases/VICTIM-x", headers=_auth(supervisor))
    finally:
        for log in logs:
            log.close()
    assert created == [201]
    results = posted.json()["results"]
    assert [r["status"] for r in results[:50]] == ["appended"] * 50
    assert results[50]["status"] == "rejected"
    assert {r["code"] for r in results[50]["rejections"]} == {"OUT_OF_SCOPE"}
    assert read.status_code == 200
    assert len(read.json()["timeline"]) == 1


def test_a_token_file_with_bad_entries_refuses_them_alone(tmp_path: Path, api: Api) -> None:
    """Entries with scope null, '*', fullwidth digits or unknown roles are refused at load;
    the good entry keeps working and a refused token is 401, never a 500."""
    _, _, components = api
    path = tmp_path / "tokens.yaml"
    good = issue_token(path, "sup", ["supervisor"], "330106", None)
    text = path.read_text(encoding="utf-8")
    for n, (scope, roles) in enumerate([("null", "[supervisor]"), ("'*'", "[supervisor]"),
                                        ("'３３０１０６'", "[supervisor]"), ("'330106'", "[root]")]):
        text += (f"- sha256: {n:064x}\n  principal: bad-{n}\n  roles: {roles}\n"
                 f"  scope: {scope}\n")
    path.write_text(text, encoding="utf-8")
    again = open_service(components.case_log, components.runner, path)
    tokens = again.tokens
    with TestClient(create_app(again, follow=False)) as client:
        answer = client.get("/v1/board", headers=_auth(good))
        unknown = client.get("/v1/board", headers=_auth("cc_whatever"))
    assert answer.status_code == 200
    assert unknown.status_code == 401
    assert len(tokens.refused) == 4
    assert all("entry" in line and "refused" in line for line in tokens.refused)


def test_a_supervisor_reading_a_case_export_sees_persons_ids_masked(api: Api) -> None:
    """/v1/cases/{id}/events masks a person's id for a supervisor as every other view does."""
    client, tokens, _ = api
    person = {"id": "330106199001011234", "name": "张三", "kind": "person"}
    event = _clue("PERSON-1")
    event["payload"]["subject"] = person
    client.post("/v1/events", json=event, headers=_auth(tokens["service"]))
    supervisor = client.get("/v1/cases/PERSON-1/events", headers=_auth(tokens["supervisor"]))
    service = client.get("/v1/cases/PERSON-1/events", headers=_auth(tokens["service"]))
    assert "330106199001011234" not in supervisor.text
    assert "3301**********1234" in supervisor.text
    assert "330106199001011234" in service.text


def test_a_follower_that_fails_makes_readyz_503_until_it_recovers(api: Api,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    """A view that cannot be caught up no longer leaves /readyz saying ready."""
    import threading
    client, _, components = api
    stop = threading.Event()

    def broken() -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(components.runner, "keep_up", broken)  # the follower's round
    components.follow_interval = 0.01
    worker = threading.Thread(target=components.follow, args=(stop,), daemon=True)
    worker.start()
    try:
        from tests.helpers import wait_for
        assert wait_for(lambda: components.follower_error is not None, 5)
        failing = client.get("/readyz")
        monkeypatch.undo()
        assert wait_for(lambda: components.follower_error is None, 5)
        recovered = client.get("/readyz")
    finally:
        stop.set()
        worker.join(5)
    assert failing.status_code == 503
    assert "OverflowError" in failing.json()["follower"]
    assert worker.is_alive() is False
    assert recovered.status_code == 200


def test_a_sqlite_store_deleted_under_the_server_is_503_not_a_silent_201(
        tmp_path: Path) -> None:
    """Deleting the SQLite file under a running API makes appends and /readyz answer 503."""
    path = tmp_path / "tokens.yaml"
    token = issue_token(path, "svc", ["service"], "330106", None)
    db = tmp_path / "store.db"
    case_log = open_case_log(f"sqlite:///{db}")
    components = open_service(case_log, open_projections(case_log), path)
    try:
        with TestClient(create_app(components, follow=False)) as client:
            before = client.post("/v1/events", json=_clue("DEL-1"), headers=_auth(token))
            db.unlink()
            after = client.post("/v1/events", json=_clue("DEL-2"), headers=_auth(token))
            ready = client.get("/readyz")
    finally:
        case_log.close()
    assert before.status_code == 201
    assert (after.status_code, after.json()["code"]) == (503, "STORE_UNAVAILABLE")
    assert ready.status_code == 503
    assert "gone" in ready.json()["detail"]


@pytest.mark.postgres
def test_a_postgres_database_dropped_and_recreated_under_the_server_is_503(
        pg_url: str, tmp_path: Path) -> None:
    """A database dropped and created again under a running API answers 503 on reads and
    appends instead of a 500 everywhere — and still when someone has given the new database
    the tables again: it is not the store the server opened."""
    import psycopg

    from tests.pg import ADMIN_DSN
    path = tmp_path / "tokens.yaml"
    token = issue_token(path, "svc", ["service"], "330106", None)
    case_log = open_case_log(pg_url)
    components = open_service(case_log, open_projections(case_log), path)
    name = pg_url.rsplit("/", 1)[1]
    try:
        with TestClient(create_app(components, follow=False)) as client:
            client.post("/v1/events", json=_clue("DROP-1"), headers=_auth(token))
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            read = client.get("/v1/cases/DROP-1", headers=_auth(token))
            append = client.post("/v1/events", json=_clue("DROP-2"), headers=_auth(token))
            open_case_log(pg_url).close()  # someone gives the new database the tables
            again = client.post("/v1/events", json=_clue("DROP-3"), headers=_auth(token))
            ready = client.get("/readyz")
    finally:
        case_log.close()
    assert (read.status_code, read.json()["code"]) == (503, "STORE_UNAVAILABLE")
    assert (append.status_code, append.json()["code"]) == (503, "STORE_UNAVAILABLE")
    assert (again.status_code, again.json()["code"]) == (503, "STORE_UNAVAILABLE")
    assert ready.status_code == 503 and "dropped and created again" in ready.json()["detail"]


def _walk_in(case_id: str, jurisdiction: str, act_date: str) -> list[dict[str, Any]]:
    walk = copy.deepcopy(case_walk(case_id))
    for event in walk:
        event["jurisdiction"] = jurisdiction
        if event["type"] == "penalty.case_filed":
            event["payload"]["act_date"] = act_date
    return walk


@pytest.mark.postgres
def test_reads_across_cases_stay_inside_the_scope(api: Api, tmp_path: Path) -> None:
    """A 330106 supervisor sees, in the subject register and in a case's earlier penalties,
    only 330106's cases; the penalty in 330107 is a count without id, place or fine
    (辖区外另有 1 次处罚), and the access log lists only reads of 330106's cases."""
    client, tokens, _ = api
    auditor = issue_token(tmp_path / "tokens.yaml", "aud", ["auditor"], "330106", None)
    posted = client.post("/v1/events/batch", json=_walk_in("OTHER-1", "330107001", "2024-02-10"),
                         headers=_auth(tokens["admin"]))
    assert posted.json()["appended"] == 18
    client.get("/v1/cases/OTHER-1", headers=_auth(tokens["admin"]))
    case = client.get("/v1/cases/HZ-1", headers=_auth(tokens["supervisor"]))
    register = client.get("/v1/subjects/91330106MA27XXXX0A",
                          params={"as_of": "2024-06-01T00:00:00"},
                          headers=_auth(tokens["supervisor"]))
    accesses = client.get("/v1/access-log", headers=_auth(auditor))
    subject = case.json()["subject"]
    assert (subject["first_offence"], subject["earlier_penalties"]) == (False, [])
    assert subject["earlier_penalties_note"] == "辖区外另有 1 次处罚"
    body = register.json()
    assert [c["case_id"] for c in body["cases"]] == ["HZ-1"]
    assert body["fines_total"] == 20000
    assert body["outside_scope"]["note"] == "辖区外另有 1 次处罚"
    for text in (case.text, register.text, accesses.text):
        assert "OTHER-1" not in text and "330107" not in text
    assert [e["resource"] for e in accesses.json()["entries"]] == ["HZ-1"]


@pytest.mark.postgres
def test_a_cross_case_alert_names_no_case_of_another_district(api: Api) -> None:
    """A second fine for the same act (一事不再罚) in 330106, the first in 330107: the 330106
    supervisor gets the DOUBLE_FINE alert, with "辖区外案件" where the other case's id was;
    the city's admin sees the id."""
    client, tokens, _ = api
    first = _walk_in("OTHER-2", "330107001", "2024-02-15")
    second = _walk_in("MINE-2", "330106001", "2024-02-15")
    for event in second:
        event["occurred_at"] = event["occurred_at"].replace("2024-03-", "2024-04-")
    for walk in (first, second):
        posted = client.post("/v1/events/batch", json=walk, headers=_auth(tokens["admin"]))
        assert posted.json()["appended"] == 18, posted.json()["results"][-1]
    params = {"as_of": "2024-06-01T00:00:00", "code": "DOUBLE_FINE"}
    district = client.get("/v1/alerts", params=params, headers=_auth(tokens["supervisor"]))
    city = client.get("/v1/alerts", params=params, headers=_auth(tokens["admin"]))
    mine = [a for a in district.json() if a["case_id"] == "MINE-2"]
    assert len(mine) == 1
    assert "OTHER-2" not in district.text and "辖区外案件" in district.text
    assert "OTHER-2" in city.text


@pytest.mark.postgres
def test_a_repeated_inspection_names_no_case_of_another_district(api: Api) -> None:
    """One company inspected alone, nothing found, by 330107 on 1 Jun and by 330106 on
    15 Jul and 1 Aug (综合查一次, 《浙江省综合行政执法条例》第十三条): the 330106 supervisor's
    REPEATED_INSPECTION alert names its own two cases and "辖区外案件" for the other, in the
    detail and in `inspection_cases`; the city's admin sees all three."""
    client, tokens, _ = api
    for story in (inspection("OTHER-I", at("2025-06-01T10:00:00"), jurisdiction="330107"),
                  inspection("MINE-I1", at("2025-07-15T10:00:00")),
                  inspection("MINE-I2", at("2025-08-01T10:00:00"))):
        posted = client.post("/v1/events/batch", json=story.events,
                             headers=_auth(tokens["admin"]))
        assert posted.json()["appended"] == 2, posted.json()
    params = {"as_of": "2025-08-02T00:00:00", "code": "REPEATED_INSPECTION"}
    district = client.get("/v1/alerts", params=params, headers=_auth(tokens["supervisor"]))
    city = client.get("/v1/alerts", params=params, headers=_auth(tokens["admin"]))
    [mine] = district.json()
    assert mine["case_id"] == "MINE-I2"
    assert sorted(mine["inspection_cases"]) == ["MINE-I1", "MINE-I2", "辖区外案件"]
    assert "MINE-I1、MINE-I2" in mine["detail"] and "辖区外案件" in mine["detail"]
    assert "OTHER-I" not in district.text
    assert city.json()[0]["inspection_cases"] == ["MINE-I1", "MINE-I2", "OTHER-I"]
    assert "OTHER-I" in city.json()[0]["detail"]


@pytest.mark.postgres
def test_a_bad_envelope_in_another_clients_request_of_the_same_group_harms_nothing(
        api: Api, store_url: str) -> None:
    """Two clients' requests committed in one group: the one with a 130-character subject id
    is refused alone (on PostgreSQL it once failed the whole group's transaction, both
    requests answering 500); the other client's event is appended."""
    from casechain.domain.access import Principal
    _, _, components = api
    service = Principal("svc", ("service",), "330106")
    bad = _clue("GROUP-BAD")
    bad["payload"]["subject"]["id"] = "S" * 130
    with _writer_lock(store_url):  # the first group waits for the lock; the next two queue
        first = components.appender.submit(service, [_clue("GROUP-0")])
        assert wait_for(lambda: components.appender.queued() == 0, 30)  # taken, now waiting
        hostile = components.appender.submit(service, [bad])
        other = components.appender.submit(service, [_clue("GROUP-1")])
    assert [o.status for o in first.result(30)] == ["appended"]
    assert [o.status for o in hostile.result(30)] == ["rejected"]
    assert [o.status for o in other.result(30)] == ["appended"]


def _writer_lock(url: str) -> Any:
    """Another connection holding the events table's write lock until the block ends."""
    import contextlib
    import sqlite3

    import psycopg

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        if url.startswith("sqlite"):
            conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.rollback()
                conn.close()
            return
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
            conn.execute("LOCK TABLE casechain_events IN EXCLUSIVE MODE")
            yield
            conn.rollback()

    return held()


def test_serve_refuses_a_missing_sqlite_store_unless_asked_to_create_one(tmp_path: Path
                                                                          ) -> None:
    """A store deleted (or a path mistyped) is not silently replaced by an empty one when the
    server starts again: exit 2 naming the file, and no file is made."""
    import subprocess

    from tests.serving import CASECHAIN
    tokens = tmp_path / "tokens.yaml"
    issue_token(tokens, "svc", ["service"], "330106", None)
    missing = tmp_path / "gone.db"
    done = subprocess.run([CASECHAIN, "serve", "--db", str(missing), "--tokens", str(tokens),
                           "--port", "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no SQLite store at" in done.stderr and "--create" in done.stderr
    assert not missing.exists()


def test_an_export_of_a_replay_store_imports_elsewhere(tmp_path: Path) -> None:
    """Lines recorded by a replay carry its fixed instant (2000-01-01), which is not a clock:
    their occurred_at is not held to it, and the export restores in another store."""
    from casechain.application.replay import REPLAY_RECORDED_AT
    replayed = open_case_log(f"sqlite:///{tmp_path / 'replay.db'}",
                             clock=lambda: REPLAY_RECORDED_AT)
    restored = open_case_log(f"sqlite:///{tmp_path / 'restored.db'}")
    try:
        list(replayed.append_many(case_walk("HZ-R")))
        outcomes = list(restored.append_many(replayed.export()))
    finally:
        replayed.close()
        restored.close()
    assert [o.status for o in outcomes] == ["appended"] * 18
