"""Cross-case checks read for a division prefix (the rows its cases depend on) give that
prefix's cases the answers the whole city's rows give: alerts, referrals and rates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from casechain.adapters.rulepack_files import calendar_of, load_pack
from casechain.application.case_log import CaseLog
from casechain.application.simulation import simulate
from casechain.bootstrap import open_projections, recorder_of

AS_OF = ("2025-03-15T09:00:00+08:00", "2025-07-01T00:00:00+08:00",
         "2025-12-31T18:00:00+08:00", "2026-06-30T00:00:00+08:00")


def _inside(rows: list[dict[str, Any]], scope: str) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in rows if r["jurisdiction"].startswith(scope))


@pytest.mark.slow
def test_a_prefixs_checks_equal_the_whole_citys_for_its_cases(case_log: CaseLog) -> None:
    """On a simulated city year where subjects come back in other districts, every district
    and a few streets get, from their own rows, the alerts, referral rows and rates that the
    checks over every row give them."""
    pack = load_pack()
    events = list(simulate(1500, 9, date(2025, 1, 2), 12, pack, calendar_of(pack)))
    assert {o.status for o in case_log.append_many(events)} == {"appended"}
    runner = open_projections(case_log)
    runner.catch_up(["crosscase"])
    view: Any = runner.views["crosscase"]
    # The city's own cases (3301, city-level items) belong to no district.
    districts = sorted({e["jurisdiction"][:6] for e in events if len(e["jurisdiction"]) >= 6})
    streets = sorted({e["jurisdiction"] for e in events})[::25]
    subjects_by_district: dict[str, set[str]] = {}
    for e in events:
        subject = e["payload"].get("subject")
        if subject:
            subjects_by_district.setdefault(e["jurisdiction"][:6], set()).add(subject["id"])
    shared = set.intersection(*(subjects_by_district[d] for d in districts[:2]))
    assert len(districts) > 5 and shared  # subjects seen in more than one district
    with recorder_of(case_log).read() as conn:
        for text in AS_OF:
            moment = datetime.fromisoformat(text)
            city = view.checks(conn, moment)
            city_alerts = city.alerts()
            for scope in ["3301", *districts, *streets]:
                mine = view.checks(conn, moment, scope=scope)
                assert _inside(mine.alerts(), scope) == _inside(city_alerts, scope), (text,
                                                                                      scope)
                assert mine.referrals(scope) == city.referrals(scope), (text, scope)
                assert mine.referral_rates(scope) == city.referral_rates(scope), (text, scope)
            assert len(view.checks(conn, moment, scope=districts[0]).cases) < len(city.cases)
