"""Replays, what-ifs and simulated logs: replay, simulate."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import orjson
import typer

from casechain.application.rule_packs import (
    DEFAULT_PACK,
    load_pack,
)
from casechain.bootstrap import replay_compare, replay_log, rules_path_from
from casechain.entrypoints.cli.common import (
    AsOfOption,
    JsonOption,
    RulesOption,
    _failing,
    _instant,
    _print_json,
    app,
    out,
)


# -- replay ---------------------------------------------------------------------------
@app.command()
def replay(log_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
           rules: RulesOption = None, as_of: AsOfOption = None,
           compare: Annotated[str | None, typer.Option(
               "--compare", help="OLD_PACK: what-if — what changes from OLD_PACK to --rules")
                              ] = None,
           as_json: JsonOption = False) -> None:
    """Load LOG into a throw-away store (never your database), rebuild every view; print the
    per-view counts, the alerts and the projection digest. With --compare OLD_PACK: which
    events would be rejected and which alerts appear or disappear under --rules, per case."""
    moment = _instant(as_of)
    with _failing():
        if compare is not None:
            diff = replay_compare(log_file, rules or DEFAULT_PACK, compare, moment)
            if as_json:
                _print_json(diff)
                return
            for case_id, change in diff["cases"].items():
                out.print(f"案件 {case_id}", markup=False)
                for r in change["newly_rejected"]:
                    out.print(f"  + rejected line {r['line']}: {', '.join(r['codes'])}",
                              markup=False)
                for r in change["no_longer_rejected"]:
                    out.print(f"  - no longer rejected line {r['line']}: {', '.join(r['codes'])}",
                              markup=False)
                for a in change["alerts_appear"]:
                    out.print(f"  + alert {a['code']} {a['severity']} due {a['due_at']}",
                              markup=False)
                for a in change["alerts_disappear"]:
                    out.print(f"  - alert {a['code']} {a['severity']} due {a['due_at']}",
                              markup=False)
            out.print(f"{len(diff['cases'])} case(s) change from {compare} to "
                      f"{rules or 'the bundled pack'} as of {diff['as_of']}")
            return
        result = replay_log(log_file, rules, moment)
    if as_json:
        _print_json(result.as_dict())
        return
    out.print(f"{result.events} lines: {result.appended} appended, {len(result.rejected)} "
              f"rejected; digest {result.digest} at position {result.position}", markup=False)
    for name, count in sorted(result.views.items()):
        out.print(f"  {name:36} {count:>9} rows", markup=False)
    out.print(f"{len(result.alerts)} alert(s) as of {result.as_of}")


# -- simulate -----------------------------------------------------------------------
@app.command()
def simulate(cases: Annotated[int, typer.Option("--cases", min=1)] = 100,
             seed: Annotated[int, typer.Option("--seed")] = 1,
             start: Annotated[str, typer.Option("--start", help="First filing date")] = "2025-01-02",
             months: Annotated[int, typer.Option("--months", min=1, max=120,
                                                 help="Months the filings spread over")] = 12,
             district: Annotated[str | None, typer.Option(
                 "--district", help="One district's cases only, e.g. 330106")] = None,
             rules: RulesOption = None,
             output: Annotated[Path, typer.Option("-o", "--output")] = Path("simulated.jsonl")
             ) -> None:
    """Write a realistic synthetic log (nine teams, supervision and approval, hearings,
    referrals, late payments …), valid under the rule pack and deterministic for a seed."""
    from casechain.application.rule_packs import calendar_of
    from casechain.application.simulation import simulate as simulated

    with _failing():
        pack = load_pack(rules_path_from(rules))
        first = date.fromisoformat(start)
        count = 0
        with output.open("wb") as handle:
            for envelope in simulated(cases, seed, first, months, pack, calendar_of(pack),
                                      district):
                handle.write(orjson.dumps(envelope) + b"\n")
                count += 1
    out.print(f"wrote {count} events of {cases} cases to {output}")
