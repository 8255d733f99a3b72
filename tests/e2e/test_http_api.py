"""The HTTP API: appends with the rules of import, scoped tokens, problem+json, the access log."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from casechain.adapters.ledger import generate_key
from casechain.adapters.tokens import issue_token
from casechain.application import authorisation
from casechain.application.serving import Components
from casechain.bootstrap import open_case_log, open_projections, open_service, recorder_of
from casechain.domain.access import Principal
from casechain.domain.payloads import PAYLOADS
from casechain.entrypoints.http.app import create_app
from tests.crosscase_stories import minor_fumes
from tests.factories import SUBJECT, case_walk, envelope
from tests.helpers import at

ROLES = ("officer", "reviewer", "supervisor", "auditor", "service", "admin")
PROBLEM = "application/problem+json"


def _tokens(path: Path) -> dict[str, str]:
    """One token per role inside district 330106 and one outside (330105), plus others."""
    tokens = {}
    for role in ROLES:
        tokens[role] = issue_token(path, f"{role}-in", [role], "330106", None)
        tokens[f"{role}-out"] = issue_token(path, f"{role}-out", [role], "330105", None)
    tokens["O1001"] = issue_token(path, "O1001", ["officer"], "330106", None)
    tokens["city-service"] = issue_token(path, "svc", ["service"], "3301", None)
    return tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str],
                                                                       Components]]:
    """An API on SQLite holding one case's whole life in 330106 and a signed checkpoint."""
    folder = tmp_path_factory.mktemp("api")
    tokens = _tokens(folder / "tokens.yaml")
    case_log = open_case_log(f"sqlite:///{folder / 'casechain.db'}")
    components = open_service(case_log, open_projections(case_log), folder / "tokens.yaml")
    with TestClient(create_app(components, follow=False)) as client:
        posted = client.post("/v1/events/batch", json=case_walk("HZ-1"),
                             headers=_auth(tokens["city-service"]))
        assert posted.json()["appended"] == 18
        components.ledger.checkpoint(generate_key(folder / "k.pem", folder / "k.pub"))
        yield client, tokens, components
    case_log.close()


def _empty_api(folder: Path) -> Iterator[tuple[TestClient, dict[str, str], Components]]:
    tokens = _tokens(folder / "tokens.yaml")
    case_log = open_case_log(f"sqlite:///{folder / 'casechain.db'}")
    components = open_service(case_log, open_projections(case_log), folder / "tokens.yaml")
    with TestClient(create_app(components, follow=False)) as client:
        yield client, tokens, components
    case_log.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Components]]:
    """An empty API on SQLite, for tests that write."""
    yield from _empty_api(tmp_path)


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[TestClient, dict[str, str], Components]]:
    """An API on SQLite shared by tests that each write only to cases of their own."""
    yield from _empty_api(tmp_path_factory.mktemp("shared"))


@pytest.mark.postgres
def test_a_service_posts_a_whole_case_life_that_another_district_cannot_read(
        store_url: str, tmp_path: Path) -> None:
    """Eighteen single-event posts record a case from approval to evaluation; a supervisor
    of the same district reads it, one of another district gets 403 OUT_OF_SCOPE."""
    tokens = _tokens(tmp_path / "tokens.yaml")
    case_log = open_case_log(store_url)
    components = open_service(case_log, open_projections(case_log), tmp_path / "tokens.yaml")
    try:
        with TestClient(create_app(components, follow=False)) as client:
            statuses = [client.post("/v1/events", json=e, headers=_auth(tokens["city-service"]))
                        .status_code for e in case_walk("HZ-9")]
            mine = client.get("/v1/cases/HZ-9", headers=_auth(tokens["supervisor"]))
            theirs = client.get("/v1/cases/HZ-9", headers=_auth(tokens["supervisor-out"]))
    finally:
        case_log.close()
    assert statuses == [201] * 18
    assert mine.status_code == 200
    assert (mine.json()["stage"], mine.json()["state"], len(mine.json()["timeline"])) == (
        "evaluation", "completed", 18)
    assert theirs.status_code == 403
    assert theirs.headers["content-type"] == PROBLEM
    assert theirs.json()["code"] == "OUT_OF_SCOPE"
    assert "HZ-9" in theirs.json()["detail"] and "330105" in theirs.json()["detail"]


