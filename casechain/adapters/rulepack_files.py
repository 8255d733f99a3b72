"""Reading rule packs from YAML, checking them, and turning catalogue spreadsheets into packs.

`load_pack` raises `RulePackInvalid` listing every problem, each with its location: the path
inside the pack (`versions[0].items[3].benchmarks.normal.person`), the item code where there
is one, and the line of the YAML file.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from casechain.domain.calendar import WorkCalendar, YearTable
from casechain.domain.rulepack import (
    DISCRETION_LEVELS,
    TEAMS,
    Multiple,
    RulePack,
    RuleVersion,
)
from casechain.errors import ConfigurationError

__all__ = [
    "DEFAULT_PACK",
    "PackProblem",
    "RulePackInvalid",
    "calendar_of",
    "catalogue_to_pack",
    "check_pack_file",
    "load_pack",
]

DEFAULT_PACK = "bundled:default_rules.yaml"


@dataclass(frozen=True)
class PackProblem:
    """One problem of a pack: where it is and what is wrong."""

    location: str
    line: int | None
    message: str

    def __str__(self) -> str:
        at = f"line {self.line}: " if self.line else ""
        return f"{at}{self.location}: {self.message}"


class RulePackInvalid(ConfigurationError):
    """A rule pack that cannot be used; `problems` lists every problem found."""

    def __init__(self, source: str, problems: list[PackProblem]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"rule pack {source} has {len(problems)} problem(s):\n{listed}{more}")


def load_pack(path: str | Path | None = None) -> RulePack:
    """Load and check a pack: a file path, or None / `bundled:NAME` for a bundled pack.

    A pack is read every time (so an edited file is seen) but checked once per content: the
    bundled pack takes about 0.6 s to check, and every case log opened in a process (each
    test, each replay) would pay it again. Packs are not changed once loaded."""
    source, text = _read(path)
    key = (source, hashlib.sha256(text.encode()).hexdigest())
    checked = _CHECKED.get(key)
    if checked is None:
        checked = _CHECKED[key] = _check_text(source, text)
    pack, problems = checked
    if problems or pack is None:
        raise RulePackInvalid(source, problems)
    return pack


_CHECKED: dict[tuple[str, str], tuple[RulePack | None, list[PackProblem]]] = {}


def check_pack_file(path: str | Path) -> list[PackProblem]:
    """Every problem of a pack file (empty when the pack is usable)."""
    source, text = _read(path)
    return _check_text(source, text)[1]


def calendar_of(pack: RulePack) -> WorkCalendar:
    """The working-day calendar: the package's tables plus the pack's extra years."""
    return WorkCalendar({year: YearTable(frozenset(table.holidays), frozenset(table.workdays))
                         for year, table in pack.calendar.items()})


def _read(path: str | Path | None) -> tuple[str, str]:
    name = str(path) if path is not None else DEFAULT_PACK
    if name.startswith("bundled:"):
        resource = resources.files("casechain.data").joinpath(name.removeprefix("bundled:"))
        try:
            return name, resource.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"no bundled rule pack {name!r}") from None
    file = Path(name)
    try:
        return name, file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read rule pack {name}: {exc.strerror}") from None


def _check_text(source: str, text: str) -> tuple[RulePack | None, list[PackProblem]]:
    try:
        data = yaml.safe_load(text)
        lines = _line_index(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [PackProblem("(file)", mark.line + 1 if mark else None,
                                  f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return None, [PackProblem("(file)", 1, "a rule pack is a mapping with name and versions")]
    try:
        pack = RulePack.model_validate(data)
    except ValidationError as exc:
        return None, [_problem(data, lines, error["loc"], error["msg"], error.get("input"))
                      for error in exc.errors(include_url=False)]
    return pack, list(_semantic_problems(pack, data, lines))


def _semantic_problems(pack: RulePack, data: dict[str, Any],
                       lines: dict[tuple[Any, ...], int]) -> Iterator[PackProblem]:
    dates = [v.effective_from for v in pack.versions]
    if dates != sorted(set(dates)):
        yield _problem(data, lines, ("versions",), "versions must be in increasing order of "
                       f"effective_from, each date once (found {', '.join(map(str, dates))})")
    for v, version in enumerate(pack.versions):
        seen: dict[str, int] = {}
        for i, item in enumerate(version.items):
            at = ("versions", v, "items", i)
            if item.code in seen:
                yield _problem(data, lines, (*at, "code"), f"code {item.code} repeats item "
                               f"{seen[item.code]} of this version")
            seen[item.code] = i
            yield from _benchmark_problems(version, item, data, lines, at)
        for division, codes in version.delegations.items():
            unknown = [code for code in codes if code not in seen]
            if unknown:
                yield _problem(data, lines, ("versions", v, "delegations", division),
                               f"delegations of {division}: item(s) {', '.join(unknown)} not "
                               "in this version's catalogue (赋权清单 lists catalogue items)")
    for year, table in pack.calendar.items():
        for kind in ("holidays", "workdays"):
            for n, day in enumerate(getattr(table, kind)):
                if day.year != year:
                    yield _problem(data, lines, ("calendar", year, kind, n),
                                   f"{day} is not in {year}")


def _benchmark_problems(version: RuleVersion, item: Any, data: dict[str, Any],
                        lines: dict[tuple[Any, ...], int], at: tuple[Any, ...]
                        ) -> Iterator[PackProblem]:
    missing = [level for level in DISCRETION_LEVELS if level not in item.benchmarks]
    if missing:
        yield _problem(data, lines, (*at, "benchmarks"), f"item {item.code}: discretion "
                       f"level(s) {', '.join(missing)} missing")
    for level, by_kind in item.benchmarks.items():
        for kind in ("person", "organisation"):
            bench = getattr(by_kind, kind)
            cap = getattr(item.statutory_max, kind)
            where = (*at, "benchmarks", level, kind)
            if isinstance(bench, Multiple):
                low, high = (bench.multiple if isinstance(bench.multiple, tuple)
                             else (bench.multiple, bench.multiple))
                if low > high:
                    yield _problem(data, lines, where, f"item {item.code}: multiple {low} above "
                                   f"{high}")
                continue
            if bench[0] > bench[1]:
                yield _problem(data, lines, where, f"item {item.code}: benchmark minimum "
                               f"{_num(bench[0])} above its maximum {_num(bench[1])}")
            if not isinstance(cap, Multiple) and bench[1] > cap:
                yield _problem(data, lines, where, f"item {item.code}: benchmark maximum "
                               f"{_num(bench[1])} above the statutory maximum {_num(cap)}")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _problem(data: Any, lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...], message: str,
             value: Any = None) -> PackProblem:
    path = ""
    node = data
    code = None
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            path += f"[{part}]"
            node = node[part] if part < len(node) else None
            if isinstance(node, dict) and "code" in node and code is None and "items" in path:
                code = node.get("code")
        else:
            path += f".{part}" if path else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    line = None
    for cut in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:cut]))
        if line is not None:
            break
    label = f"{path} (item {code})" if code else path
    shown = f" (value {value!r})" if value is not None and not isinstance(value, (dict, list)) else ""
    return PackProblem(label, line, f"{message}{shown}")


def _line_index(root: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name: Any = key.value
                if isinstance(name, str) and name.isdigit() and path == ("calendar",):
                    name = int(name)
                walk(value, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                walk(value, (*path, index))

    if root is not None:
        walk(root, ())
    return lines


# -- catalogue import ----------------------------------------------------------------------
CATALOGUE_COLUMNS = (
    "code", "name", "team", "level", "legal_basis", "statutory_max_person",
    "statutory_max_organisation", "basis", *(f"{level}_{kind}" for level in DISCRETION_LEVELS
                                             for kind in ("person", "organisation")),
    "criminal_metric", "criminal_value", "criminal_crime", "criminal_repeat_penalties",
    "criminal_repeat_years", "long_limitation", "first_violation_exempt",
)


def delegations_from_csv(csv_path: Path) -> dict[str, list[str]]:
    """赋权清单 from a spreadsheet saved as CSV with the columns `division` (a division code
    or prefix: 330106001 a street, 330106 all of a district's streets) and `item_code`, one
    delegated item a row. Raises RulePackInvalid listing every bad row."""
    problems: list[PackProblem] = []
    delegations: dict[str, list[str]] = {}
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in ("division", "item_code") if c not in (reader.fieldnames or [])]
        if absent:
            raise RulePackInvalid(str(csv_path), [PackProblem("header", 1, f"missing column(s) "
                                                              f"{', '.join(absent)}")])
        for row_no, row in enumerate(reader, start=2):
            division = (row["division"] or "").strip()
            code = (row["item_code"] or "").strip()
            if not division.isdigit() or not 2 <= len(division) <= 12:
                problems.append(PackProblem(f"row {row_no}", row_no, f"column division: "
                                            f"{division!r} is not a division code or prefix"))
            elif not code:
                problems.append(PackProblem(f"row {row_no}", row_no, "column item_code is empty"))
            elif code not in delegations.setdefault(division, []):
                delegations[division].append(code)
    if problems:
        raise RulePackInvalid(str(csv_path), problems)
    return delegations


def catalogue_to_pack(csv_path: Path, *, effective_from: date, name: str,
                      delegations: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A pack (as data, ready for YAML) from a catalogue spreadsheet exported as CSV.

    Columns: see `CATALOGUE_COLUMNS`. Ranges are written `min-max` (e.g. `5000-50000`); when
    `basis` is `amount_involved` or `illegal_gains`, amounts and ranges are multiples of it.
    Raises RulePackInvalid listing every bad cell by row and column.
    """
    problems: list[PackProblem] = []
    items = []
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in CATALOGUE_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise RulePackInvalid(str(csv_path), [PackProblem("header", 1, f"missing column(s) "
                                                              f"{', '.join(absent)}")])
        for row_no, row in enumerate(reader, start=2):
            try:
                items.append(_catalogue_item(row))
            except ValueError as exc:
                problems.append(PackProblem(f"row {row_no} ({row.get('code') or '?'})", row_no,
                                            str(exc)))
    if problems:
        raise RulePackInvalid(str(csv_path), problems)
    version: dict[str, Any] = {"effective_from": effective_from.isoformat(),
                               "title": f"imported from {csv_path.name}", "items": items}
    if delegations:
        version["delegations"] = delegations
    pack = {"name": name, "versions": [version]}
    # Check the result exactly as a pack file would be checked.
    text = yaml.safe_dump(pack, allow_unicode=True, sort_keys=False)
    checked, found = _check_text(str(csv_path), text)
    if found:
        raise RulePackInvalid(str(csv_path), found)
    assert checked is not None
    return pack


def _catalogue_item(row: dict[str, str]) -> dict[str, Any]:
    basis = (row["basis"] or "yuan").strip()
    if basis not in ("yuan", "amount_involved", "illegal_gains"):
        raise ValueError(f"column basis: {basis!r} is not yuan, amount_involved or illegal_gains")
    if row["team"] not in TEAMS:
        raise ValueError(f"column team: {row['team']!r} is not one of {', '.join(TEAMS)}")

    def amount(column: str) -> Any:
        value = _number(row[column], column)
        return value if basis == "yuan" else {"basis": basis, "multiple": value}

    def span(column: str) -> Any:
        text = row[column].strip()
        low, sep, high = text.partition("-")
        if not sep:
            raise ValueError(f"column {column}: {text!r} is not a range min-max")
        pair = [_number(low, column), _number(high, column)]
        return pair if basis == "yuan" else {"basis": basis, "multiple": pair}

    threshold: Any = None
    if row["criminal_crime"].strip():
        if row["criminal_repeat_penalties"].strip():
            threshold = {"crime": row["criminal_crime"].strip(), "repeat": {
                "penalties": int(_number(row["criminal_repeat_penalties"], "criminal_repeat_penalties")),
                "within_years": int(_number(row["criminal_repeat_years"], "criminal_repeat_years"))}}
        else:
            threshold = {"crime": row["criminal_crime"].strip(),
                         "metric": row["criminal_metric"].strip(),
                         "value": _number(row["criminal_value"], "criminal_value")}
    return {
        "code": row["code"].strip(), "name": row["name"].strip(), "team": row["team"].strip(),
        "level": row["level"].strip(), "legal_basis": row["legal_basis"].strip(),
        "statutory_max": {"person": amount("statutory_max_person"),
                          "organisation": amount("statutory_max_organisation")},
        "benchmarks": {level: {"person": span(f"{level}_person"),
                               "organisation": span(f"{level}_organisation")}
                       for level in DISCRETION_LEVELS},
        "criminal_threshold": threshold,
        "long_limitation": _flag(row["long_limitation"], "long_limitation"),
        "first_violation_exempt": _flag(row["first_violation_exempt"], "first_violation_exempt"),
    }


def _number(text: str, column: str) -> float | int:
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        raise ValueError(f"column {column}: {text!r} is not a number") from None
    return int(value) if value.is_integer() else value


def _flag(text: str, column: str) -> bool:
    value = text.strip().lower()
    if value in ("", "0", "false", "no", "否", "n"):
        return False
    if value in ("1", "true", "yes", "是", "y"):
        return True
    raise ValueError(f"column {column}: {text!r} is not yes/no")
