"""Proof that history was not rewritten: `casechain verify` after tampering directly in the
database with SQL — on SQLite and PostgreSQL — and the proofs and bundles offline
(docs/contract.md "Ledger")."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from casechain.adapters import codec
from casechain.adapters.ledger import Ledger, generate_key, load_private_key
from casechain.application import paging
from casechain.application.synthetic import EVENTS_PER_CASE, generate
from casechain.bootstrap import open_case_log, recorder_of
from casechain.domain.hashing import record_hash
from casechain.entrypoints.cli import ledger as ledger_cli
from casechain.entrypoints.cli.main import app
from tests.helpers import wait_for
from tests.pg import run_sql

runner = CliRunner()
CASES = 60  # 600 events: two complete chunks of 256 and a partial one


@dataclass
class Store:
    url: str
    public: Path
    private: Path
    checkpoint: Path
    size: int

    def sql(self, statement: str, **params: Any) -> list[Any]:
        return run_sql(self.url, statement, **params)

    def state(self, position: int) -> bytes:
        (row,) = self.sql("SELECT state FROM casechain_events WHERE position = :p", p=position)
        return bytes(row.state)

    def record(self, position: int) -> dict[str, Any]:
        return codec.decode_record(self.state(position))

    def verify(self, *extra: str) -> tuple[int, dict[str, Any]]:
        result = runner.invoke(app, ["verify", "--db", self.url, "--public-key",
                                     str(self.public), "--json", *extra])
        return result.exit_code, json.loads(result.stdout)


def _fill(url: str, seed: int, key: Path) -> int:
    case_log = open_case_log(url)
    try:
        outcomes = list(case_log.append_many(generate(CASES, seed)))
        assert all(o.status == "appended" for o in outcomes)
        ledger = Ledger(recorder_of(case_log))
        ledger.checkpoint(load_private_key(key))
        return len(outcomes)
    finally:
        case_log.close()


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """600 events with their tree, one signed checkpoint, and the witness's copy of it."""
    private, public = tmp_path / "signing.pem", tmp_path / "public.pem"
    generate_key(private, public)
    size = _fill(store_url, 1, private)
    witness = tmp_path / "witness.json"
    shown = runner.invoke(app, ["checkpoints", "--db", store_url, "--json"])
    witness.write_text(json.dumps(json.loads(shown.stdout)[-1]))
    yield Store(store_url, public, private, witness, size)


