"""The device register and the notice of a capture (APL Art. 41): the devices view through
`casechain devices`, the DEVICE_NOTICE_OVERDUE clock at its boundary, and devices kept off the
board."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from casechain.entrypoints.cli.main import app
from casechain.testing import Engine
from tests.helpers import at
from tests.stories import Story
from tests.unit.test_devices import CAMERA, captured, device

runner = CliRunner()


def clue_on_monday(case_id: str) -> Story:
    """A capture on Mon 18 Aug 2025 at 10:00 (registered and published on 1 Aug)."""
    story = Story(case_id, start=at("2025-08-18T10:30:00"), jurisdiction="330106001")
    story.add("supervision.clue_registered", at=at("2025-08-18T10:30:00"), source="ai_camera",
              urgent=False, device_id=CAMERA, captured_at="2025-08-18T10:00:00+08:00")
    return story


def test_the_party_is_told_within_five_working_days_of_the_capture(tmp_path: Path) -> None:
    """APL Art. 41 para 3: captured Mon 18 Aug, the five working days end at 24:00 Mon 25
    Aug — yellow to the last second, red after; telling the party stops it, and an
    inspection that found nothing ends it without a breach."""
    with Engine(folder=tmp_path) as engine:
        engine.load(device().events + clue_on_monday("HZ-N1").events)
        code = "DEVICE_NOTICE_OVERDUE"
        assert [a["severity"] for a in engine.alerts("2025-08-25T23:59:59", code)] == ["yellow"]
        red = engine.alerts("2025-08-26T00:00:01", code)
        assert [a["severity"] for a in red] == ["red"]
        assert red[0]["due_at"] == "2025-08-26T00:00:00+08:00"
        assert "《行政处罚法》第四十一条第三款" in red[0]["detail"]
        told = clue_on_monday("HZ-N2")
        told.add("penalty.party_informed", at=at("2025-08-22T09:00:00"), channel="短信")
        nothing = clue_on_monday("HZ-N3")
        nothing.add("supervision.inspected", at=at("2025-08-28T09:00:00"), joint=False,
                    violation_found=False, item_codes=[], departments=["综合执法"])
        late = clue_on_monday("HZ-N4")
        late.add("penalty.party_informed", at=at("2025-08-27T09:00:00"), channel="短信")
        engine.load(told.events + nothing.events + late.events)
        assert [a["case_id"] for a in engine.alerts("2025-08-29T00:00:00", code)] == ["HZ-N1"]
        assert [(b["case_id"], b["lateness"]) for b in engine.breaches(code)] == [
            ("HZ-N4", "1天9小时")]


def test_the_register_lists_devices_with_their_captures_and_penalties(tmp_path: Path) -> None:
    """`casechain devices`: the camera with its capture reviewed, the party told and the
    penalty resting on it; counts per district; another district's scope sees none; the
    board holds the case, not the device."""
    with Engine(folder=tmp_path) as engine:
        engine.load(device().events + captured().events)
        assert CAMERA not in engine.board() and "HZ-D1" in engine.board()
    db = str(tmp_path / "casechain-test.db")
    listed = runner.invoke(app, ["devices", "--db", db, "--json"])
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    (camera,) = body["devices"]
    assert (camera["device_id"], camera["kind"], camera["approved"]) == (CAMERA, "camera", True)
    assert (camera["captures"], camera["reviewed"], camera["informed"], camera["penalties"]) == (
        1, 1, 1, 1)
    assert body["districts"] == [{"district": "330106", "devices": 1, "captures": 1,
                                  "penalties": 1}]
    other = runner.invoke(app, ["devices", "--db", db, "--json", "--scope", "330105"])
    assert json.loads(other.stdout)["devices"] == []
    text = runner.invoke(app, ["devices", "--db", db])
    assert "330106   设备 1 台，抓拍 1 起，处罚 1 件" in text.output


def test_the_register_as_of_an_instant_is_as_it_stood_then(tmp_path: Path) -> None:
    """`casechain devices --as-of`: nothing before the camera was registered; then the camera
    with no capture; its capture from the instant it was captured, the review and the party
    told from theirs, the penalty from its decision; a retirement only once it happened."""
    camera, case = device(), captured()
    retired = Story(CAMERA, start=at("2025-12-01T09:00:00"))
    retired.add("device.retired", at=at("2025-12-01T09:00:00"))
    when = {e["type"]: e["occurred_at"] for e in case.events}
    db = str(tmp_path / "register.db")
    from tests.factories import write_log
    loaded = runner.invoke(app, ["import", str(write_log(
        tmp_path / "l.jsonl", camera.events + case.events + retired.events)), "--db", db])
    assert loaded.exit_code == 0, loaded.output

    def register(instant: str) -> dict[str, object]:
        answer = runner.invoke(app, ["devices", "--db", db, "--json", "--as-of", instant])
        assert answer.exit_code == 0, answer.output
        return json.loads(answer.stdout)  # type: ignore[no-any-return]

    def counts(instant: str) -> tuple[object, ...]:
        (row,) = register(instant)["devices"]  # type: ignore[misc]
        return (row["captures"], row["reviewed"], row["informed"], row["penalties"],
                row["retired_at"])

    assert register("2025-07-31T09:00:00")["devices"] == []
    assert counts("2025-08-01T09:00:00") == (0, 0, 0, 0, None)
    assert counts("2025-08-20T10:00:00") == (1, 0, 0, 0, None)  # captured, nothing else yet
    informed = datetime.fromisoformat(when["penalty.party_informed"])
    assert counts(informed.replace(tzinfo=None).isoformat()) == (1, 0, 1, 0, None)
    reviewed = datetime.fromisoformat(when["penalty.device_evidence_reviewed"])
    assert counts(reviewed.replace(tzinfo=None).isoformat()) == (1, 1, 1, 0, None)
    decided = datetime.fromisoformat(when["penalty.decided"])
    before = (decided - timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    assert counts(before) == (1, 1, 1, 0, None)
    assert counts(decided.replace(tzinfo=None).isoformat()) == (1, 1, 1, 1, None)
    assert counts("2025-12-01T08:59:59")[4] is None
    assert str(counts("2025-12-01T09:00:00")[4]).startswith("2025-12-01T09:00:00")
    assert register("2025-12-01T09:00:00")["districts"] == [
        {"district": "330106", "devices": 1, "captures": 1, "penalties": 1}]
