"""Rule packs as the commands use them: check a pack file and say every problem with its
location, build a pack from a catalogue, load the bundled one or another, with its work
calendar. The files are read by `casechain.adapters.rulepack_files`."""

from __future__ import annotations

from casechain.adapters.rulepack_files import (
    DEFAULT_PACK,
    RulePackInvalid,
    calendar_of,
    catalogue_to_pack,
    check_pack_file,
    delegations_from_csv,
    load_pack,
)

__all__ = ["DEFAULT_PACK", "RulePackInvalid", "calendar_of", "catalogue_to_pack",
           "check_pack_file", "delegations_from_csv", "load_pack"]
