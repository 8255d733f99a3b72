"""The law through the command line: each rule has a log that breaks it (issue 3, "done")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casechain.entrypoints.cli.main import app
from tests.factories import OFFICERS, case_walk, write_log
from tests.helpers import at
from tests.stories import PERSON, Story

runner = CliRunner()



def _decided(**kw: object) -> Callable[[], Story]:
    def build() -> Story:
        story = Story().prepared()
        story.decide(**kw)  # type: ignore[arg-type]
        return story
    return build


def _lifecycle() -> Story:
    story = Story().filed()
    story.add("penalty.paid")
    return story


def _officers() -> Story:
    return Story().filed(officers=[OFFICERS[0]])


def _limitation() -> Story:
    return Story().filed(act_date="2023-08-01")


def _unknown_item() -> Story:
    return Story().filed(item="999999999")


def _notice() -> Story:
    story = Story().filed().concluded().reviewed()
    story.decide()
    return story


def _hearing() -> Story:
    story = Story().filed(item="330217004").concluded().reviewed()
    story.noticed(150000, hearing_right=True, at=at("2025-09-30T10:00:00"))
    story.decide(150000, level="light", at=at("2025-10-14T10:00:00"))
    return story


def _review() -> Story:
    story = Story().filed().concluded(major_or_complex=True).noticed().waived()
    story.decide()
    return story


def _collective() -> Story:
    story = Story().filed().concluded(circumstances="serious").reviewed().noticed(40000).waived()
    story.decide(40000, level="heavy")
    return story


def _summary() -> Story:
    story = Story().filed(item="330224005", procedure="summary", subject=PERSON).concluded()
    story.noticed(201)
    story.decide(201, level="heavy")
    return story


def _statement() -> Story:
    story = Story().filed().concluded().reviewed().noticed()
    story.add("penalty.hearing_waived", at=story.clock)
    story.decide(at=story.clock)
    return story


def _confiscation() -> Story:
    story = Story().filed().concluded(illegal_gains=500).reviewed().noticed().waived()
    story.decide()
    return story


def _grounds() -> Story:
    story = Story().prepared(fine=4000)
    story.decide(4000, level="mitigated")
    return story


def _minor() -> Story:
    story = Story().filed().concluded(circumstances="minor", harm="none", corrected=True)
    story.reviewed().noticed().waived().decide()
    return story


def _referral() -> Story:
    story = Story().prepared()
    story.add("referral.reported")
    story.decide()
    return story


BREAKS = {
    "LIFECYCLE_ORDER": _lifecycle,
    "OFFICERS_REQUIRED": _officers,
    "LIMITATION_EXPIRED": _limitation,
    "UNKNOWN_ITEM": _unknown_item,
    "NOTICE_REQUIRED": _notice,
    "HEARING_WINDOW_OPEN": _hearing,
    "LEGAL_REVIEW_REQUIRED": _review,
    "COLLECTIVE_DISCUSSION_REQUIRED": _collective,
    "DISCRETION_OUT_OF_RANGE": _decided(fine=18499),
    "FINE_ABOVE_STATUTORY_MAX": _decided(fine=50001, level="heavy"),
    "SUMMARY_PROCEDURE_LIMIT": _summary,
    "STATEMENT_PERIOD_OPEN": _statement,
    "CONFISCATION_REQUIRED": _confiscation,
    "MITIGATION_GROUNDS_REQUIRED": _grounds,
    "MINOR_NO_PENALTY": _minor,
    "HEAVIER_THAN_NOTICE": _decided(fine=20001),
    "REFERRAL_PENDING": _referral,
}


def test_a_case_through_all_four_stages_imports(tmp_path: Path) -> None:
    """Approval, supervision, penalty and evaluation of one case import under the law."""
    log = write_log(tmp_path / "walk.jsonl", case_walk("HZ-WALK"))
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    assert "18 appended" in result.output


@pytest.mark.parametrize("code", sorted(BREAKS))
def test_each_rule_has_a_log_that_breaks_it(tmp_path: Path, code: str) -> None:
    """Importing the log reports its last line rejected with the rule's code."""
    story = BREAKS[code]()
    log = write_log(tmp_path / "log.jsonl", story.events)
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (rejected,) = report["rejections"]
    assert rejected["line"] == len(story.events)
    assert code in [r["code"] for r in rejected["rejections"]]


