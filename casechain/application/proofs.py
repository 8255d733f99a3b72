"""Proof files and evidence bundles, and their offline check; the ledger, its signed
checkpoints and the Ed25519 keys they are signed with, as the entrypoints use them.

A proof file is JSON: the signed checkpoint, and for each event its exported record, its
leaf index and its RFC 9162 audit path (inclusion); or two tree sizes, their roots and the
consistency path (consistency). `check_document` needs nothing but the file and the public
key: it recomputes each event's hash from its fields, the leaf, the path up to the root, and
checks the checkpoint's Ed25519 signature.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casechain.adapters.ledger import (
    AutoCheckpoint,
    Checkpoint,
    Ledger,
    SigningKeyError,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    public_key_from_pem,
    public_pem,
)
from casechain.application.case_log import CaseLog, CaseNotFound
from casechain.application.paging import Page, check_limit, cursor_of, single_key_after
from casechain.domain import merkle
from casechain.domain.hashing import record_hash
from casechain.errors import CaseChainError

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "AutoCheckpoint",
    "Checkpoint",
    "Ledger",
    "ProofError",
    "SigningKeyError",
    "bundle",
    "check_document",
    "checkpoints_page",
    "consistency_document",
    "generate_key",
    "inclusion_document",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_from_pem",
    "public_pem",
    "read_document",
]

INCLUSION_FORMAT = "casechain-inclusion-proof/1"
CONSISTENCY_FORMAT = "casechain-consistency-proof/1"
_SUMMARY = "说明.txt"


class ProofError(CaseChainError):
    """A proof that cannot be made, read or that does not check out."""


def inclusion_document(case_log: CaseLog, ledger: Ledger, case_id: str,
                       seq: int | None = None) -> dict[str, Any]:
    """Inclusion proofs of a case's events (or one, by seq) against the latest checkpoint."""
    checkpoint = ledger.latest_checkpoint()
    if checkpoint is None:
        raise ProofError("no checkpoint is stored yet: run `casechain checkpoint` first")
    try:
        records = case_log.case_records(case_id)
    except CaseNotFound:
        raise ProofError(f"no case {case_id!r} in the store") from None
    if seq is not None:
        records = [r for r in records if r["seq"] == seq]
        if not records:
            raise ProofError(f"case {case_id} has no event with seq {seq}")
    late = [r for r in records if r["position"] > checkpoint.tree_size]
    if late:
        raise ProofError(f"case {case_id} seq {late[0]['seq']} (position {late[0]['position']}) "
                         f"came after the latest checkpoint (size {checkpoint.tree_size}): run "
                         "`casechain checkpoint` and ask again")
    proofs = [{"event": record, "leaf_index": record["position"] - 1,
               "path": [node.hex() for node in ledger.inclusion(record["position"],
                                                                 checkpoint.tree_size)]}
              for record in records]
    return {"format": INCLUSION_FORMAT, "case_id": case_id, "tree_size": checkpoint.tree_size,
            "checkpoint": checkpoint.as_dict(), "proofs": proofs}


def checkpoints_page(ledger: Ledger, limit: int | None, cursor: str | None) -> Page:
    """A page of the stored checkpoints, oldest first, each as a witness keeps it, and how
    many are stored (a checkpoint a minute is hundreds of thousands a year)."""
    size = check_limit(limit)
    found = ledger.checkpoints_after(single_key_after(cursor, int) or 0, size + 1)
    more = len(found) > size
    return Page([cp.as_dict() for _, cp in found[:size]], ledger.checkpoint_count(),
                cursor_of((found[size - 1][0],)) if more else None)


def consistency_document(ledger: Ledger, old_size: int, new_size: int) -> dict[str, Any]:
    """A consistency proof between two sizes, with the stored checkpoints of those sizes."""
    head = ledger.size()
    if not 0 < old_size <= new_size <= head:
        raise ProofError(f"sizes must satisfy 0 < OLD ≤ NEW ≤ {head} (the log's size); got "
                         f"{old_size} and {new_size}")
    _, old_root = ledger.root(old_size)
    _, new_root = ledger.root(new_size)
    signed = [cp.as_dict() for cp in ledger.stored_checkpoints((old_size, new_size))]
    return {"format": CONSISTENCY_FORMAT, "old_size": old_size, "new_size": new_size,
            "old_root": old_root.hex(), "new_root": new_root.hex(),
            "path": [node.hex() for node in ledger.consistency(old_size, new_size)],
            "checkpoints": signed}