def test_a_rejected_event_is_problem_json_listing_every_broken_rule(api: Any) -> None:
    """A decision on a case never filed is 422 LIFECYCLE_ORDER, with each rejection named."""
    client, tokens, _ = api
    response = client.post("/v1/events", json=envelope("penalty.decided", "HZ-2"),
                           headers=_auth(tokens["service"]))
    body = response.json()
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert body["code"] == "LIFECYCLE_ORDER"
    assert body["type"] == "urn:casechain:problem:LIFECYCLE_ORDER"
    assert body["rejections"][0]["code"] == "LIFECYCLE_ORDER"
    assert body["case_id"] == "HZ-2"


def test_a_malformed_body_is_schema_invalid_naming_the_field(api: Any) -> None:
    """Bad JSON and a missing field are 422 SCHEMA_INVALID problems, never a 500."""
    client, tokens, _ = api
    broken = client.post("/v1/events", content=b"{not json", headers=_auth(tokens["service"]))
    event = envelope("supervision.clue_registered", "HZ-3")
    del event["occurred_at"]
    missing = client.post("/v1/events", json=event, headers=_auth(tokens["service"]))
    assert (broken.status_code, broken.json()["code"]) == (422, "SCHEMA_INVALID")
    assert (missing.status_code, missing.json()["code"]) == (422, "SCHEMA_INVALID")
    assert "occurred_at" in missing.json()["detail"]


def test_the_same_event_twice_is_a_duplicate_that_appends_nothing(api: Any) -> None:
    """A resend of an event id answers 200 duplicate; the case keeps one event."""
    client, tokens, components = api
    event = envelope("supervision.clue_registered", "HZ-4")
    first = client.post("/v1/events", json=event, headers=_auth(tokens["service"]))
    again = client.post("/v1/events", json=event, headers=_auth(tokens["service"]))
    assert (first.status_code, first.json()["status"], first.json()["seq"]) == (201, "appended", 1)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert len(components.case_log.case_records("HZ-4")) == 1


def test_a_stale_expected_seq_is_409_concurrency_conflict(api: Any) -> None:
    """expected_seq that is not the case's head is refused with 409."""
    client, tokens, _ = api
    walk = case_walk("HZ-5")
    client.post("/v1/events", json=walk[0], headers=_auth(tokens["service"]))
    response = client.post("/v1/events", json={**walk[1], "expected_seq": 5},
                           headers=_auth(tokens["service"]))
    assert (response.status_code, response.json()["code"]) == (409, "CONCURRENCY_CONFLICT")


def test_a_batch_reports_one_result_per_event_and_appends_the_valid_ones(api: Any) -> None:
    """In a batch a rejected event is reported at its index and the others are appended."""
    client, tokens, _ = api
    walk = case_walk("HZ-6")[:4]
    bad = envelope("penalty.decided", "HZ-7")
    response = client.post("/v1/events/batch", json=[walk[0], walk[1], bad, walk[2], walk[3]],
                           headers=_auth(tokens["service"]))
    body = response.json()
    assert response.status_code == 200
    assert (body["appended"], body["rejected"], body["duplicates"]) == (4, 1, 0)
    assert [r["status"] for r in body["results"]] == ["appended", "appended", "rejected",
                                                       "appended", "appended"]
    assert body["results"][2]["rejections"][0]["code"] == "LIFECYCLE_ORDER"
    assert [r.get("seq") for r in body["results"]] == [1, 2, None, 3, 4]


