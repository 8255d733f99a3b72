"""The access log (查阅留痕): every read of a case's audit trail, itself tamper-evident.

Each entry records who read (principal, roles), what (the action and the case or range),
when (UTC) and how (the endpoint); entries are numbered without gaps and chained like the
case log: `hash = SHA-256(prev_hash || RFC 8785 JSON of the entry)`. `verify` recomputes
the chain and names the first entry that was edited, removed or inserted. The chain's head
can be compared with a copy taken earlier (an auditor's note) to catch a rewritten tail.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from casechain.adapters.storage import CaseChainRecorder, map_db_errors
from casechain.domain.access import Principal
from casechain.domain.hashing import canonical_json

__all__ = ["GENESIS", "AccessLog", "AccessProblem"]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AccessProblem:
    """The first entry where the chain breaks, and how."""

    seq: int
    kind: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


class AccessLog:
    """The hash-chained access log of one store."""

    def __init__(self, store: CaseChainRecorder) -> None:
        self.store = store
        self.metadata = sa.MetaData()
        self.table = sa.Table(
            "casechain_access_log", self.metadata,
            sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                      primary_key=True, autoincrement=False),
            sa.Column("at", sa.String(40), nullable=False),
            sa.Column("principal", sa.String(128), nullable=False),
            sa.Column("roles", sa.String(128), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("resource", sa.String(256), nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
        )
        #: A case's reads, newest first, without scanning the log (older stores get it too).
        self.by_resource = sa.Index("casechain_access_log_resource", self.table.c.resource,
                                    self.table.c.seq)
        with map_db_errors(), store.engine.begin() as conn:
            self.metadata.create_all(conn, checkfirst=True)
            self.by_resource.create(conn, checkfirst=True)
        #: The last entry this log wrote or read (PostgreSQL), and one append at a time.
        self._head: tuple[int, str] | None = None
        self._appending = threading.Lock()

    def record(self, principal: Principal, action: str, resource: str,
               at: datetime | None = None) -> dict[str, Any]:
        """Append one entry, numbered after the last. On PostgreSQL one INSERT committed on
        its own — on a request's connection (`one_connection`), one round trip — numbered
        after the head this log last wrote or read: if another process wrote meanwhile, the
        number is taken (the key refuses it), the head is read again and the entry numbered
        after it. On SQLite under the database's write lock."""
        entry = {"at": (at or datetime.now(UTC)).isoformat(), "principal": principal.id,
                 "roles": ",".join(principal.roles), "action": action, "resource": resource}
        if not self.store.is_postgres:
            with self.store.transaction() as conn:  # BEGIN IMMEDIATE: the write lock first
                row = _numbered(self._head_in(conn), entry)
                conn.execute(self.table.insert(), row)
            return row
        with self._appending:
            while True:
                with self.store.autocommit() as conn:
                    head = self._head or self._head_in(conn)
                    row = _numbered(head, entry)
                    try:
                        conn.execute(self.table.insert(), row)
                    except sa.exc.IntegrityError:
                        if self._head_in(conn)[0] < row["seq"]:
                            raise  # not the number: the row itself was refused
                        self._head = None
                        continue
                self._head = (row["seq"], row["hash"])
                return row

    def entries(self, case_id: str | None = None, limit: int = 1000,
                before: int | None = None) -> list[dict[str, Any]]:
        """The latest entries numbered below `before` (all, if None), newest first (those
        about one case, if given)."""
        query = sa.select(self.table).order_by(self.table.c.seq.desc()).limit(limit)
        if case_id is not None:
            query = query.where(self.table.c.resource == case_id)
        if before is not None:
            query = query.where(self.table.c.seq < before)
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def count(self, case_id: str | None = None) -> int:
        """How many entries the log holds (about one case, if given)."""
        query = sa.select(sa.func.count()).select_from(self.table)
        if case_id is not None:
            query = query.where(self.table.c.resource == case_id)
        with self.store.read() as conn:
            return int(conn.execute(query).scalar_one())

    def counts_by_resource(self, case_id: str | None = None) -> dict[str, int]:
        """How many entries each resource (a case, mostly) has (one case's, if given)."""
        query = sa.select(self.table.c.resource, sa.func.count()).group_by(self.table.c.resource)
        if case_id is not None:
            query = query.where(self.table.c.resource == case_id)
        with self.store.read() as conn:
            return {str(resource): int(n) for resource, n in conn.execute(query)}

    def head(self) -> tuple[int, str]:
        """The number of entries and the hash of the last (64 zeros when empty)."""
        with self.store.read() as conn:
            return self._head_in(conn)

    def _head_in(self, conn: sa.Connection) -> tuple[int, str]:
        row = conn.execute(sa.select(self.table.c.seq, self.table.c.hash)
                           .order_by(self.table.c.seq.desc()).limit(1)).first()
        return (int(row.seq), str(row.hash)) if row else (0, GENESIS)

    def hashes_at(self, seqs: set[int]) -> dict[int, str]:
        """The stored hash of each of these entries that exists."""
        if not seqs:
            return {}
        with self.store.read() as conn:
            rows = conn.execute(sa.select(self.table.c.seq, self.table.c.hash)
                                .where(self.table.c.seq.in_(sorted(seqs)))).all()
        return {int(row.seq): str(row.hash) for row in rows}

    def verify(self) -> tuple[int, str, AccessProblem | None]:
        """Recompute the chain: (entries, head hash, the first problem or None)."""
        prev, expected = GENESIS, 1
        with self.store.read() as conn:
            for row in conn.execute(sa.select(self.table).order_by(self.table.c.seq)):
                if row.seq != expected:
                    return expected - 1, prev, AccessProblem(
                        expected, "missing", f"entry {expected} is missing (next is {row.seq})")
                if row.prev_hash != prev:
                    return expected - 1, prev, AccessProblem(
                        row.seq, "chain", f"entry {row.seq} does not follow entry {row.seq - 1}")
                entry = {k: getattr(row, k) for k in ("at", "principal", "roles", "action",
                                                      "resource")}
                if entry_hash(prev, row.seq, entry) != row.hash:
                    return expected - 1, prev, AccessProblem(
                        row.seq, "content", f"entry {row.seq} was altered after it was written")
                prev, expected = row.hash, expected + 1
        return expected - 1, prev, None

def _numbered(head: tuple[int, str], entry: dict[str, Any]) -> dict[str, Any]:
    """The row of `entry` chained after `head` (its number and hash)."""
    seq, prev = head[0] + 1, head[1]
    return {"seq": seq, **entry, "prev_hash": prev, "hash": entry_hash(prev, seq, entry)}


def entry_hash(prev_hash: str, seq: int, entry: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the numbered entry."""
    body = canonical_json({"seq": seq, **entry})
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()
