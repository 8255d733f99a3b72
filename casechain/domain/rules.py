"""The rule-book interface: what the engine asks before it appends an event.

The law itself (lifecycle, rule pack, deadlines) plugs in here; the case log only needs
something that, given the case so far and the new envelope, lists the broken rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from casechain.domain.case import CaseFile
from casechain.domain.envelope import Envelope
from casechain.errors import Rejection

__all__ = ["NoRules", "RuleBook"]


class RuleBook(Protocol):
    """Checks one envelope against the case so far; returns every broken rule."""

    def check(self, case: CaseFile, envelope: Envelope,
              related: Mapping[str, CaseFile] | None = None) -> list[Rejection]:
        """The rejections for appending `envelope` to `case` (empty: allowed); `related`:
        the other streams a rule reads (the devices whose captures the case rests on)."""
        ...


class NoRules:
    """A rule book that allows every well-formed event (schema checks still apply)."""

    def check(self, case: CaseFile, envelope: Envelope,
              related: Mapping[str, CaseFile] | None = None) -> list[Rejection]:
        """Nothing is broken."""
        return []