@pytest.mark.parametrize(("header", "why"), [
    (None, "no bearer token"), ("Bearer cc_not-a-token", "not known"), ("Basic abc", "no bearer")])
def test_no_bad_or_foreign_credentials_are_401(loaded: Any, header: str | None, why: str) -> None:
    """Without a valid bearer token every endpoint but health answers 401 with a problem."""
    client, _, _ = loaded
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/cases/HZ-1", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert why in response.json()["detail"]


def test_an_expired_token_is_401_naming_when_it_expired(tmp_path: Path, loaded: Any) -> None:
    """A token past its expires_at is refused."""
    _, _, components = loaded
    from datetime import UTC, datetime, timedelta
    path = tmp_path / "t.yaml"
    token = issue_token(path, "late", ["supervisor"], "330106",
                        datetime.now(UTC) - timedelta(minutes=1))
    with TestClient(create_app(open_service(components.case_log, components.runner, path),
                               follow=False)) as client:
        response = client.get("/v1/cases/HZ-1", headers=_auth(token))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


# -- the role × endpoint matrix -------------------------------------------------------------
#: Which roles may call each reading endpoint (the policy of docs/api.md, written out).
READS: dict[str, tuple[str, ...]] = {
    "/v1/cases/HZ-1": ROLES,
    "/v1/cases/HZ-1/events": ROLES,
    "/v1/cases/HZ-1/proof": ("auditor", "admin"),
    "/v1/board?scope=330106": ("supervisor", "auditor", "admin"),
    "/v1/alerts?scope=330106&as_of=2024-03-20T00:00:00": ("supervisor", "auditor", "admin"),
    "/v1/deadlines?scope=330106": ("supervisor", "auditor", "admin"),
    "/v1/referrals?scope=330106": ("supervisor", "auditor", "admin"),
    f"/v1/subjects/{SUBJECT['id']}": ("supervisor", "auditor", "admin"),
    "/v1/statistics?scope=330106": ("supervisor", "auditor", "admin"),
    "/v1/response?scope=330106": ("supervisor", "auditor", "admin"),
    "/v1/export": ("auditor", "admin"),
    "/v1/ledger": ("auditor", "admin"),
    "/v1/ledger/verification": ("auditor", "admin"),
    "/v1/access-log": ("auditor", "admin"),
}
#: Endpoints about something in 330106: a token of 330105 is out of scope there.
SCOPED = [path for path in READS if not path.startswith(("/v1/export", "/v1/ledger", "/v1/access"))]


