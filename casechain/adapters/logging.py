"""Logging with structlog: JSON lines in production, readable lines on a terminal.

`CASECHAIN_LOG_FORMAT` = `json` | `console` | `auto` (default: console when stderr is a
terminal, JSON otherwise); `CASECHAIN_LOG_LEVEL` = `debug` | `info` (default) | `warning` | ...
Logs go to stderr so that stdout stays the command's output (an export, a JSON listing).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import orjson
import structlog

from casechain.errors import ConfigurationError

__all__ = ["configure_logging"]

_FORMATS = ("auto", "json", "console")


def _dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(fmt: str | None = None, level: str | None = None) -> None:
    """Configure structlog once for the process; fails on an unknown format or level."""
    fmt = (fmt or os.environ.get("CASECHAIN_LOG_FORMAT") or "auto").lower()
    level_name = (level or os.environ.get("CASECHAIN_LOG_LEVEL") or "info").upper()
    if fmt not in _FORMATS:
        raise ConfigurationError(f"log format {fmt!r} is not one of {', '.join(_FORMATS)} "
                                 "(CASECHAIN_LOG_FORMAT)")
    level_no = logging.getLevelNamesMapping().get(level_name)
    if level_no is None:
        raise ConfigurationError(f"log level {level_name!r} is not a logging level "
                                 "(CASECHAIN_LOG_LEVEL)")
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (structlog.processors.JSONRenderer(serializer=_dumps) if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_: object) -> structlog.PrintLogger:
    """A logger on the stderr of the moment (not the one of when logging was configured), so
    a worker thread keeps logging after the stream is swapped (a test's capture, a daemon)."""
    return structlog.PrintLogger(sys.stderr)
