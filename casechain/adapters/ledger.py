"""The ledger: the RFC 9162 tree over the stored log, signed checkpoints, verification.

The tree is derived data. Its nodes of height 8 and up (subtrees of 256 events and more) are
kept in `casechain_merkle_nodes`, and the leaf hashes of each complete chunk of 256 events in
one row of `casechain_merkle_chunks`, written by `Ledger.catch_up` a page at a time in one
transaction with the ledger's tracked position; lower nodes are recomputed from a chunk's
leaves. So a proof reads about 20 rows, appending never rehashes history, and `verify` can
name the exact event whose leaf no longer matches the one recorded.

What makes the tree evidence is the checkpoint: tree size and root signed with Ed25519 and
held outside the database by a witness. `verify` recomputes every case chain and the whole
tree from the events themselves and compares with the stored nodes, every stored checkpoint,
and optionally a checkpoint held outside (`--against`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import Tracking

from casechain.adapters.access_log import AccessLog
from casechain.adapters.storage import CaseChainRecorder, map_db_errors
from casechain.batching import bulk_gc, read_ahead
from casechain.domain import merkle
from casechain.domain.hashing import GENESIS_HASH, canonical_json, record_hash
from casechain.errors import CaseChainError

__all__ = [
    "CHUNK_HEIGHT",
    "AutoCheckpoint",
    "Checkpoint",
    "Ledger",
    "Problem",
    "SigningKeyError",
    "Verification",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_from_pem",
    "public_pem",
]

CHUNK_HEIGHT = 8
CHUNK = 1 << CHUNK_HEIGHT
CHECKPOINT_FORMAT = "casechain-checkpoint/1"
log = structlog.get_logger("casechain.ledger")
_TRACKING = "ledger"
_PAGE = 4096
_TAIL = 96  # bytes read from the end of a stored state: `"hash":"<64 hex>"}}` fits


class SigningKeyError(CaseChainError):
    """A signing or public key that cannot be read."""


# -- keys -----------------------------------------------------------------------------------
def generate_key(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """A new Ed25519 key: the private key as PKCS#8 PEM (mode 0600), the public as PEM."""
    if private_path.exists():
        raise SigningKeyError(f"{private_path} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_path.touch(mode=0o600)
    private_path.write_bytes(pem)
    public_path.write_bytes(public_pem(key.public_key()))
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM."""
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (or a private key's PEM: its public half)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the public key {path}: {exc}") from exc
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    return public_key_from_pem(data, str(path))


def public_key_from_pem(data: bytes, name: str = "the key") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningKeyError(f"{name} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{name} is not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """The first 8 bytes (hex) of SHA-256 of the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- checkpoints ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log of `origin` had `tree_size` events with this root."""

    origin: str
    tree_size: int
    root_hash: str
    issued_at: str
    key_id: str
    signature: str = ""
    #: The access log's length and head hash when the checkpoint was made (checkpoints
    #: made before the access log was signed have neither).
    access_size: int | None = None
    access_head: str | None = None

    def body(self) -> dict[str, Any]:
        """The signed fields."""
        body: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "origin": self.origin,
                                "tree_size": self.tree_size, "root_hash": self.root_hash,
                                "issued_at": self.issued_at, "key_id": self.key_id}
        if self.access_size is not None:
            body["access_log"] = {"size": self.access_size, "head": self.access_head}
        return body

    def message(self) -> bytes:
        """The bytes signed: RFC 8785 canonical JSON of `body()`."""
        return canonical_json(self.body())

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint as exported for a witness."""
        return {**self.body(), "signature": self.signature}

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        """This checkpoint with its Ed25519 signature."""
        signature = base64.b64encode(key.sign(self.message())).decode()
        return Checkpoint(self.origin, self.tree_size, self.root_hash, self.issued_at,
                          self.key_id, signature, self.access_size, self.access_head)

    def signature_valid(self, key: Ed25519PublicKey) -> bool:
        """True when `key` signed exactly these fields."""
        try:
            key.verify(base64.b64decode(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """A checkpoint read back from its JSON form."""
        if data.get("format") != CHECKPOINT_FORMAT:
            raise CaseChainError(f"field format is {data.get('format')!r}, expected "
                                 f"{CHECKPOINT_FORMAT!r}: not a CaseChain checkpoint")
        access = data.get("access_log")
        try:
            return cls(str(data["origin"]), int(data["tree_size"]), str(data["root_hash"]),
                       str(data["issued_at"]), str(data["key_id"]), str(data["signature"]),
                       int(access["size"]) if isinstance(access, dict) else None,
                       str(access["head"]) if isinstance(access, dict) else None)
        except KeyError as exc:
            raise CaseChainError(f"checkpoint field {exc.args[0]} is missing") from None


# -- verification results -----------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing `verify` found wrong, located as precisely as it can be."""

    what: str
    detail: str
    position: int | None = None
    case_id: str | None = None
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"what": self.what, "detail": self.detail, "position": self.position,
                "case_id": self.case_id, "seq": self.seq}


@dataclass
class Verification:
    """What `verify` checked and found."""

    events: int = 0
    cases: int = 0
    tree_size: int = 0
    root_hash: str = ""
    checkpoints_checked: int = 0
    signatures_checked: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, the first problem first."""
        first = self.problems[0].as_dict() if self.problems else None
        return {"intact": self.intact, "events": self.events, "cases": self.cases,
                "tree_size": self.tree_size, "root_hash": self.root_hash,
                "checkpoints_checked": self.checkpoints_checked,
                "signatures_checked": self.signatures_checked, "first_problem": first,
                "problems": [p.as_dict() for p in self.problems]}


# -- the ledger -----------------------------------------------------------------------------
class LedgerTables:
    """The ledger's tables: the tree's stored nodes, the chunks of 256 leaf hashes, the
    signed checkpoints and the access-log head each one signed."""

    def __init__(self) -> None:
        self.metadata = sa.MetaData()
        self.nodes = sa.Table(
            "casechain_merkle_nodes", self.metadata,
            sa.Column("height", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("idx", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                      primary_key=True, autoincrement=False),
            sa.Column("hash", sa.LargeBinary(), nullable=False),
        )
        self.chunks = sa.Table(
            "casechain_merkle_chunks", self.metadata,
            sa.Column("idx", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                      primary_key=True, autoincrement=False),
            sa.Column("leaves", sa.LargeBinary(), nullable=False),
        )
        self.checkpoints = sa.Table(
            "casechain_checkpoints", self.metadata,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("tree_size", sa.BigInteger(), nullable=False),
            sa.Column("root_hash", sa.String(64), nullable=False),
            sa.Column("issued_at", sa.String(40), nullable=False),
            sa.Column("origin", sa.String(128), nullable=False),
            sa.Column("key_id", sa.String(16), nullable=False),
            sa.Column("signature", sa.Text(), nullable=False),
        )
        # The access log's head each checkpoint signed (a table of its own: stores made
        # before it keep their checkpoints table as it was).
        self.checkpoint_access = sa.Table(
            "casechain_checkpoint_access", self.metadata,
            sa.Column("checkpoint_id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("head", sa.String(64), nullable=False),
        )


class Ledger:
    """The tree and the checkpoints of one store."""

    def __init__(self, store: CaseChainRecorder, origin: str = "casechain") -> None:
        self.store = store
        self.origin = origin
        tables = LedgerTables()
        self.nodes, self.chunks = tables.nodes, tables.chunks
        self.checkpoints, self.checkpoint_access = tables.checkpoints, tables.checkpoint_access
        with map_db_errors(), store.engine.begin() as conn:
            tables.metadata.create_all(conn, checkfirst=True)
        self.access_log = AccessLog(store)

    # -- keeping the tree ---------------------------------------------------------------
    def covered(self) -> int:
        """Leaves whose chunks are stored (a multiple of 256)."""
        return self.store.max_tracking_id(_TRACKING) or 0

    def size(self) -> int:
        """Leaves in the log (the head position)."""
        return self.store.max_notification_id() or 0

    def catch_up(self, on_page: Callable[[int], None] | None = None) -> int:
        """Store the nodes of every complete chunk of 256 events not stored yet; events added."""
        done = self.covered()
        with self.store.read() as conn:
            perfect = self._perfect(conn, done)
            # A frontier whose leaves are the chunks' roots: heights counted from 8.
            chunks = merkle.Frontier.of(done // CHUNK,
                                        lambda lo, hi: perfect(lo * CHUNK, hi * CHUNK))
        added = 0
        while True:
            leaves = self._leaf_hashes(done, done + _PAGE - _PAGE % CHUNK)
            complete = len(leaves) - len(leaves) % CHUNK
            if complete == 0:
                return added
            rows = []
            for at in range(0, complete, CHUNK):
                rows += [{"height": h + CHUNK_HEIGHT, "idx": i, "hash": node} for h, i, node
                         in chunks.append(_small_root(leaves[at:at + CHUNK]))]
            blobs = [{"idx": (done + at) // CHUNK, "leaves": b"".join(leaves[at:at + CHUNK])}
                     for at in range(0, complete, CHUNK)]
            with self._write() as conn:
                conn.execute(self.nodes.insert(), rows)
                self._record_leaves(conn, blobs)
                self.store.track_in(conn, Tracking(_TRACKING, done + complete))
            done += complete
            added += complete
            if on_page:
                on_page(complete)

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction (on SQLite, BEGIN IMMEDIATE)."""
        with map_db_errors(), self.store.engine.connect() as conn:
            conn = conn.execution_options(casechain_write=True)
            with conn.begin():
                yield conn

    def _record_leaves(self, conn: sa.Connection, blobs: list[dict[str, Any]]) -> None:
        """Store chunks' leaf hashes, replacing a partial chunk recorded by a checkpoint."""
        conn.execute(self.chunks.delete().where(self.chunks.c.idx.in_([b["idx"] for b in blobs])))
        conn.execute(self.chunks.insert(), blobs)

    def _leaf_hashes(self, start: int, stop: int) -> list[bytes]:
        """Leaf hashes of positions start+1 … stop (those that exist, in order).

        The record's `hash` is written last in a stored state, so only the state's last bytes
        are read (through the driver's cursor); a state where it is not found there is read
        whole."""
        tails = self.store.select_raw(
            f"substr(state, length(state) - {_TAIL - 1}, {_TAIL})", start, stop=stop)
        sha256, prefix, marker, unhex = hashlib.sha256, b"\x00", b'"hash":"', binascii.unhexlify
        leaves = []
        for position, end in tails:
            at = end.rfind(marker)
            if at < 0 or len(end) - at < len(marker) + 64:
                digest = self._hash_at(position)
            else:
                digest = end[at + len(marker):at + len(marker) + 64]
            leaves.append(sha256(prefix + unhex(digest)).digest())
        return leaves

    def _hash_at(self, position: int) -> bytes:
        ((_, state),) = self.store.select_states(position - 1, 1)
        return str(orjson.loads(state)["record"]["hash"]).encode()

    def _chunk(self, conn: sa.Connection, base: int, covered: int) -> list[bytes]:
        """The leaf hashes of the chunk starting at leaf `base`: stored, or from the events."""
        if base + CHUNK <= covered:
            row = conn.execute(sa.select(self.chunks.c.leaves).where(
                self.chunks.c.idx == base // CHUNK)).first()
            if row is not None and len(row.leaves) == 32 * CHUNK:
                blob = bytes(row.leaves)
                return [blob[i:i + 32] for i in range(0, len(blob), 32)]
        return self._leaf_hashes(base, base + CHUNK)

    def _perfect(self, conn: sa.Connection, covered: int) -> merkle.Subtrees:
        """Subtree hashes: stored nodes where there are, events for the rest."""
        cache: dict[tuple[int, int], bytes] = {}
        chunks: dict[int, list[bytes]] = {}

        def perfect(lo: int, hi: int) -> bytes:
            height = (hi - lo).bit_length() - 1
            key = (height, lo >> height)
            if key in cache:
                return cache[key]
            if height >= CHUNK_HEIGHT and hi <= covered:
                row = conn.execute(sa.select(self.nodes.c.hash).where(
                    self.nodes.c.height == height, self.nodes.c.idx == lo >> height)).first()
                if row is not None:
                    cache[key] = bytes(row.hash)
                    return cache[key]
            if height > CHUNK_HEIGHT or (height == CHUNK_HEIGHT and hi > covered):
                mid = (lo + hi) // 2
                cache[key] = merkle.node_hash(perfect(lo, mid), perfect(mid, hi))
                return cache[key]
            base = lo - lo % CHUNK
            if base not in chunks:
                chunks[base] = self._chunk(conn, base, covered)
            leaves = chunks[base][lo - base:hi - base]
            if len(leaves) != hi - lo:
                raise CaseChainError(f"the log has no events at positions {lo + 1}…{hi}")
            cache[key] = _small_root(leaves)
            return cache[key]

        return perfect

    # -- roots and proofs ---------------------------------------------------------------
    def root(self, size: int | None = None) -> tuple[int, bytes]:
        """(size, root) of the tree of the first `size` events (default: all)."""
        size = self.size() if size is None else size
        with self.store.read() as conn:
            return size, merkle.root(size, self._perfect(conn, self.covered()))

    def inclusion(self, position: int, size: int) -> list[bytes]:
        """The audit path of the event at `position` in the tree of `size` events."""
        with self.store.read() as conn:
            return merkle.inclusion_proof(position - 1, size, self._perfect(conn, self.covered()))

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """The consistency proof between two tree sizes."""
        with self.store.read() as conn:
            return merkle.consistency_proof(old_size, new_size,
                                            self._perfect(conn, self.covered()))

    # -- checkpoints --------------------------------------------------------------------
    def checkpoint(self, key: Ed25519PrivateKey, now: datetime | None = None) -> Checkpoint:
        """Catch up, sign the current size and root, store the checkpoint."""
        self.catch_up()
        size, root = self.root()
        issued = (now or datetime.now(UTC)).isoformat()
        access_size, access_head = self.access_log.head()
        checkpoint = Checkpoint(self.origin, size, root.hex(), issued, key_id(key.public_key()),
                                access_size=access_size, access_head=access_head).signed(key)
        base = size - size % CHUNK
        tail = self._leaf_hashes(base, size)  # the leaves of the partial chunk, recorded too
        with self._write() as conn:
            if tail:
                self._record_leaves(conn, [{"idx": base // CHUNK, "leaves": b"".join(tail)}])
            made = conn.execute(self.checkpoints.insert().values(
                tree_size=size, root_hash=checkpoint.root_hash, issued_at=issued,
                origin=self.origin, key_id=checkpoint.key_id, signature=checkpoint.signature))
            made_key = made.inserted_primary_key
            assert made_key is not None
            conn.execute(self.checkpoint_access.insert().values(
                checkpoint_id=made_key[0], size=access_size, head=access_head))
        return checkpoint

    def stored_checkpoints(self, tree_sizes: Collection[int] | None = None) -> list[Checkpoint]:
        """Every stored checkpoint (of these tree sizes only, when given), oldest first."""
        return [cp for _, cp in self._checkpoints(
            lambda query: query if tree_sizes is None else query.where(
                self.checkpoints.c.tree_size.in_(sorted(set(tree_sizes)))))]

    def checkpoints_after(self, after: int, limit: int) -> list[tuple[int, Checkpoint]]:
        """Up to `limit` stored checkpoints, oldest first, with their numbers, after the one
        numbered `after` (0: from the first): the keyset of a listing."""
        return self._checkpoints(lambda query: query.where(
            self.checkpoints.c.id > after).limit(limit))

    def checkpoint_count(self) -> int:
        """How many checkpoints are stored."""
        with self.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(
                self.checkpoints)).scalar_one())

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest stored checkpoint: one row read, however many a year of checkpoints
        every minute has stored (each proof and `/v1/ledger` asks for it)."""
        newest = self._checkpoints(lambda query: query.order_by(None).order_by(
            self.checkpoints.c.id.desc()).limit(1))
        return newest[0][1] if newest else None

    def _checkpoints(self, narrowed: Callable[[sa.Select[Any]], sa.Select[Any]]
                     ) -> list[tuple[int, Checkpoint]]:
        c, a = self.checkpoints.c, self.checkpoint_access.c
        with self.store.read() as conn:
            rows = conn.execute(narrowed(sa.select(self.checkpoints, a.size, a.head)
                                         .join_from(self.checkpoints, self.checkpoint_access,
                                                    a.checkpoint_id == c.id, isouter=True)
                                         .order_by(c.id))).all()
        return [(int(r.id), Checkpoint(r.origin, int(r.tree_size), r.root_hash, r.issued_at,
                                       r.key_id, r.signature,
                                       None if r.size is None else int(r.size), r.head))
                for r in rows]

    # -- verification -------------------------------------------------------------------
    def verify(self, public_key: Ed25519PublicKey | None = None,
               against: list[Checkpoint] | None = None,
               on_page: Callable[[int], None] | None = None) -> Verification:
        """Recompute every case chain and the tree from the events; compare with the stored
        nodes, every stored checkpoint and the checkpoints held outside (`against`)."""
        return Audit(self, public_key, against or []).run(on_page)


class Audit:
    """One verification of a ledger: the checkpoints' signatures, every event's place in
    its case chain, every leaf against the recorded chunks, every checkpoint's root, the
    access log against the heads the checkpoints signed."""

    def __init__(self, ledger: Ledger, public_key: Ed25519PublicKey | None,
                 outside: list[Checkpoint]) -> None:
        self.ledger = ledger
        self.public_key = public_key
        self.stored = ledger.stored_checkpoints()
        self.outside = outside
        self.result = Verification(signatures_checked=public_key is not None)
        self.targets: dict[int, list[tuple[str, Checkpoint]]] = {}
        for kind, cps in (("stored", self.stored), ("outside", outside)):
            for cp in cps:
                self.targets.setdefault(cp.tree_size, []).append((kind, cp))
        self.frontier = merkle.Frontier()
        self.heads: dict[str, tuple[int, str]] = {}
        self.first_bad_leaf: int | None = None

    def run(self, on_page: Callable[[int], None] | None) -> Verification:
        """Walk the log once; every problem found, in log order."""
        result = self.result
        self._signatures()
        with self.ledger.store.read() as conn:
            recorded = {int(r.idx): bytes(r.leaves)
                        for r in conn.execute(sa.select(self.ledger.chunks))}
        expected_position = 1
        with bulk_gc():  # a million small objects live; cyclic GC passes would rescan them
            for position, state in self._states(on_page):
                if position != expected_position:
                    self._problem(Problem(
                        "missing events", f"positions {expected_position}…{position - 1} are "
                        "missing: events were deleted", expected_position), expected_position)
                expected_position = position + 1
                self._event(position, state, recorded)
        result.events = result.tree_size = self.frontier.size
        result.cases = len(self.heads)
        result.root_hash = self.frontier.root().hex()
        self._truncated()
        result.problems += self._access_problems(self.stored + self.outside)
        result.problems.sort(key=lambda p: (p.position is None, p.position or 0))
        return result

    def _problem(self, problem: Problem, bad_leaf: int | None = None) -> None:
        self.result.problems.append(problem)
        if bad_leaf is not None:
            self.first_bad_leaf = self.first_bad_leaf or bad_leaf

    def _signatures(self) -> None:
        key = self.public_key
        for cp in self.outside:
            if key is None or not cp.signature_valid(key):
                self._problem(Problem(
                    "checkpoint signature", f"the outside checkpoint of size {cp.tree_size} "
                    f"issued {cp.issued_at} does not verify with the public key given"))
        for cp in self.stored:
            if key is not None and not cp.signature_valid(key):
                self._problem(Problem(
                    "checkpoint signature", f"stored checkpoint of size {cp.tree_size} issued "
                    f"{cp.issued_at} does not verify with the public key (key id "
                    f"{key_id(key)}; it names {cp.key_id})"))

    def _event(self, position: int, state: bytes, recorded: dict[int, bytes]) -> None:
        """One event: its case chain, its leaf against the recorded chunk, the checkpoints
        whose size it completes."""
        problem, case_id, seq, digest = _check_event(position, state, self.heads)
        if problem is not None:
            self._problem(problem, position)
        try:
            leaf = merkle.leaf_hash(digest or "")
        except ValueError:
            leaf = hashlib.sha256(b"\x00" + state).digest()
        at = position - 1
        blob = recorded.get(at // CHUNK)
        offset = at % CHUNK * 32
        if (blob is not None and offset < len(blob) and blob[offset:offset + 32] != leaf
                and problem is None):
            self._problem(Problem(
                "leaf", f"the event now at position {position} is not the one recorded "
                "there: it was replaced, moved, or rewritten with a recomputed hash chain",
                position, case_id, seq), position)
        self.frontier.add(leaf)
        for kind, cp in self.targets.get(self.frontier.size, []):
            root = self.frontier.root().hex()
            if root != cp.root_hash:
                self._problem(Problem(
                    "checkpoint root", f"the {kind} checkpoint signed {cp.issued_at} says "
                    f"the first {cp.tree_size} events have root {cp.root_hash}; they now "
                    f"have root {root}: events up to position {cp.tree_size} were changed, "
                    "inserted, removed or reordered", self.first_bad_leaf))
            self.result.checkpoints_checked += 1

    def _truncated(self) -> None:
        """Checkpoints that cover more events than the log now has."""
        size = self.frontier.size
        for covers, pending in sorted(self.targets.items()):
            if covers > size:
                for kind, cp in pending:
                    self._problem(Problem(
                        "truncated", f"the {kind} checkpoint signed {cp.issued_at} covers "
                        f"{cp.tree_size} events but the log has {size}: events "
                        f"{size + 1}…{cp.tree_size} were removed", size + 1))
                    self.result.checkpoints_checked += 1

    def _access_problems(self, checkpoints: list[Checkpoint]) -> list[Problem]:
        """The access log against the heads the checkpoints signed: an entry edited, a
        tail trimmed, or the chain written anew after the fact."""
        signed = [cp for cp in checkpoints if cp.access_size]
        access_log = self.ledger.access_log
        entries, _, broken = access_log.verify()
        problems = []
        if broken is not None:
            problems.append(Problem("access log", f"access-log entry {broken.seq}: "
                                    f"{broken.detail}"))
        heads = access_log.hashes_at({cp.access_size or 0 for cp in signed})
        for cp in signed:
            size = cp.access_size or 0
            if size > entries and broken is None:
                problems.append(Problem("access log", f"the checkpoint signed {cp.issued_at} "
                                        f"covers {size} access-log entries but the log has "
                                        f"{entries}: entries were removed"))
            elif size in heads and heads[size] != cp.access_head:
                problems.append(Problem("access log", f"the checkpoint signed {cp.issued_at} "
                                        f"says access-log entry {size} has hash "
                                        f"{cp.access_head}; it now has {heads[size]}: the access "
                                        "log was rewritten"))
        return problems

    def _states(self, on_page: Callable[[int], None] | None) -> Iterator[tuple[int, bytes]]:
        """(position, state) of every event in order, the next page read while this one is
        checked."""
        store = self.ledger.store
        for rows in read_ahead(lambda after: store.select_states(after, _PAGE), 0, _PAGE):
            yield from rows
            if on_page:
                on_page(len(rows))


def _small_root(leaves: list[bytes]) -> bytes:
    """The root of a perfect subtree (a power-of-two number of leaves)."""
    while len(leaves) > 1:
        leaves = [merkle.node_hash(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return leaves[0]


_RECORD_KEY = b'"record":'
_HASH_SUFFIX = b',"hash":"'


def _content_digest(state: bytes) -> str | None:
    """SHA-256 of the record's canonical JSON straight from the stored bytes, when the state
    holds the record as the engine writes it (its canonical JSON with `"hash"` appended,
    adapters/codec.py); None otherwise. Bytes that were altered hash differently, and a
    recomputed hash changes the leaf, so the shortcut accepts nothing the full
    canonicalisation would refuse."""
    at = state.find(_RECORD_KEY)
    if at < 0 or not state.endswith(b'"}}'):
        return None
    suffix_at = len(state) - 1 - 75
    if state[suffix_at:suffix_at + 9] != _HASH_SUFFIX:
        return None
    return hashlib.sha256(state[at + len(_RECORD_KEY):suffix_at] + b"}").hexdigest()


def _check_event(position: int, state: bytes, heads: dict[str, tuple[int, str]]
                 ) -> tuple[Problem | None, str | None, int | None, str | None]:
    """Recompute one event's hash and check its link to its case's previous event:
    (the problem or None, case id, seq, the stored hash)."""
    try:
        stored = orjson.loads(state)
        record: dict[str, Any] = stored["record"]
        case_id, seq, claimed = str(record["case_id"]), int(record["seq"]), record.get("hash")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return Problem("unreadable", f"the stored event cannot be read: {exc}", position), \
            None, None, None
    last_seq, last_hash = heads.get(case_id, (0, GENESIS_HASH))
    heads[case_id] = (seq, str(claimed))
    if seq != last_seq + 1:
        what, detail = "sequence", (f"case {case_id} has seq {seq} at position {position} after "
                                    f"seq {last_seq}: events of the case were removed, inserted "
                                    "or reordered")
    elif record.get("prev_hash") != last_hash:
        what, detail = "chain", (f"prev_hash {record.get('prev_hash')} does not match the hash "
                                 f"{last_hash} of the case's previous event: the chain is broken")
    else:
        try:
            digest = _content_digest(state) or record_hash(
                {k: v for k, v in record.items() if k != "hash"})[0]
        except ValueError as exc:
            digest, what, detail = None, "content", f"the event cannot be canonicalised: {exc}"
        stamp = stored.get("timestamp", {}).get("_data_")
        if digest is None:
            pass
        elif digest != claimed:
            what, detail = "content", (f"the event's content hashes to {digest} but its stored "
                                       f"hash is {claimed}: a field was changed after it was "
                                       "recorded")
        elif stamp != record.get("recorded_at"):
            what, detail = "content", (f"the stored timestamp {stamp} differs from recorded_at "
                                       f"{record.get('recorded_at')}")
        else:
            return None, case_id, seq, claimed
    return Problem(what, detail, position, case_id, seq), case_id, seq, claimed


class AutoCheckpoint:
    """Signed checkpoints made by a long-running worker (`serve`, `kafka consume`) itself:
    whenever `every_events` events were appended, or `every_seconds` passed with something
    new (events or access-log entries), since the last one. Events recorded after the last
    checkpoint are the only ones a writer with database access could still rewrite unseen,
    so the interval bounds that window (docs/contract.md, Ledger)."""

    def __init__(self, ledger: Ledger, key: Ed25519PrivateKey, every_seconds: float = 60.0,
                 every_events: int = 10_000,
                 clock: Callable[[], float] | None = None) -> None:
        if every_seconds <= 0 or every_events <= 0:
            raise CaseChainError("checkpoint intervals must be positive (seconds and events)")
        self.ledger, self.key = ledger, key
        self.every_seconds, self.every_events = every_seconds, every_events
        self._clock = clock or time.monotonic
        self._last_at = self._clock()
        latest = ledger.latest_checkpoint()
        self._last = (latest.tree_size, latest.access_size or 0) if latest else (0, 0)
        self.made = 0

    def maybe(self) -> Checkpoint | None:
        """Make a checkpoint if one is due; the checkpoint, or None."""
        size = self.ledger.store.max_notification_id() or 0
        access, _ = self.ledger.access_log.head()
        if (size, access) == self._last:
            return None
        waited = self._clock() - self._last_at
        if size - self._last[0] < self.every_events and waited < self.every_seconds:
            return None
        checkpoint = self.ledger.checkpoint(self.key)
        self._last, self._last_at = (checkpoint.tree_size, checkpoint.access_size or 0), \
            self._clock()
        self.made += 1
        log.info("checkpoint.made", tree_size=checkpoint.tree_size,
                 access_log=checkpoint.access_size, root_hash=checkpoint.root_hash)
        return checkpoint