@pytest.mark.parametrize("path", list(READS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_exactly_what_it_may_inside_its_scope(loaded: Any, role: str,
                                                              path: str) -> None:
    """A role allowed on an endpoint gets 200 inside its scope; any other gets 403 FORBIDDEN."""
    client, tokens, _ = loaded
    response = client.get(path, headers=_auth(tokens[role]))
    if role in READS[path]:
        assert response.status_code == 200, response.text
    else:
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize("path", SCOPED)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_out_of_scope_in_another_district(loaded: Any, role: str, path: str) -> None:
    """A token of district 330105 reading 330106's case or listings gets 403 (OUT_OF_SCOPE
    where its role may read there, FORBIDDEN where it may not read at all)."""
    client, tokens, _ = loaded
    response = client.get(path, headers=_auth(tokens[f"{role}-out"]))
    expected = "OUT_OF_SCOPE" if role in READS[path] else "FORBIDDEN"
    assert (response.status_code, response.json()["code"]) == (403, expected)


#: Which roles may emit a sample of event types.
APPENDS: dict[str, tuple[str, ...]] = {
    "supervision.clue_registered": ("officer", "service", "admin"),
    "penalty.legal_review_completed": ("reviewer", "service", "admin"),
    "approval.granted": ("reviewer", "service", "admin"),
    "referral.approved": ("reviewer", "service", "admin"),
    "referral.police_accepted": ("service", "admin"),
    "evaluation.case_file_reviewed": ("supervisor", "service", "admin"),
}


@pytest.mark.parametrize("endpoint", ["/v1/events", "/v1/events/batch"])
@pytest.mark.parametrize("event_type", list(APPENDS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_appends_only_the_types_it_may_and_only_inside_its_scope(
        shared_api: Any, role: str, event_type: str, endpoint: str) -> None:
    """Inside its scope a role's allowed type is not refused for authority (the lifecycle
    still judges it); a type it may not emit is FORBIDDEN; outside its scope OUT_OF_SCOPE."""
    client, tokens, _ = shared_api
    event = envelope(event_type, f"HZ-{uuid.uuid4().hex[:8]}",
                     actor={"id": f"{role}-in", "role": role, "cert_no": "33010012345"})
    outside = {**copy.deepcopy(event), "event_id": str(uuid.uuid4()),
               "case_id": f"HZ-{uuid.uuid4().hex[:8]}", "actor": {**event["actor"], "id": f"{role}-out"}}
    codes = []
    for token, body in ((tokens[role], event), (tokens[f"{role}-out"], outside)):
        response = client.post(endpoint, json=body if endpoint == "/v1/events" else [body],
                               headers=_auth(token))
        result = response.json() if endpoint == "/v1/events" else response.json()["results"][0]
        codes.append([r["code"] for r in result.get("rejections", [])])
    inside_codes, outside_codes = codes
    if role in APPENDS[event_type]:
        assert not {"FORBIDDEN", "OUT_OF_SCOPE"} & set(inside_codes)
        assert outside_codes == ["OUT_OF_SCOPE"]
    else:
        assert inside_codes == ["FORBIDDEN"]
        assert set(outside_codes) == {"OUT_OF_SCOPE", "FORBIDDEN"}


def test_a_person_appends_only_as_itself(api: Any) -> None:
    """An officer's token cannot record an event whose actor is another officer."""
    client, tokens, _ = api
    event = envelope("supervision.clue_registered", "HZ-8",
                     actor={"id": "O9999", "role": "officer", "cert_no": "33010099999"})
    response = client.post("/v1/events", json=event, headers=_auth(tokens["O1001"]))
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
    assert "O9999" in response.json()["detail"]


def test_an_officer_cannot_append_to_a_case_recorded_in_another_district(api: Any) -> None:
    """A case recorded under 330105 stays out of reach of a 330106 token, whatever the new
    event claims as its jurisdiction; the refusal does not reveal the other division."""
    client, tokens, _ = api
    first = envelope("supervision.clue_registered", "HZ-X", jurisdiction="330105001")
    client.post("/v1/events", json=first, headers=_auth(tokens["city-service"]))
    follow = envelope("supervision.dispatched", "HZ-X", jurisdiction="330106001")
    response = client.post("/v1/events", json=follow, headers=_auth(tokens["O1001"]))
    assert (response.status_code, response.json()["code"]) == (403, "OUT_OF_SCOPE")
    assert "HZ-X" in response.json()["detail"]
    assert "330105" not in response.json()["detail"]


# -- the access log ------------------------------------------------------------------------------
def test_every_read_of_an_audit_trail_is_recorded_and_tampering_shows(api: Any) -> None:
    """Reading a case writes who/what/when into the chained access log; editing an entry
    afterwards is named by the log's verification."""
    client, tokens, components = api
    client.post("/v1/events/batch", json=case_walk("HZ-A")[:3], headers=_auth(tokens["service"]))
    client.get("/v1/cases/HZ-A", headers=_auth(tokens["supervisor"]))
    client.get("/v1/cases/HZ-A/events", headers=_auth(tokens["officer"]))
    client.get("/v1/cases/HZ-A", headers=_auth(tokens["supervisor-out"]))  # refused: not logged
    log = client.get("/v1/access-log?case_id=HZ-A", headers=_auth(tokens["auditor"])).json()
    assert [(e["principal"], e["action"]) for e in log["entries"]] == [
        ("officer-in", "case.export"), ("supervisor-in", "case.read")]
    assert log["intact"] is True
    table = components.access_log.table
    with recorder_of(components.case_log).engine.begin() as conn:
        conn.execute(table.update().where(table.c.seq == 1).values(principal="someone-else"))
    after = client.get("/v1/access-log", headers=_auth(tokens["auditor"])).json()
    assert after["intact"] is False
    assert after["problem"] == {"seq": 1, "kind": "content",
                                "detail": "entry 1 was altered after it was written"}


def test_the_access_log_is_paged_newest_first_with_its_total_inside_the_reader_s_scope(
        api: Any) -> None:
    """GET /v1/access-log takes `limit` and `cursor` like every listing (a year's reads are
    millions of entries): newest first, the total the reader may see, the next page's
    cursor in the body and the paging headers; a district's auditor sees and counts only
    the reads of its own cases, however they are interleaved with others."""
    client, tokens, components = api
    client.post("/v1/events", json=case_walk("HZ-A")[0], headers=_auth(tokens["city-service"]))
    client.post("/v1/events", json=envelope("supervision.clue_registered", "HZ-O",
                                            jurisdiction="330105001"),
                headers=_auth(tokens["city-service"]))
    for _ in range(4):  # entries 1..10: HZ-A, HZ-O, HZ-O, HZ-A, HZ-O, HZ-O, ...
        client.get("/v1/cases/HZ-A", headers=_auth(tokens["supervisor"]))
        for _ in range(2):
            client.get("/v1/cases/HZ-O", headers=_auth(tokens["supervisor-out"]))
    ours, cursor, pages = [], None, 0
    while True:
        answer = client.get("/v1/access-log", params={"limit": 3, "cursor": cursor} if cursor
                            else {"limit": 3}, headers=_auth(tokens["auditor"]))
        body = answer.json()
        assert answer.status_code == 200 and body["total"] == 4, body
        assert answer.headers["X-Total-Count"] == "4"
        assert answer.headers.get("X-Next-Cursor") == body["next_cursor"]
        ours += body["entries"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and [e["seq"] for e in ours] == [10, 7, 4, 1]
    assert {e["resource"] for e in ours} == {"HZ-A"} and body["count"] == 12 and body["intact"]
    theirs = client.get("/v1/access-log?case_id=HZ-O&limit=5",
                        headers=_auth(tokens["auditor-out"])).json()
    assert (theirs["total"], len(theirs["entries"])) == (8, 5)
    assert [e["seq"] for e in theirs["entries"]] == [12, 11, 9, 8, 6]
    rest = client.get("/v1/access-log", params={"case_id": "HZ-O", "cursor": theirs["next_cursor"]},
                      headers=_auth(tokens["auditor-out"])).json()
    assert ([e["seq"] for e in rest["entries"]], rest["next_cursor"]) == ([5, 3, 2], None)
    none = client.get("/v1/access-log?case_id=HZ-O", headers=_auth(tokens["auditor"])).json()
    assert (none["total"], none["entries"]) == (0, [])
    everyone = authorisation.accesses_page(components.runner, components.access_log,
                                           Principal("root", ("admin",), ""), limit=100)
    assert (everyone.total, [e["seq"] for e in everyone.rows]) == (12, list(range(12, 0, -1)))
    quick = client.get("/v1/access-log?limit=1&verify=false",
                       headers=_auth(tokens["auditor"])).json()  # paging on, chain not redone
    assert [e["seq"] for e in quick["entries"]] == [10] and quick["total"] == 4
    assert (quick["count"], quick["head_hash"]) == (12, body["head_hash"])
    assert (quick["intact"], quick["problem"]) == (None, None)
    refused = client.get("/v1/access-log?cursor=bm9wZQ", headers=_auth(tokens["auditor"]))
    assert refused.status_code == 422 and "cursor" in refused.text


def test_a_deleted_access_log_entry_is_named(api: Any) -> None:
    """Removing an entry from the middle of the access log breaks the chain at that entry."""
    client, tokens, components = api
    client.post("/v1/events", json=case_walk("HZ-B")[0], headers=_auth(tokens["service"]))
    for _ in range(3):
        client.get("/v1/cases/HZ-B", headers=_auth(tokens["supervisor"]))
    table = components.access_log.table
    with recorder_of(components.case_log).engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.seq == 2))
    _, _, problem = components.access_log.verify()
    assert problem is not None and (problem.seq, problem.kind) == (2, "missing")


# -- exports, health, the spec ---------------------------------------------------------------
def test_a_range_export_streams_only_the_cases_inside_the_scope(loaded: Any) -> None:
    """The auditor of 330106 gets HZ-1's 18 events as JSON Lines; one of 330105 gets none."""
    client, tokens, _ = loaded
    mine = client.get("/v1/export?after=0", headers=_auth(tokens["auditor"]))
    theirs = client.get("/v1/export", headers=_auth(tokens["auditor-out"]))
    lines = [orjson.loads(line) for line in mine.text.splitlines()]
    assert mine.headers["content-type"] == "application/x-ndjson"
    assert [r["seq"] for r in lines] == list(range(1, 19))
    assert {r["case_id"] for r in lines} == {"HZ-1"}
    assert theirs.status_code == 200 and theirs.text == ""


def test_a_case_export_imports_into_an_empty_store_unchanged(loaded: Any, tmp_path: Path) -> None:
    """A case exported over HTTP imports elsewhere with the same hashes."""
    client, tokens, _ = loaded
    lines = client.get("/v1/cases/HZ-1/events", headers=_auth(tokens["officer"])).text.splitlines()
    other = open_case_log(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        outcomes = list(other.append_many(orjson.loads(line) for line in lines))
        copied = other.case_records("HZ-1")
    finally:
        other.close()
    assert {o.status for o in outcomes} == {"appended"}
    assert [r["hash"] for r in copied] == [orjson.loads(line)["hash"] for line in lines]


def test_readiness_reports_each_views_lag_and_fails_beyond_the_limit(api: Any) -> None:
    """/readyz is 200 while views keep up and 503 when one lags more than max_lag events."""
    client, tokens, components = api
    ready = client.get("/readyz")
    client.post("/v1/events/batch", json=case_walk("HZ-C")[:5], headers=_auth(tokens["service"]))
    components.max_lag = 2
    behind = client.get("/readyz")
    assert (ready.status_code, ready.json()["ready"]) == (200, True)
    assert (behind.status_code, behind.json()["ready"]) == (503, False)
    assert behind.json()["views"]["board"]["lag"] == 5
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_openapi_document_describes_every_route_with_security_and_examples(loaded: Any) -> None:
    """/openapi.json lists the routes, the bearer scheme and an example envelope."""
    client, _, _ = loaded
    spec = client.get("/openapi.json").json()
    assert {"/v1/events", "/v1/events/batch", "/v1/cases/{case_id}", "/v1/alerts",
            "/v1/deadlines", "/v1/referrals", "/v1/board", "/v1/subjects/{subject_id}",
            "/v1/statistics", "/v1/export", "/v1/ledger/verification", "/healthz",
            "/readyz"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    example = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert example["examples"]["event"]["value"]["type"] == "supervision.clue_registered"


def test_each_event_types_payload_is_its_own_schema_chosen_by_type(loaded: Any) -> None:
    """The request body is `Envelope`: one schema per event type, discriminated by `type`,
    each naming its payload's schema with the required fields; a batch is an array of them."""
    client, _, _ = loaded
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Envelope"}
    batch = spec["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["items"] == {"$ref": "#/components/schemas/Envelope"}
    union = schemas["Envelope"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(PAYLOADS)
    decided = schemas["Envelope_penalty_decided"]
    assert decided["properties"]["type"]["const"] == "penalty.decided"
    assert decided["properties"]["payload"] == {"$ref": "#/components/schemas/Decided"}
    assert {"outcome", "penalties", "discretion_level"} <= set(schemas["Decided"]["required"])
    assert "作出决定" in decided["description"]


def test_the_api_docs_load_their_scripts_from_this_server(loaded: Any) -> None:
    """/docs (Swagger UI) and /redoc reference only this server's assets, which are served:
    on an intranet without a CDN the pages still work."""
    client, _, _ = loaded
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
        assert "cdn" not in html


# -- persons' ids ---------------------------------------------------------------------------
PERSON = {"id": "330106199001011234", "name": "张某", "kind": "person"}
MASKED = "3301**********1234"


def _person_case(case_id: str) -> list[dict[str, Any]]:
    """A whole case against a person, with a referral assessment (so it is in referrals)."""
    walk = case_walk(case_id)
    for event in walk:
        if "subject" in event["payload"]:
            event["payload"]["subject"] = dict(PERSON)
        if event["type"] == "penalty.notice_served":  # a person fined 20,000 may ask for one
            event["payload"]["hearing_right"] = True
    at = next(i for i, e in enumerate(walk) if e["type"] == "penalty.investigation_concluded")
    day = walk[at]["occurred_at"][:10]
    walk.insert(at + 1, envelope("referral.assessed", case_id,
                                 occurred_at=f"{day}T11:00:00+08:00"))
    waived = next(i for i, e in enumerate(walk) if e["type"] == "penalty.statement_waived")
    walk.insert(waived, envelope("penalty.hearing_waived", case_id,
                                 occurred_at=walk[waived]["occurred_at"]))
    return walk


def _ids(body: Any) -> set[str]:
    """Every subject id in a body: subject objects' ids and subject_id fields."""
    if isinstance(body, list):
        return set().union(*map(_ids, body)) if body else set()
    if not isinstance(body, dict):
        return set()
    found = {v for k, v in body.items() if k == "subject_id" and isinstance(v, str)}
    if body.get("kind") in ("person", "organisation") and isinstance(body.get("id"), str):
        found.add(body["id"])
    return found.union(*map(_ids, body.values()))


@pytest.mark.parametrize("role", ROLES)
def test_persons_ids_are_masked_for_roles_that_do_not_need_them(api: Any, role: str) -> None:
    """Supervisors and auditors see a person's id masked in the case, its timeline, the
    referral view, the subject register and the case's export; officers, reviewers, services
    and admins see it whole."""
    client, tokens, _ = api
    posted = client.post("/v1/events/batch", json=_person_case("HZ-P"),
                         headers=_auth(tokens["city-service"]))
    assert posted.json()["appended"] == 20
    expected = {MASKED} if role in ("supervisor", "auditor") else {PERSON["id"]}
    paths = ["/v1/cases/HZ-P"] + (["/v1/referrals?scope=330106", f"/v1/subjects/{PERSON['id']}"]
                                  if role in ("supervisor", "auditor", "admin") else [])
    for path in paths:
        body = client.get(path, headers=_auth(tokens[role])).json()
        assert _ids(body) == expected, (path, body)
    exported = client.get("/v1/cases/HZ-P/events", headers=_auth(tokens[role])).text
    assert {found for found in (PERSON["id"], MASKED) if found in exported} == expected
    if role in ("supervisor", "auditor", "admin"):
        sheet = client.get("/v1/exports/referrals?format=csv&scope=330106",
                           headers=_auth(tokens[role])).content.decode("utf-8-sig")
        assert {found for found in (PERSON["id"], MASKED) if found in sheet} == expected
        subject = client.get("/v1/cases/HZ-P/subject", headers=_auth(tokens[role])).json()
        assert subject["subject_id"] in expected


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin"])
def test_a_findings_detail_naming_a_person_is_masked_like_its_subject_id(
        api: Any, role: str) -> None:
    """The same person fined twice for one act: the 一事二罚 finding's detail names the
    subject ("当事人 … 已在案件 … 中被罚款"). A supervisor and an auditor find the id masked in
    the whole answer of /v1/alerts and its CSV export, the detail included; an admin sees it
    whole (APL Art. 29; docs/contract.md: persons' ids masked for roles that do not need
    them)."""
    client, tokens, _ = api
    for story in (minor_fumes("HZ-D1", "2025-08-20", at("2025-09-10T10:00:00")),
                  minor_fumes("HZ-D2", "2025-08-20", at("2025-09-20T10:00:00"))):
        posted = client.post("/v1/events/batch", json=story.events,
                             headers=_auth(tokens["city-service"]))
        assert posted.json()["appended"] == len(story.events), posted.json()
    asked = {"as_of": "2025-09-21T00:00:00+08:00", "code": "DOUBLE_FINE"}
    answer = client.get("/v1/alerts", params=asked, headers=_auth(tokens[role]))
    [finding] = answer.json()
    assert PERSON["id"][:4] in finding["detail"] and "已在案件 HZ-D1" in finding["detail"]
    expected = MASKED if role in ("supervisor", "auditor") else PERSON["id"]
    hidden = PERSON["id"] if expected == MASKED else MASKED
    assert expected in finding["detail"] and finding["subject_id"] == expected
    sheet = client.get("/v1/exports/alerts", params={**asked, "format": "csv"},
                       headers=_auth(tokens[role])).content.decode("utf-8-sig")
    assert hidden not in answer.text and hidden not in sheet and expected in sheet


def test_an_unknown_panel_is_refused_naming_the_panels(loaded: Any) -> None:
    """/v1/exports/nope is a 422 problem naming the panels there are."""
    client, tokens, _ = loaded
    refused = client.get("/v1/exports/nope", headers=_auth(tokens["supervisor"]))
    assert refused.status_code == 422
    assert "alerts" in refused.json()["detail"] and "referrals" in refused.json()["detail"]


def test_organisations_ids_are_never_masked(loaded: Any) -> None:
    """A company's credit code is public: a supervisor sees it whole."""
    client, tokens, _ = loaded
    body = client.get("/v1/cases/HZ-1", headers=_auth(tokens["supervisor"])).json()
    assert _ids(body) == {SUBJECT["id"]}


@pytest.mark.parametrize("role", ROLES)
def test_whoami_names_the_principal_and_what_its_roles_may_read(loaded: Any, role: str) -> None:
    """`/v1/whoami` gives the token's principal, roles and scope, and the kinds of reading
    the access table grants those roles (what the dashboard shows)."""
    client, tokens, _ = loaded
    answer = client.get("/v1/whoami", headers=_auth(tokens[role]))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["principal"], body["roles"], body["scope"]) == (f"{role}-in", [role], "330106")
    kinds = {"case": "/v1/cases/HZ-1", "supervision": "/v1/board?scope=330106",
             "export": "/v1/export", "ledger": "/v1/ledger", "access_log": "/v1/access-log"}
    assert set(body["reads"]) == {kind for kind, path in kinds.items() if role in READS[path]}
    assert body["sees_person_ids"] == (role not in ("supervisor", "auditor"))
    assert client.get("/v1/whoami").status_code == 401


def test_the_dashboard_page_loads_nothing_from_elsewhere(loaded: Any) -> None:
    """The page, its script and its style are served with a policy that allows this server
    only; the script carries every alert code's zh-CN label."""
    client, _, _ = loaded
    for path, kind in (("/", "text/html"), ("/dashboard.js", "text/javascript"),
                       ("/dashboard.css", "text/css")):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert "default-src 'none'" in answer.headers["content-security-policy"]
    script = client.get("/dashboard.js").text
    assert '"DECISION_OVERDUE":"办案超期"' in script and '"penalty.case_filed":"立案"' in script
    assert "http://" not in client.get("/").text and "https://" not in script
