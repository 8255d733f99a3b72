"""Whatever CaseChain accepts, every view, query, export and replay reads (docs/errors.md, Bounds).

A Hypothesis property over generated envelopes: valid ones of every type, and the same with
one field replaced by a hostile value (control characters, surrogates, very long text,
nesting, huge or odd numbers, instants at the edges of time, wrong types). Each batch is
appended (never an exception: each envelope appended, duplicate or rejected with its code),
the views are caught up, and every query and HTTP read endpoint answers without a 500; at the
end the views are rebuilt from the log and read again. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import random
import re
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casechain.adapters.tokens import issue_token
from casechain.bootstrap import open_case_log, open_projections, open_service, recorder_of
from casechain.bootstrap import replay_log as replay
from casechain.domain.calendar import instant
from casechain.entrypoints.http.app import create_app
from casechain.errors import CODES
from tests.factories import PAYLOADS, case_walk, envelope

#: Instants at the edges: far past and future, offsets that overflow, the bounds themselves.
EDGE_INSTANTS = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                 "1999-12-31T23:59:59+08:00", "2000-01-01T00:00:00Z", "2099-12-31T23:59:59Z",
                 "2100-01-01T00:00:00Z", "2025-06-01T09:00:00.999999+08:00",
                 "2025-06-01T09:00:00+23:59", "2025-06-01", "not a date"]
HOSTILE_STRINGS = st.sampled_from([
    "x" * 20_001, "张" * 201, "S" * 65, "S" * 130, "a\x00b", "a\u0085b", "a\ud800b",
    "line\nbreak", "330106", "３３０１０６", "0330106", "", "admin", "r" * 65])
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.text(st.characters(codec=None, categories=["Cc", "Cs", "Zs", "Lo", "So"]), max_size=80),
    st.text(max_size=300),
    HOSTILE_STRINGS,
    st.sampled_from(EDGE_INSTANTS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(),
    st.recursive(st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                     st.text(max_size=5), inner, max_size=3), max_leaves=40),
    st.integers(min_value=30, max_value=60).map(
        lambda depth: _nested(depth)),
)
READS = ["/v1/board", "/v1/alerts", "/v1/deadlines", "/v1/referrals", "/v1/statistics",
         "/v1/response", "/v1/export", "/v1/access-log", "/v1/ledger", "/v1/ledger/verification",
         "/v1/whoami", "/healthz", "/readyz"]
AS_OF = ["2024-03-01T00:00:00", "2025-12-31T18:00:00", "2026-06-30T23:59:59"]


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"inner": value}
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in an envelope a hostile value could go (object members, list items)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _at(event: dict[str, Any], path: tuple[Any, ...]) -> Any:
    value: Any = event
    for part in path:
        value = value[part]
    return value


def _hostile_for(current: Any) -> st.SearchStrategy[Any]:
    """Mostly a hostile value of the field's own kind (an instant for an instant, a string
    for a string, a number for a number), sometimes anything."""
    if isinstance(current, str) and re.match(r"\d{4}-\d{2}-\d{2}", current):
        kind = st.sampled_from(EDGE_INSTANTS)
    elif isinstance(current, str):
        kind = st.one_of(HOSTILE_STRINGS, st.text(st.characters(
            codec=None, categories=["Cc", "Cs", "Zs", "Lo", "So"]), max_size=80))
    elif isinstance(current, (int, float)) and not isinstance(current, bool):
        kind = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                         st.sampled_from(["100", 10**12 + 1, 12.345, 1e-7]))
    else:
        kind = HOSTILE
    return st.one_of(kind, kind, kind, HOSTILE)


def _spoiled(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    spoiled = copy.deepcopy(event)
    target = spoiled
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return spoiled


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few valid envelopes (a whole case's life, or single events of any type) and a few
    with one field replaced by a hostile value, shuffled."""
    case_id = f"P-{uuid.uuid4().hex[:10]}"
    valid = case_walk(case_id)[:draw(st.integers(1, 18))]
    singles = [envelope(t, f"P-{uuid.uuid4().hex[:10]}", occurred_at="2025-05-06T10:00:00+08:00")
               for t in draw(st.lists(st.sampled_from(sorted(PAYLOADS)), max_size=3))]
    spoiled = []
    for _ in range(draw(st.integers(1, 8))):
        event = draw(st.sampled_from(valid + singles))
        path = draw(st.sampled_from(_paths(event)))
        spoiled.append(_spoiled(event, path, draw(_hostile_for(_at(event, path)))))
    for event in spoiled:
        event["event_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    mixed = valid + singles + spoiled
    random.Random(draw(st.integers(0, 1000))).shuffle(mixed)
    return mixed


@pytest.mark.postgres
@pytest.mark.slow
def test_whatever_is_accepted_every_view_query_and_endpoint_reads(store_url: str,
                                                                   tmp_path: Path) -> None:
    """Appending generated envelopes never raises; after each batch, and after a rebuild of
    every view, every query and HTTP read answers (no 500) on both databases."""
    token_file = tmp_path / "tokens.yaml"
    admin = {"Authorization": "Bearer " + issue_token(token_file, "root", ["admin"], "", None)}
    case_log = open_case_log(store_url)
    components = open_service(case_log, open_projections(case_log), token_file)
    appended: set[str] = set()

    def every_read_answers(client: TestClient) -> None:
        for path in READS:
            for as_of in AS_OF if path in ("/v1/alerts", "/v1/deadlines", "/v1/referrals") \
                    else [None]:
                answer = client.get(path, params={"as_of": as_of} if as_of else {},
                                    headers=admin)
                assert answer.status_code == 200, (path, answer.text[:500])
        for case_id in sorted(appended)[-5:]:
            for path in (f"/v1/cases/{case_id}", f"/v1/cases/{case_id}/events"):
                answer = client.get(path, headers=admin)
                assert answer.status_code == 200, (path, answer.text[:500])
            proof = client.get(f"/v1/cases/{case_id}/proof", headers=admin)
            assert proof.status_code in (200, 409), proof.text[:500]  # 409: no checkpoint yet
        subjects = client.get("/v1/subjects/91330106MA27XXXX0A", params={"as_of": AS_OF[1]},
                              headers=admin)
        assert subjects.status_code in (200, 404), subjects.text[:500]

    try:
        with TestClient(create_app(components, follow=False)) as client:
            @settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(batches())
            def appending_never_breaks_a_reader(batch: list[dict[str, Any]]) -> None:
                outcomes = list(case_log.append_many(batch))
                assert len(outcomes) == len(batch)
                for outcome in outcomes:
                    assert outcome.status in ("appended", "duplicate", "rejected")
                    assert all(r.code in CODES for r in outcome.rejections)
                    if outcome.status == "appended":
                        assert outcome.case_id is not None
                        appended.add(outcome.case_id)
                components.runner.catch_up()
                every_read_answers(client)

            appending_never_breaks_a_reader()
            components.runner.rebuild()
            components.ledger.catch_up()
            every_read_answers(client)
            exported = list(case_log.export())
            assert len(exported) == recorder_of(case_log).max_notification_id()
            log_file = tmp_path / "export.jsonl"
            log_file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in exported))
            replayed = replay(log_file, None, instant("2025-12-31T18:00:00"))
            assert (replayed.appended, replayed.rejected) == (len(exported), [])
    finally:
        case_log.close()