def test_the_bundled_pack_checks_clean() -> None:
    """`rules check` on the bundled pack: no problems, exit 0."""
    from importlib import resources

    path = str(resources.files("casechain.data").joinpath("default_rules.yaml"))
    result = runner.invoke(app, ["rules", "check", path])
    assert result.exit_code == 0, result.output
    assert "71 item(s)" in result.output


def test_rules_check_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    """A broken pack: each problem named with its path, item code and line."""
    pack = tmp_path / "bad.yaml"
    pack.write_text("""name: broken
versions:
- effective_from: 2021-07-15
  items:
  - code: '330299001'
    name: 示例
    team: 城管
    level: district
    legal_basis: 某法第一条
    statutory_max: {person: 1000, organisation: 1000}
    benchmarks:
      exempted: {person: [0, 0], organisation: [0, 0]}
      mitigated: {person: [0, 100], organisation: [0, 100]}
      light: {person: [100, 300], organisation: [100, 300]}
      normal: {person: [300, 700], organisation: [300, 700]}
      heavy: {person: [700, 1000], organisation: [700, 1000]}
""", encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(pack), "--json"])
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["location"] == "versions[0].items[0].team (item 330299001)"
    assert problem["line"] == 7
    assert "城管" in problem["message"]


def test_rules_check_catches_benchmarks_above_the_statutory_maximum(tmp_path: Path) -> None:
    """Semantic checks: a benchmark above the statutory maximum, a repeated code."""
    from importlib import resources

    import yaml

    data = yaml.safe_load(resources.files("casechain.data").joinpath(
        "default_rules.yaml").read_text(encoding="utf-8"))
    items = data["versions"][0]["items"]
    items[0]["benchmarks"]["heavy"]["person"] = [36500, 60000]
    items[1]["code"] = items[0]["code"]
    pack = tmp_path / "bad.yaml"
    pack.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(pack)])
    assert result.exit_code == 1
    assert "benchmark maximum 60000 above the statutory maximum 50000" in result.output
    assert "code 330217001 repeats item 0" in result.output


CSV_HEADER = ("code,name,team,level,legal_basis,statutory_max_person,statutory_max_organisation,"
              "basis,exempted_person,exempted_organisation,mitigated_person,"
              "mitigated_organisation,light_person,light_organisation,normal_person,"
              "normal_organisation,heavy_person,heavy_organisation,criminal_metric,"
              "criminal_value,criminal_crime,criminal_repeat_penalties,criminal_repeat_years,"
              "long_limitation,first_violation_exempt\n")


def test_a_catalogue_spreadsheet_becomes_a_pack_the_engine_uses(tmp_path: Path) -> None:
    """import-catalogue turns CSV rows into pack YAML; import --rules then knows the items."""
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(CSV_HEADER + (
        "330299001,擅自占用公共场地经营,综合执法,street,某条例第十条,2000,20000,yuan,0-0,0-0,"
        "0-200,0-2000,200-700,2000-7000,700-1400,7000-14000,1400-2000,14000-20000,,,,,,否,是\n"
        "330299002,经营伪劣商品,市场监管,district,某法第二十条,3,3,amount_involved,0-0,0-0,"
        "0-0.5,0-0.5,0.5-1,0.5-1,1-2,1-2,2-3,2-3,amount_involved,50000,生产、销售伪劣产品罪,"
        ",,no,no\n"), encoding="utf-8")
    pack = tmp_path / "pack.yaml"
    made = runner.invoke(app, ["rules", "import-catalogue", str(csv_file), "-o", str(pack)])
    assert made.exit_code == 0, made.output
    assert runner.invoke(app, ["rules", "check", str(pack)]).exit_code == 0
    story = Story().filed(item="330299001")
    log = write_log(tmp_path / "log.jsonl", story.events)
    with_pack = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db"),
                                    "--rules", str(pack)])
    bundled = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "b.db")])
    assert with_pack.exit_code == 0, with_pack.output
    assert bundled.exit_code == 1 and "UNKNOWN_ITEM" in bundled.output


