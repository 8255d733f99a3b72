"""`deadlines.evaluate`: the surcharge on a late fine around reconsideration or litigation
(APL Art. 72, 73) — periods that straddle the due instant, cover it all, or lie ahead."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from casechain.domain.calendar import SHANGHAI
from casechain.domain.deadlines import Clock, evaluate

DUE = datetime(2025, 9, 17, tzinfo=SHANGHAI)
DAY = timedelta(days=1)


def payment(*pauses: tuple[datetime, datetime]) -> Clock:
    return Clock(case_id="HZ-P", code="PAYMENT_OVERDUE", part="", jurisdiction="330106001",
                 started_at=DUE - 15 * DAY, base_due=DUE, fine=20000.0,
                 surcharge_pauses=tuple(pauses))


@pytest.mark.parametrize(("pauses", "as_of", "surcharge"), [
    ((), DUE + 2 * DAY, 1800.0),                                   # days begun: 3
    (((DUE - 5 * DAY, DUE + DAY),), DUE + 2 * DAY, 1200.0),        # only the day after due
    (((DUE - DAY, DUE + 3 * DAY),), DUE + 2 * DAY, 0.0),           # still under way: nothing
    (((DUE + 5 * DAY, DUE + 9 * DAY),), DUE + 2 * DAY, 1800.0),    # not yet begun
    (((DUE, DUE + DAY), (DUE + DAY, DUE + 2 * DAY)), DUE + 2 * DAY + 1 * timedelta(seconds=1),
     600.0),                                                       # two in a row
    ((), DUE + 400 * DAY, 20000.0),                                # at most the fine
])
def test_the_surcharge_leaves_out_reconsideration_and_litigation(
        pauses: tuple[tuple[datetime, datetime], ...], as_of: datetime, surcharge: float) -> None:
    evaluation = evaluate(payment(*pauses), as_of)
    assert evaluation is not None
    assert (evaluation.colour, evaluation.surcharge) == ("red", surcharge)
