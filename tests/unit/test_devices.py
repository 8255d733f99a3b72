"""非现场执法 (APL Art. 41): a penalty resting on a device's capture needs the device
registered with its legal and technical review and its location published before the
capture, not retired, and the capture reviewed as accurate; a device's stream holds device
events only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import at
from tests.stories import Judge, Story

CAMERA = "CAM-330106-0001"


def device(**payload: Any) -> Story:
    story = Story(CAMERA, start=at("2025-08-01T09:00:00"))
    story.add("device.registered", at=at("2025-08-01T09:00:00"),
              **{"device_id": CAMERA, "kind": "camera", "location": "文三路与学院路交叉口",
                 "legal_review": True, "technical_review": True,
                 "published_at": "2025-08-01T09:00:00+08:00", **payload})
    return story


def captured(case_id: str = "HZ-D1", captured_at: str = "2025-08-20T10:00:00+08:00",
             reviewed: bool | None = True) -> Story:
    """A capture by the camera, the case filed and decided with a fine; the capture reviewed
    (accurate or not) unless `reviewed` is None."""
    story = Story(case_id, start=at("2025-08-20T11:00:00"), jurisdiction="330106001")
    story.add("supervision.clue_registered", source="ai_camera", urgent=False,
              device_id=CAMERA, captured_at=captured_at, description="占道经营")
    story.add("penalty.party_informed", channel="短信")
    story.filed(act_date="2025-08-20")
    if reviewed is not None:
        story.add("penalty.device_evidence_reviewed", device_id=CAMERA, accurate=reviewed)
    story.concluded().reviewed().noticed().waived()
    story.decide()
    return story


def judged(*stories: Story) -> list[str]:
    judge = Judge()
    for story in stories[:-1]:
        for event in story.events:
            assert judge.codes(event) == [], (event["type"], judge.rejections(event))
    return judge.last(stories[-1])


def test_a_reviewed_capture_of_a_published_device_may_be_penalised() -> None:
    """Registered with both reviews and published on 1 Aug, capture on 20 Aug reviewed as
    accurate: the penalty stands (Art. 41 paras 1, 2)."""
    assert judged(device(), captured()) == []


@pytest.mark.parametrize(("change", "words"), [
    ({"legal_review": False}, "lacks its legal review"),
    ({"technical_review": False}, "lacks its technical review"),
    ({"published_at": "2025-08-20T10:00:01+08:00"}, "published"),
])
def test_an_unreviewed_or_unpublished_device_does_not_count(change: dict[str, Any],
                                                            words: str) -> None:
    """Art. 41 para 1: 经过法制和技术审核 and 设置地点向社会公布 before the capture — published
    one second after it is too late."""
    judge_story = captured()
    codes = judged(device(**change), judge_story)
    assert codes == ["DEVICE_NOT_APPROVED"]
    judge = Judge()
    for event in device(**change).events + judge_story.events[:-1]:
        judge.codes(event)
    message = judge.rejections(judge_story.events[-1])[0].message
    assert words in message and "APL Art. 41" in message


def test_published_the_same_second_as_the_capture_counts() -> None:
    assert judged(device(published_at="2025-08-20T10:00:00+08:00"), captured()) == []


def test_an_unregistered_device_or_an_unreviewed_capture_does_not_count() -> None:
    """No device.registered; or the capture not reviewed, or reviewed as not accurate
    (Art. 41 para 2)."""
    assert judged(captured()) == ["DEVICE_NOT_APPROVED"]
    assert judged(device(), captured(reviewed=None)) == ["DEVICE_NOT_APPROVED"]
    assert judged(device(), captured(reviewed=False)) == ["DEVICE_NOT_APPROVED"]


def test_a_device_retired_before_the_capture_does_not_count() -> None:
    retired = device()
    retired.add("device.retired", at=at("2025-08-15T09:00:00"))
    assert judged(retired, captured()) == ["DEVICE_NOT_APPROVED"]


def test_a_device_stream_holds_device_events_only() -> None:
    """A device's stream takes no case event, a case takes no device event, a device is
    registered once."""
    judge = Judge()
    camera = device()
    assert judge.codes(camera.events[0]) == []
    stray = Story(CAMERA).add("supervision.clue_registered")
    assert judge.codes(stray) == ["LIFECYCLE_ORDER"]
    again = device().events[0]
    assert judge.codes(again) == ["LIFECYCLE_ORDER"]
    case_story = Story("HZ-X").filed()
    assert judge.codes(case_story.events[0]) == []
    assert judge.codes(Story("HZ-X").add("device.retired")) == ["LIFECYCLE_ORDER"]


def test_a_capture_names_its_instant() -> None:
    """device_id and captured_at go together (the schema names the field)."""
    story = Story("HZ-Y")
    story.add("supervision.clue_registered", source="ai_camera", device_id=CAMERA)
    assert Judge().codes(story.events[0]) == ["SCHEMA_INVALID"]