def test_a_bad_catalogue_row_is_named_by_row_and_column(tmp_path: Path) -> None:
    """A non-numeric cell is reported with its row and column; nothing is written."""
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(CSV_HEADER + (
        "330299001,名称,综合执法,street,某条例,两千,20000,yuan,0-0,0-0,0-200,0-2000,200-700,"
        "2000-7000,700-1400,7000-14000,1400-2000,14000-20000,,,,,,no,no\n"), encoding="utf-8")
    result = runner.invoke(app, ["rules", "import-catalogue", str(csv_file),
                                 "-o", str(tmp_path / "p.yaml")])
    assert result.exit_code == 1
    assert "row 2 (330299001)" in result.output
    assert "column statutory_max_person: '两千' is not a number" in result.output
    assert not (tmp_path / "p.yaml").exists()


def test_casechain_rules_selects_the_pack(tmp_path: Path) -> None:
    """CASECHAIN_RULES names the pack when --rules is not given; a bad path is an error."""
    log = write_log(tmp_path / "log.jsonl", Story().filed().events)
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db")],
                           env={"CASECHAIN_RULES": str(tmp_path / "missing.yaml")})
    assert result.exit_code == 2
    assert "missing.yaml" in result.output


def test_a_delegation_list_goes_into_the_imported_pack(tmp_path: Path) -> None:
    """import-catalogue --delegations: the 赋权清单 CSV (division, item_code) becomes the
    pack's delegations — the delegated street may file the district item, another street
    may not (NOT_DELEGATED, APL Arts. 24, 38); a bad division is named by its row."""
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(CSV_HEADER + (
        "330299002,经营伪劣商品,市场监管,district,某法第二十条,3,3,amount_involved,0-0,0-0,"
        "0-0.5,0-0.5,0.5-1,0.5-1,1-2,1-2,2-3,2-3,,,,,,no,no\n"), encoding="utf-8")
    delegations = tmp_path / "delegations.csv"
    delegations.write_text("division,item_code\n330106001,330299002\n", encoding="utf-8")
    pack = tmp_path / "pack.yaml"
    made = runner.invoke(app, ["rules", "import-catalogue", str(csv_file), "-o", str(pack),
                               "--delegations", str(delegations)])
    assert made.exit_code == 0, made.output
    stats = runner.invoke(app, ["rules", "stats", str(pack), "--json"])
    assert json.loads(stats.stdout)["delegations"] == {"330106001": 1}
    mine = Story("A", jurisdiction="330106001").filed(item="330299002")
    other = Story("B", jurisdiction="330106002").filed(item="330299002")
    log = write_log(tmp_path / "log.jsonl", mine.events + other.events)
    result = runner.invoke(app, ["import", str(log), "--db", str(tmp_path / "a.db"),
                                 "--rules", str(pack), "--json"])
    report = json.loads(result.stdout)
    assert report["appended"] == 1
    assert [r["code"] for r in report["rejections"][0]["rejections"]] == ["NOT_DELEGATED"]
    delegations.write_text("division,item_code\n西湖区,330299002\n", encoding="utf-8")
    bad = runner.invoke(app, ["rules", "import-catalogue", str(csv_file), "-o",
                              str(tmp_path / "p2.yaml"), "--delegations", str(delegations)])
    assert bad.exit_code == 1 and "row 2" in bad.output and "division" in bad.output


def test_rules_stats_counts_the_three_lists() -> None:
    """三张清单 of the bundled pack: items per team and level; comprehensive 9, specialised
    62, township 19 (8 street items and 11 delegated to every street)."""
    result = runner.invoke(app, ["rules", "stats", "--json"])
    assert result.exit_code == 0, result.output
    lists = json.loads(result.stdout)
    assert (lists["comprehensive"], lists["specialised"], lists["township"]) == (9, 62, 19)
    assert lists["by_team"]["生态环境"] == {"city": 6, "district": 1, "street": 0}
    assert sum(sum(c.values()) for c in lists["by_team"].values()) == lists["items"] == 71
    text = runner.invoke(app, ["rules", "stats"])
    assert "乡镇（街道）可行使事项 19（其中赋权 11）" in text.output