def check_document(doc: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    """Check a proof document offline; the findings (raises ProofError on the first failure)."""
    kind = doc.get("format")
    if kind == INCLUSION_FORMAT:
        return _check_inclusion(doc, public_key)
    if kind == CONSISTENCY_FORMAT:
        return _check_consistency(doc, public_key)
    raise ProofError(f"field format is {kind!r}: not a CaseChain proof "
                     f"({INCLUSION_FORMAT} or {CONSISTENCY_FORMAT})")


def _signed(data: dict[str, Any], public_key: Ed25519PublicKey) -> Checkpoint:
    checkpoint = Checkpoint.from_dict(data)
    if not checkpoint.signature_valid(public_key):
        raise ProofError(f"the checkpoint of size {checkpoint.tree_size} issued "
                         f"{checkpoint.issued_at} is not signed by this key (key id "
                         f"{key_id(public_key)}; the checkpoint names {checkpoint.key_id})")
    return checkpoint


def _check_inclusion(doc: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    checkpoint = _signed(doc["checkpoint"], public_key)
    root = bytes.fromhex(checkpoint.root_hash)
    found = [f"checkpoint: {checkpoint.tree_size} events, root {checkpoint.root_hash}, "
             f"signed {checkpoint.issued_at} by key {checkpoint.key_id}"]
    for proof in doc["proofs"]:
        event = dict(proof["event"])
        where = f"case {event.get('case_id')} seq {event.get('seq')}"
        claimed = event.pop("hash")
        hashed = {k: v for k, v in event.items() if k != "position"}
        digest, _ = record_hash(hashed)
        if digest != claimed:
            raise ProofError(f"{where}: its fields hash to {digest}, not to its hash {claimed}:"
                             " the event was altered")
        path = [bytes.fromhex(node) for node in proof["path"]]
        if not merkle.verify_inclusion(int(proof["leaf_index"]), checkpoint.tree_size,
                                       merkle.leaf_hash(claimed), path, root):
            raise ProofError(f"{where}: the audit path does not lead to the signed root: the "
                             "event is not at that place in the signed log")
        found.append(f"{where} (position {proof['leaf_index'] + 1}): included")
    return found


def _check_consistency(doc: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    old_size, new_size = int(doc["old_size"]), int(doc["new_size"])
    roots = {old_size: doc["old_root"], new_size: doc["new_root"]}
    path = [bytes.fromhex(node) for node in doc["path"]]
    if not merkle.verify_consistency(old_size, new_size, bytes.fromhex(doc["old_root"]),
                                     bytes.fromhex(doc["new_root"]), path):
        raise ProofError(f"the tree of {new_size} events is not an append-only extension of "
                         f"the tree of {old_size} events with the roots given")
    found = [f"the first {old_size} events are unchanged in the log of {new_size} events"]
    for data in doc.get("checkpoints", []):
        checkpoint = _signed(data, public_key)
        if roots.get(checkpoint.tree_size) != checkpoint.root_hash:
            raise ProofError(f"the signed checkpoint of size {checkpoint.tree_size} has root "
                             f"{checkpoint.root_hash}, not the proof's "
                             f"{roots.get(checkpoint.tree_size)}")
        found.append(f"root of size {checkpoint.tree_size} signed {checkpoint.issued_at}")
    if len(found) == 1:
        found.append("neither root is signed by a checkpoint in the file")
    return found


def bundle(case_log: CaseLog, ledger: Ledger, case_id: str, public_key: Ed25519PublicKey,
           output: Path) -> dict[str, Any]:
    """Write a case's evidence bundle (zip); the inclusion document it holds."""
    doc = inclusion_document(case_log, ledger, case_id)
    events = [p["event"] for p in doc["proofs"]]
    checkpoint = doc["checkpoint"]
    last = events[-1]
    summary = "\n".join([
        f"案件编号: {case_id}",
        f"事件数: {len(events)}（最后一条: {last['type']}，发生于 {last['occurred_at']}）",
        f"全局日志: 截至检查点共 {checkpoint['tree_size']} 条事件，Merkle 根 {checkpoint['root_hash']}",
        f"检查点签发时间: {checkpoint['issued_at']}，签名密钥编号: {checkpoint['key_id']}（Ed25519）",
        "",
        "本证据包包含: events.jsonl（本案全部事件）、proof.json（每条事件的包含证明，RFC 9162）、",
        "checkpoint.json（签名检查点）、public_key.pem（公钥）。",
        "核验方法: casechain verify-proof case.zip --public-key 执法机关公布的公钥.pem",
        "（或按 docs/ledger.md 中只用 hashlib 与 cryptography 的 Python 代码核验）。",
        "请将公钥编号与执法机关公布的编号核对；包内公钥仅供参考。",
        "",
    ])
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("events.jsonl", b"".join(orjson.dumps(e) + b"\n" for e in events))
        archive.writestr("proof.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        archive.writestr("checkpoint.json", orjson.dumps(checkpoint, option=orjson.OPT_INDENT_2))
        archive.writestr("public_key.pem", public_pem(public_key))
        archive.writestr(_SUMMARY, summary.encode())
    return doc


def read_document(path: Path) -> tuple[dict[str, Any], bytes | None]:
    """A proof document from a JSON file or an evidence bundle (with the bundle's key PEM)."""
    data = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        try:
            return orjson.loads(data), None
        except orjson.JSONDecodeError as exc:
            raise ProofError(f"{path} is neither a proof JSON file nor a bundle: {exc}") from None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        doc: dict[str, Any] = orjson.loads(archive.read("proof.json"))
        lines = [orjson.loads(line) for line in archive.read("events.jsonl").splitlines()
                 if line.strip()]
        key = archive.read("public_key.pem")
    if lines != [p["event"] for p in doc["proofs"]]:
        raise ProofError(f"{path}: events.jsonl differs from the events in proof.json")
    return doc, key
