"""The rule-pack commands: rules check, rules import-catalogue."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
import yaml

from casechain.application.rule_packs import (
    DEFAULT_PACK,
    RulePackInvalid,
    catalogue_to_pack,
    check_pack_file,
    delegations_from_csv,
    load_pack,
)
from casechain.bootstrap import (
    rules_path_from,
)
from casechain.entrypoints.cli.common import (
    JsonOption,
    _print_json,
    err,
    out,
    rules_app,
)
from casechain.errors import CaseChainError


# -- rules ---------------------------------------------------------------------------
@rules_app.command("check")
def rules_check(pack: Annotated[str | None, typer.Argument(
                    help="Rule pack YAML [default: CASECHAIN_RULES, else the bundled pack]")
                ] = None, as_json: JsonOption = False) -> None:
    """Check a rule pack; list every problem with its location; exit 1 if there is any."""
    pack = rules_path_from(pack) or DEFAULT_PACK
    try:
        problems = check_pack_file(pack)
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        _print_json({"pack": str(pack), "problems": [
            {"location": p.location, "line": p.line, "message": p.message} for p in problems]})
    else:
        for problem in problems:
            out.print(f"{pack}:{problem}", markup=False)
        if not problems:
            loaded = load_pack(pack)
            latest = loaded.versions[-1]
            out.print(f"{pack}: ok — {len(loaded.versions)} version(s), {len(latest.items)} "
                      f"item(s) in force from {latest.effective_from} (规则包校验通过)",
                      markup=False)
    if problems:
        raise typer.Exit(1)


@rules_app.command("stats")
def rules_stats(pack: Annotated[str | None, typer.Argument(
                    help="Rule pack YAML [default: CASECHAIN_RULES, else the bundled pack]")
                ] = None,
                on: Annotated[str | None, typer.Option(
                    "--on", help="The version in force on this date (default: the latest)")
                ] = None,
                as_json: JsonOption = False) -> None:
    """三张清单: the catalogue's items per team and level, and the counts of the three lists
    — comprehensive (综合执法), specialised (the other eight teams) and township (what a
    street may act on: street items and items delegated to streets)."""
    try:
        loaded = load_pack(rules_path_from(pack))
    except CaseChainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        err.print(f"[red]error:[/red] --on: {on!r} is not a date (e.g. 2025-09-01)")
        raise typer.Exit(2) from None
    version = loaded.in_force(day) if day else loaded.versions[-1]
    if version is None:
        err.print(f"[red]error:[/red] --on: no version of the pack is in force on {day}")
        raise typer.Exit(2)
    lists = version.lists()
    if as_json:
        _print_json(lists)
        return
    out.print(f"rule pack version of {lists['effective_from']}: {lists['items']} item(s)")
    out.print(f"{'队伍':8} {'市级':>6} {'区县级':>6} {'乡镇街道级':>8}", markup=False)
    for team, counts in lists["by_team"].items():
        out.print(f"{team:8} {counts['city']:>6} {counts['district']:>6} {counts['street']:>8}",
                  markup=False)
    out.print(f"综合执法事项 {lists['comprehensive']} · 专业执法事项 {lists['specialised']} · "
              f"乡镇（街道）可行使事项 {lists['township']}（其中赋权 {lists['delegated']}）",
              markup=False)


@rules_app.command("import-catalogue")
def rules_import_catalogue(
        catalogue: Annotated[Path, typer.Argument(help="Catalogue spreadsheet saved as CSV (UTF-8)",
                                                  exists=True, dir_okay=False)],
        output: Annotated[Path, typer.Option("-o", "--output", help="Pack YAML to write")
                          ] = Path("rules.yaml"),
        effective_from: Annotated[str, typer.Option("--effective-from")] = "2021-07-15",
        name: Annotated[str, typer.Option("--name")] = "imported catalogue",
        delegations: Annotated[Path | None, typer.Option(
            "--delegations", exists=True, dir_okay=False,
            help="赋权清单 CSV: columns division (code or prefix), item_code")] = None) -> None:
    """Turn a catalogue spreadsheet (CSV) into a rule pack YAML, with its delegation list
    (赋权清单) if given; report every bad cell."""
    try:
        given = delegations_from_csv(delegations) if delegations is not None else None
        pack = catalogue_to_pack(catalogue, effective_from=date.fromisoformat(effective_from),
                                 name=name, delegations=given)
    except RulePackInvalid as exc:
        for problem in exc.problems:
            out.print(f"{catalogue}:{problem}", markup=False)
        raise typer.Exit(1) from None
    output.write_text(yaml.safe_dump(pack, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    out.print(f"wrote {len(pack['versions'][0]['items'])} items to {output}")
