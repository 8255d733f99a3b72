"""Criminal thresholds as the standards write them (行刑衔接): money measures, weighted sums,
quantities, acts that are crimes by themselves, repeat rules with or without a window, per
kind of subject — each on both sides of its figure, with the condition met named in zh-CN.
Sources are those the bundled pack cites for each item."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from casechain.domain.crosscase import CaseFacts
from tests.unit.test_crosscase import case, checks, penalty

FAKE_GOODS = "330221001"  # 追诉标准（一） Art. 16
PIPE = "330222002"  # 污染环境 by hidden pipes: 法释〔2023〕7号 Art. 1
WASTE = "330222005"  # 危险废物: 法释〔2023〕7号 Art. 1
FISHING = "330225007"  # 禁渔区、禁渔期: 法释〔2022〕12号 Art. 3
FIREWORKS = "330226008"  # 非法经营: 追诉标准（二） Art. 71, person and organisation
DOCTOR = "330228007"  # 非法行医: punished twice, ever, and again


def facts(item: str, **measures: Any) -> CaseFacts:
    return replace(case("HZ-T", "2025-03-10", item, "2025-04-01"),
                   **{"sales_amount": 0.0, **measures})


def met(one: CaseFacts) -> Any:
    found = checks([one], [])
    return found.threshold_met(found.cases[one.case_id])


@pytest.mark.parametrize(("measures", "reached"), [
    ({"sales_amount": 50000}, True), ({"sales_amount": 49999.99}, False),
    ({"unsold_value": 150000}, True), ({"unsold_value": 149999}, False),
    # unsold stock of 60,000 is no crime (before revision 2 it raised an alert at 50,000)
    ({"unsold_value": 60000, "amount_involved": 60000}, False),
    ({"sales_amount": 20000, "unsold_value": 90000}, True),  # 3 × 20,000 + 90,000
    ({"sales_amount": 20000, "unsold_value": 89999}, False),
    ({"amount_involved": 150000}, True),
])
def test_fake_goods_count_sales_unsold_and_their_weighted_sum(measures: dict[str, float],
                                                              reached: bool) -> None:
    """追诉标准（一） Art. 16: sales ≥ 50,000; unsold ≥ 150,000; 3 × sales + unsold ≥
    150,000 (the goods' whole value ≥ 150,000 meets the last whatever was sold)."""
    assert (met(facts(FAKE_GOODS, **measures)) is not None) is reached


def test_the_weighted_sum_is_named_in_chinese() -> None:
    found = met(facts(FAKE_GOODS, sales_amount=20000, unsold_value=90000))
    assert found.by == "amount"
    assert found.describe() == "生产、销售伪劣产品罪：销售金额×3 + 尚未销售货值 150,000 元 ≥ 150,000 元"


@pytest.mark.parametrize(("tonnes", "reached"), [(3.0, True), (2.99, False), (3.2, True)])
def test_hazardous_waste_of_three_tonnes_is_a_crime(tonnes: float, reached: bool) -> None:
    """法释〔2023〕7号 Art. 1: 非法排放、倾倒、处置危险废物三吨以上 — whatever the gains."""
    found = met(facts(WASTE, quantities=(("hazardous_waste_t", tonnes),)))
    assert (found is not None) is reached
    if found is not None:
        assert found.describe() == f"污染环境罪：危险废物 {tonnes:g} 吨 ≥ 3 吨"


def test_a_hidden_pipe_is_a_crime_by_itself() -> None:
    """法释〔2023〕7号 Art. 1: toxic discharge through hidden pipes meets the standard per se;
    the same case without that conduct and with no gains does not."""
    found = met(facts(PIPE, conduct=("hidden_pipe_toxic_discharge",)))
    assert found is not None and found.by == "conduct"
    assert "通过暗管" in found.describe() and "行为本身即达追诉标准" in found.describe()
    assert met(facts(PIPE)) is None


def test_heavy_metals_three_times_over_the_standard() -> None:
    """法释〔2023〕7号 Art. 1: lead, mercury, cadmium, chromium, arsenic, thallium, antimony
    at three times the discharge standard."""
    assert met(facts(PIPE, quantities=(("heavy_metal_3x_exceed_times", 3.0),))) is not None
    assert met(facts(PIPE, quantities=(("heavy_metal_3x_exceed_times", 2.9),))) is None


@pytest.mark.parametrize(("measures", "reached"), [
    ({"conduct": ("banned_method_in_closed_area",)}, True),
    ({"quantities": (("catch_kg", 500.0),)}, True), ({"quantities": (("catch_kg", 499.0),)}, False),
    ({"amount_involved": 10000}, True), ({"amount_involved": 9999}, False),
    ({"amount_involved": 5000}, False),  # the 2008 figure no longer applies
])
def test_illegal_fishing_by_method_weight_or_value(measures: dict[str, Any],
                                                   reached: bool) -> None:
    """法释〔2022〕12号 Art. 3: banned methods in a closed area or season; 500 kg; 10,000 yuan."""
    assert (met(facts(FISHING, **measures)) is not None) is reached


@pytest.mark.parametrize(("kind", "turnover", "reached"), [
    ("person", 50000, True), ("person", 49999, False),
    ("organisation", 50000, False), ("organisation", 500000, True),
    ("organisation", 499999, False)])
def test_illegal_business_has_figures_per_kind_of_subject(kind: str, turnover: float,
                                                          reached: bool) -> None:
    """追诉标准（二） Art. 71: a person's 50,000 of business, an organisation's 500,000."""
    one = facts(FIREWORKS, turnover=turnover, subject_kind=kind)
    assert (met(one) is not None) is reached


def test_a_doctor_without_licence_punished_twice_ever_is_a_crime() -> None:
    """非法行医 (2016 interpretation Art. 2): punished twice before — five and four years ago,
    no time window — and practising again."""
    now = case("HZ-3", "2025-03-10", DOCTOR)
    found = checks([case("HZ-1", "2020-01-01", DOCTOR), case("HZ-2", "2021-01-01", DOCTOR),
                    now], [penalty("HZ-1", "2020-03-01", DOCTOR),
                           penalty("HZ-2", "2021-03-01", DOCTOR)])
    hit = found.threshold_met(found.cases["HZ-3"])
    assert hit is not None and hit.by == "repeat" and hit.added_from == ("HZ-1", "HZ-2")
    assert "不限年限" in hit.describe()
    once = checks([case("HZ-2", "2021-01-01", DOCTOR), now],
                  [penalty("HZ-2", "2021-03-01", DOCTOR)])
    assert once.threshold_met(once.cases["HZ-3"]) is None
