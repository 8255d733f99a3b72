"""Small helpers every kind of test shares: a local instant, and waiting for a condition."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from casechain.domain.calendar import SHANGHAI


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) instant from its ISO form without an offset."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll `condition` until true or `timeout` seconds pass; whether it became true (a
    worker's effect is awaited, never slept for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def interleaved(streams: Sequence[Sequence[dict[str, Any]]], seed: int) -> list[dict[str, Any]]:
    """The events of several cases interleaved at random (each case's own events keep their
    order, as a case's stream requires)."""
    queues = [list(stream) for stream in streams]
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    while queues:
        queue = rng.choice(queues)
        events.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return events
