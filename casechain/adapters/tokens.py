"""Bearer tokens from a file (令牌): opaque random strings, stored only as their SHA-256.

The token file (YAML) lists, per token, its hash, principal id, roles, jurisdiction scope
and expiry; it holds no secret, yet it belongs beside the deployment, never in the
repository. `casechain tokens issue` adds an entry and prints the token once. The file is
read again when it changes, so revoking a token is deleting its entry.

    tokens:
      - sha256: 9f86d08…
        principal: officer-0001
        roles: [officer]
        scope: "330106"
        expires_at: "2027-01-01T00:00:00+08:00"
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
import yaml

from casechain.domain.access import ROLES, Principal
from casechain.errors import ConfigurationError, TokenInvalid

__all__ = ["TokenFile", "TokenInvalid", "issue_token", "token_hash"]

PREFIX = "cc_"
_SCOPE = re.compile(r"(?:[1-9][0-9]{0,11})?")
log = structlog.get_logger("casechain.tokens")


def token_hash(token: str) -> str:
    """The hex SHA-256 under which a token is filed."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenFile:
    """The principals of a token file, re-read when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, Principal] = {}
        #: Why each refused entry of the last reading was refused (one line each).
        self.refused: list[str] = []
        self._load()

    def principal(self, token: str | None, now: datetime | None = None) -> Principal:
        """The principal of a bearer token; `TokenInvalid` if missing, unknown or expired."""
        if not token:
            raise TokenInvalid("no bearer token (Authorization: Bearer …) was sent")
        self._load()
        digest = token_hash(token)  # a lookup by hash: the stored value is no secret
        found = self._by_hash.get(digest)
        if found is None:
            raise TokenInvalid("the bearer token is not known (revoked or mistyped)")
        if found.expires_at is not None and found.expires_at <= (now or datetime.now(UTC)):
            raise TokenInvalid(f"the bearer token of {found.id} expired at "
                               f"{found.expires_at.isoformat()}")
        return found

    def _load(self) -> None:
        """Read the file again if it changed. A file that cannot be read at all fails the
        first load (ConfigurationError); later, the last good reading stays in force and the
        problem is logged. An entry with a problem is refused alone, with a log line naming
        it; the other entries keep working."""
        try:
            stat = self.path.stat()
        except OSError as exc:
            self._keep_or_raise(f"token file {self.path}: cannot be read ({exc})")
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                self._by_hash, refused = _parse(self.path)
            except ConfigurationError as exc:
                self._stamp = stamp
                self._keep_or_raise(str(exc))
                return
            self._stamp = stamp
            self.refused = refused
        for problem in refused:
            log.error("tokens.entry_refused", problem=problem)

    def _keep_or_raise(self, problem: str) -> None:
        if self._stamp is None:
            raise ConfigurationError(problem)
        log.error("tokens.unreadable", problem=problem,
                  kept=f"the {len(self._by_hash)} tokens of the last good reading stay in force")


def _parse(path: Path) -> tuple[dict[str, Principal], list[str]]:
    """The principals of the file by token hash, and a line per refused entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"token file {path}: not readable YAML ({exc})") from exc
    entries = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"token file {path}: expected a mapping with a list 'tokens:'")
    out: dict[str, Principal] = {}
    refused: list[str] = []
    for n, entry in enumerate(entries, start=1):
        try:
            if not isinstance(entry, dict):
                raise ConfigurationError(f"token file {path}: entry {n}: not a mapping")
            out[_field(path, n, entry, "sha256")] = _principal(path, n, entry)
        except ConfigurationError as exc:
            refused.append(f"{exc}; this entry is refused, the others stay in force")
    return out, refused


def _principal(path: Path, n: int, entry: dict[str, Any]) -> Principal:
    given = entry.get("roles")
    roles = tuple(given) if isinstance(given, list) else ()
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ConfigurationError(f"token file {path}: entry {n}: roles {given!r} must be a "
                                 f"list of some of {', '.join(ROLES)}")
    scope = entry.get("scope", "")
    if isinstance(scope, int) and not isinstance(scope, bool):
        scope = str(scope)  # YAML reads an unquoted 330106 as a number
    if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
        raise ConfigurationError(f"token file {path}: entry {n}: scope {scope!r} is not a "
                                 "division-code prefix (ASCII digits, not starting with 0; "
                                 "'' for every division)")
    expires = entry.get("expires_at")
    try:
        expires_at = datetime.fromisoformat(str(expires)) if expires else None
    except ValueError as exc:
        raise ConfigurationError(f"token file {path}: entry {n}: expires_at {expires!r} is not "
                                 "an ISO 8601 instant") from exc
    if expires_at is not None and expires_at.tzinfo is None:
        raise ConfigurationError(f"token file {path}: entry {n}: expires_at {expires!r} has no "
                                 "UTC offset")
    return Principal(id=_field(path, n, entry, "principal"), roles=roles, scope=scope,
                     expires_at=expires_at)


def _field(path: Path, n: int, entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if not value:
        raise ConfigurationError(f"token file {path}: entry {n}: {name} is missing")
    return str(value)


def issue_token(path: str | Path, principal: str, roles: list[str], scope: str,
                expires_at: datetime | None) -> str:
    """Add a new token for a principal to the file (created 0600 if absent); return it."""
    target = Path(path)
    _principal(target, 0, {"principal": principal, "roles": roles, "scope": scope,
                           "expires_at": expires_at.isoformat() if expires_at else None})
    token = PREFIX + secrets.token_urlsafe(32)
    data: dict[str, Any] = {"tokens": []}
    if target.exists():
        data = yaml.safe_load(target.read_text(encoding="utf-8")) or {"tokens": []}
        data.setdefault("tokens", [])
    entry: dict[str, Any] = {"sha256": token_hash(token), "principal": principal,
                             "roles": list(roles), "scope": scope}
    if expires_at is not None:
        entry["expires_at"] = expires_at.isoformat()
    data["tokens"].append(entry)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return token
