"""CaseChain: the full, traceable, tamper-proof record of administrative enforcement cases.

The public face of the package, for services and tests that use CaseChain from Python
(the command line `casechain`, the HTTP API and the pytest plugin `casechain.testing` are the
other faces):

    from casechain import open_case_log, open_projections, alerts_as_of

    case_log = open_case_log("sqlite:///casechain.db")      # the bundled rule pack
    outcomes = list(case_log.append_many(envelopes))        # appended / duplicate / rejected
    runner = open_projections(case_log)
    alerts = alerts_as_of(runner, instant("2025-12-31T18:00:00"))

Names are loaded when first used, so `import casechain` stays cheap. Replays and what-if
comparisons are `casechain.application.replay.replay` and `casechain.application.replay.compare`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casechain.application.case_log import AppendOutcome, CaseLog, CaseNotFound
    from casechain.application.queries import (
        alerts_as_of,
        case_view,
        cross_case_as_of,
        deadlines_as_of,
    )
    from casechain.bootstrap import open_case_log, open_projections, verify_projections
    from casechain.domain.calendar import instant
    from casechain.domain.envelope import Envelope, parse_envelope
    from casechain.errors import (
        CaseChainError,
        ConfigurationError,
        EventRejected,
        Rejection,
        StoreConflict,
        StoreError,
        StoreUnavailable,
    )

__all__ = [
    "AppendOutcome",
    "CaseChainError",
    "CaseLog",
    "CaseNotFound",
    "ConfigurationError",
    "Envelope",
    "EventRejected",
    "Rejection",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "alerts_as_of",
    "case_view",
    "cross_case_as_of",
    "deadlines_as_of",
    "instant",
    "open_case_log",
    "open_projections",
    "parse_envelope",
    "verify_projections",
]

_WHERE = {
    "AppendOutcome": "casechain.application.case_log", "CaseLog": "casechain.application.case_log",
    "CaseNotFound": "casechain.application.case_log",
    "CaseChainError": "casechain.errors", "ConfigurationError": "casechain.errors",
    "EventRejected": "casechain.errors", "Rejection": "casechain.errors",
    "StoreConflict": "casechain.errors", "StoreError": "casechain.errors",
    "StoreUnavailable": "casechain.errors",
    "Envelope": "casechain.domain.envelope", "parse_envelope": "casechain.domain.envelope",
    "instant": "casechain.domain.calendar",
    "alerts_as_of": "casechain.application.queries", "case_view": "casechain.application.queries",
    "cross_case_as_of": "casechain.application.queries",
    "deadlines_as_of": "casechain.application.queries",
    "open_case_log": "casechain.bootstrap", "open_projections": "casechain.bootstrap",
    "verify_projections": "casechain.bootstrap",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'casechain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