def _first(report: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = report["first_problem"]
    return first


def test_an_untouched_store_verifies(store: Store) -> None:
    """Nothing changed: exit 0, every event and the checkpoint checked."""
    code, report = store.verify("--against", str(store.checkpoint))
    assert code == 0 and report["intact"]
    assert report["events"] == store.size and report["checkpoints_checked"] == 2


def test_an_edited_payload_byte_is_named(store: Store) -> None:
    """One digit of a payload changed in the database: that event is named."""
    state = store.state(123)
    at = state.index(b'"payload":')
    digit = next(i for i in range(at, len(state)) if state[i:i + 1].isdigit())
    changed = state[:digit] + (b"1" if state[digit:digit + 1] != b"1" else b"2") + state[digit + 1:]
    store.sql("UPDATE casechain_events SET state = :s WHERE position = 123", s=changed)
    code, report = store.verify()
    victim = store.record(123)
    assert code == 1
    assert _first(report) | {"detail": ""} == {"what": "content", "position": 123,
                                               "case_id": victim["case_id"],
                                               "seq": victim["seq"], "detail": ""}


def test_a_changed_timestamp_is_named(store: Store) -> None:
    """occurred_at moved back a year: the event's hash no longer matches."""
    state = store.state(300)
    record = codec.decode_record(state)
    moved = state.replace(record["occurred_at"].encode(),
                          record["occurred_at"].replace("2024-", "2023-").encode())
    store.sql("UPDATE casechain_events SET state = :s WHERE position = 300", s=moved)
    code, report = store.verify()
    assert code == 1 and (_first(report)["position"], _first(report)["what"]) == (300, "content")


def test_a_deleted_event_is_named(store: Store) -> None:
    """A row deleted: its position is reported missing first."""
    store.sql("DELETE FROM casechain_events WHERE position = 200")
    code, report = store.verify()
    assert code == 1 and (_first(report)["position"], _first(report)["what"]) == (
        200, "missing events")


def _forge_after(store: Store, position: int) -> dict[str, Any]:
    """Insert a forged event at `position` + 1 for the case of the event at `position` (its
    last): later rows renumbered, the chain recomputed, so every case chain verifies."""
    last = store.record(position)
    forged = {k: v for k, v in last.items() if k != "hash"}
    forged.update(seq=last["seq"] + 1, prev_hash=last["hash"], type="penalty.closed",
                  event_id="00000000-0000-4000-8000-000000000001", payload={})
    forged["hash"], _ = record_hash(forged)
    stored = codec.encode(forged, forged["recorded_at"])
    (same_case,) = store.sql("SELECT originator_id FROM casechain_events WHERE position = :p",
                             p=position)
    store.sql("UPDATE casechain_events SET position = position + 1000000 WHERE position > :p",
              p=position)
    store.sql("UPDATE casechain_events SET position = position - 999999 WHERE position > 1000000")
    store.sql("INSERT INTO casechain_events (position, originator_id, originator_version, topic,"
              " state, event_id) VALUES (:p, :o, :v, :t, :s, :e)", p=position + 1,
              o=same_case.originator_id, v=forged["seq"], t=stored.topic, s=stored.state,
              e=forged["event_id"])
    return forged


def test_a_forged_event_with_a_recomputed_chain_is_named(store: Store) -> None:
    """Every case chain verifies after the forgery; the leaf recorded at that position does
    not, and the checkpoint root does not."""
    positions = [p for (p,) in store.sql(
        "SELECT MAX(position) FROM casechain_events GROUP BY originator_id")]
    target = min(p for p in positions if p > 300)
    forged = _forge_after(store, target)
    code, report = store.verify()
    assert code == 1
    assert (_first(report)["what"], _first(report)["position"], _first(report)["case_id"],
            _first(report)["seq"]) == ("leaf", target + 1, forged["case_id"], forged["seq"])
    assert "checkpoint root" in {p["what"] for p in report["problems"]}


def test_two_swapped_events_are_named(store: Store) -> None:
    """Two events of different cases exchange positions: the first of them is named."""
    a, b = 10, 11
    assert store.record(a)["case_id"] != store.record(b)["case_id"]
    store.sql("UPDATE casechain_events SET position = -1 WHERE position = :a", a=a)
    store.sql("UPDATE casechain_events SET position = :a WHERE position = :b", a=a, b=b)
    store.sql("UPDATE casechain_events SET position = :b WHERE position = -1", b=b)
    code, report = store.verify()
    assert code == 1 and _first(report)["position"] == a


def test_a_truncated_tail_is_named(store: Store) -> None:
    """The last five events removed: the checkpoint covers more than the log holds."""
    store.sql("DELETE FROM casechain_events WHERE position > :n", n=store.size - 5)
    code, report = store.verify()
    assert code == 1
    assert (_first(report)["what"], _first(report)["position"]) == ("truncated", store.size - 4)


def _replace_everything(store: Store, tmp_path: Path, keep_checkpoints: bool) -> None:
    """Drop every table and build another log with its own tree (and, if asked, a checkpoint
    signed by the forger's own key) at the same address."""
    engine = sa.create_engine(store.url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()
    forger = tmp_path / "forger.pem"
    generate_key(forger, tmp_path / "forger.pub.pem")
    _fill(store.url, 2, forger)
    if not keep_checkpoints:
        store.sql("DELETE FROM casechain_checkpoints")


def test_a_consistent_forgery_is_caught_by_the_stored_signature(store: Store,
                                                                tmp_path: Path) -> None:
    """A whole new log with checkpoints signed by another key: the signature fails."""
    _replace_everything(store, tmp_path, keep_checkpoints=True)
    code, report = store.verify()
    assert code == 1 and report["first_problem"]["what"] == "checkpoint signature"


def test_a_consistent_forgery_without_checkpoints_is_caught_against_the_witness(
        store: Store, tmp_path: Path) -> None:
    """A whole new, self-consistent log and no stored checkpoints: only the witness's copy of
    the signed checkpoint shows that the log is not the one that was signed."""
    _replace_everything(store, tmp_path, keep_checkpoints=False)
    assert store.verify()[0] == 0  # consistent with itself
    code, report = store.verify("--against", str(store.checkpoint))
    assert code == 1 and report["first_problem"]["what"] == "checkpoint root"


def test_proofs_and_bundle_check_out_offline(store: Store, tmp_path: Path) -> None:
    """An inclusion proof, a consistency proof and an evidence bundle verify with the file
    and the public key; an altered proof does not."""
    case_id = store.record(42)["case_id"]
    proof = runner.invoke(app, ["proof", case_id, "--db", store.url, "-o",
                                str(tmp_path / "p.json")])
    assert proof.exit_code == 0, proof.output
    ok = runner.invoke(app, ["verify-proof", str(tmp_path / "p.json"), "--public-key",
                             str(store.public), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"]
    doc = json.loads((tmp_path / "p.json").read_text())
    doc["proofs"][0]["event"]["payload"]["forged"] = True
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    bad = runner.invoke(app, ["verify-proof", str(tmp_path / "bad.json"), "--public-key",
                              str(store.public)])
    assert bad.exit_code == 1 and "altered" in bad.stdout
    consistency = runner.invoke(app, ["proof", "--consistency", "100", str(store.size),
                                      "--db", store.url, "-o", str(tmp_path / "c.json")])
    assert consistency.exit_code == 0, consistency.output
    checked = runner.invoke(app, ["verify-proof", str(tmp_path / "c.json"), "--public-key",
                                  str(store.public)])
    assert checked.exit_code == 0 and "signed" in checked.stdout
    made = runner.invoke(app, ["bundle", case_id, "-o", str(tmp_path / "case.zip"), "--db",
                               store.url, "--key", str(store.private)])
    assert made.exit_code == 0, made.output
    with zipfile.ZipFile(tmp_path / "case.zip") as archive:
        assert {"events.jsonl", "proof.json", "checkpoint.json", "public_key.pem",
                "说明.txt"} <= set(archive.namelist())
        assert case_id in archive.read("说明.txt").decode()
    bundled = runner.invoke(app, ["verify-proof", str(tmp_path / "case.zip"), "--public-key",
                                  str(store.public)])
    assert bundled.exit_code == 0 and "valid" in bundled.stdout


def test_a_proof_against_another_key_fails(store: Store, tmp_path: Path) -> None:
    """The right proof with the wrong public key does not verify."""
    case_id = store.record(1)["case_id"]
    runner.invoke(app, ["proof", case_id, "--db", store.url, "-o", str(tmp_path / "p.json")])
    other, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
    generate_key(other, other_public)
    result = runner.invoke(app, ["verify-proof", str(tmp_path / "p.json"), "--public-key",
                                 str(other_public)])
    assert result.exit_code == 1 and "not signed by this key" in result.stdout
    assert orjson.loads((tmp_path / "p.json").read_bytes())["tree_size"] == store.size


def test_the_documented_python_checks_a_bundle_without_casechain(sqlite_url: str,
                                                                 tmp_path: Path) -> None:
    """docs/ledger.md's few lines of hashlib + cryptography accept a real bundle and refuse
    one whose event was altered."""
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    generate_key(private, public)
    _fill(sqlite_url, 3, private)
    case_id = "HZ-2024-0000003"
    made = runner.invoke(app, ["bundle", case_id, "-o", str(tmp_path / "case.zip"), "--db",
                               sqlite_url, "--key", str(private)])
    assert made.exit_code == 0, made.output
    text = (Path(__file__).parents[2] / "docs" / "ledger.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/ledger.md", "exec"), namespace)
    assert namespace["check_bundle"](tmp_path / "case.zip", public.read_bytes()) == EVENTS_PER_CASE
    with zipfile.ZipFile(tmp_path / "case.zip") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    doc = json.loads(parts["proof.json"])
    doc["proofs"][2]["event"]["occurred_at"] = "2020-01-01T00:00:00+08:00"
    parts["proof.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(AssertionError, match="event altered"):
        namespace["check_bundle"](tmp_path / "bad.zip", public.read_bytes())


def test_the_tree_kept_piece_by_piece_equals_the_tree_of_the_whole_log(sqlite_url: str) -> None:
    """Catching up after each of several imports (sizes not multiples of 256) stores the same
    tree as recomputing it from every event: same root, and every sampled proof verifies."""
    from casechain.domain import merkle

    events = list(generate(130, 4))[:1300]  # a size that is not a multiple of 256
    case_log = open_case_log(sqlite_url)
    try:
        ledger = Ledger(recorder_of(case_log))
        for part in (events[:300], events[300:777], events[777:]):
            list(case_log.append_many(part))
            ledger.catch_up()
        assert ledger.covered() == 1280
        size, root = ledger.root()
        report = ledger.verify()
        assert report.intact and report.root_hash == root.hex() and size == 1300
        for position in (1, 256, 257, 700, 1280, 1281, 1300):
            (note,) = recorder_of(case_log).select_notifications(position, 1)
            leaf = merkle.leaf_hash(codec.decode_record(note.state)["hash"])
            path = ledger.inclusion(position, size)
            assert merkle.verify_inclusion(position - 1, size, leaf, path, root)
    finally:
        case_log.close()


def test_checkpoints_are_issued_on_a_schedule_until_stopped(sqlite_url: str,
                                                            tmp_path: Path) -> None:
    """`casechain checkpoint --every 1` signs a checkpoint a second and stops on SIGTERM."""
    import signal
    import subprocess
    import sys

    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    generate_key(private, public)
    _fill(sqlite_url, 6, private)
    before = len(stored_checkpoints(sqlite_url))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "casechain"), "checkpoint",
                             "--db", sqlite_url, "--key", str(private), "--every", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(stored_checkpoints(sqlite_url)) >= before + 2, 60, step=0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    stored = stored_checkpoints(sqlite_url)
    assert len(stored) >= before + 2
    assert all(cp["tree_size"] == CASES * EVENTS_PER_CASE for cp in stored)


def stored_checkpoints(url: str) -> list[dict[str, Any]]:
    shown = runner.invoke(app, ["checkpoints", "--db", url, "--json"])
    result: list[dict[str, Any]] = json.loads(shown.stdout)
    return result


def test_the_newest_checkpoint_and_a_proof_s_checkpoints_among_many(store: Store,
                                                                   tmp_path: Path) -> None:
    """A year of checkpoints every minute is hundreds of thousands of rows: each proof and
    `/v1/ledger` reads the newest alone, a consistency proof the two of its sizes alone —
    still the newest (the last signed, also when two were signed at one size) and exactly
    the checkpoints of those sizes, on both databases."""
    case_log = open_case_log(store.url)
    try:
        ledger = Ledger(recorder_of(case_log))
        key = load_private_key(store.private)
        made = [ledger.checkpoint(key) for _ in range(3)]  # three more, at the same size
        assert ledger.latest_checkpoint() == ledger.stored_checkpoints()[-1]
        assert ledger.latest_checkpoint() == made[-1]
        assert len(ledger.stored_checkpoints((store.size,))) == 4
        assert ledger.stored_checkpoints((100,)) == []
    finally:
        case_log.close()
    consistency = runner.invoke(app, ["proof", "--consistency", "100", str(store.size),
                                      "--db", store.url, "-o", str(tmp_path / "c.json")])
    assert consistency.exit_code == 0, consistency.output
    doc = json.loads((tmp_path / "c.json").read_text())
    assert [cp["tree_size"] for cp in doc["checkpoints"]] == [store.size] * 4


def test_the_checkpoints_page_and_stream_as_a_witness_keeps_them(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """`casechain checkpoints --limit N` gives a page, oldest first, and the next page's
    cursor on stderr; the pages put together are the whole listing, which without --limit
    is read a page at a time (here two: a year of checkpoints every minute is hundreds of
    thousands); a cursor the listing did not give is one line naming it, exit 2."""
    case_log = open_case_log(store.url)
    try:
        ledger = Ledger(recorder_of(case_log))
        key = load_private_key(store.private)
        for _ in range(4):
            ledger.checkpoint(key)
        whole = [cp.as_dict() for cp in ledger.stored_checkpoints()]
    finally:
        case_log.close()
    assert len(whole) == 5
    first = runner.invoke(app, ["checkpoints", "--db", store.url, "--limit", "3", "--json"])
    assert first.exit_code == 0, first.output
    assert "3 of 5 shown" in first.stderr
    cursor = first.stderr.rsplit("--cursor ", 1)[1].strip()
    rest = runner.invoke(app, ["checkpoints", "--db", store.url, "--limit", "3", "--cursor",
                               cursor, "--json"])
    assert rest.exit_code == 0, rest.output
    assert json.loads(first.stdout) + json.loads(rest.stdout) == whole
    monkeypatch.setattr(paging, "MAX_LIMIT", 2)
    monkeypatch.setattr(ledger_cli, "MAX_LIMIT", 2)
    pages: list[int] = []
    page_of = ledger_cli.checkpoints_page

    def counted(*args: Any) -> Any:
        page = page_of(*args)
        pages.append(len(page.rows))
        return page

    monkeypatch.setattr(ledger_cli, "checkpoints_page", counted)
    streamed = runner.invoke(app, ["checkpoints", "--db", store.url, "--json"])
    assert streamed.exit_code == 0, streamed.output
    assert json.loads(streamed.stdout) == whole
    assert pages == [2, 2, 1]
    lines = runner.invoke(app, ["checkpoints", "--db", store.url])
    assert [line.split()[1] for line in lines.stdout.splitlines()] == [
        str(cp["tree_size"]) for cp in whole]
    bad = runner.invoke(app, ["checkpoints", "--db", store.url, "--cursor", "zzz"])
    assert bad.exit_code == 2 and bad.output.startswith("error: --cursor: ")
    assert bad.stdout == ""
