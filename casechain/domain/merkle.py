"""The RFC 9162 Merkle tree over the log (section 2.1): hashes, roots, proofs, verification.

Leaves are the events in global order (leaf index = position - 1); a leaf's hash is
SHA-256(0x00 || event hash), the event hash taken as its 32 raw bytes; an interior node is
SHA-256(0x01 || left || right). The tree of n leaves splits at k, the largest power of two
smaller than n (MTH, section 2.1.1), so every left part is a perfect, aligned subtree: the
functions here ask a `Subtrees` for the hash of an aligned perfect subtree `[lo, lo + 2^h)` and
never need anything else. Verification follows sections 2.1.3.2 and 2.1.4.2 step by step and
needs nothing but hashlib.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = [
    "Frontier",
    "Subtrees",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

#: The hash of the perfect subtree of leaves [lo, hi) (hi - lo a power of two, lo aligned).
Subtrees = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


def leaf_hash(event_hash: str) -> bytes:
    """SHA-256(0x00 || the event's hash as 32 bytes)."""
    return _sha256(b"\x00" + bytes.fromhex(event_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(lo: int, hi: int, perfect: Subtrees) -> bytes:
    """MTH of leaves [lo, hi) with lo aligned: perfect parts from `perfect`, the rest split."""
    n = hi - lo
    if n & (n - 1) == 0:
        return perfect(lo, hi)
    k = _split(n)
    return node_hash(perfect(lo, lo + k), _mth(lo + k, hi, perfect))


def root(size: int, perfect: Subtrees) -> bytes:
    """The tree head of the first `size` leaves (SHA-256 of nothing for an empty tree)."""
    return _sha256(b"").digest() if size == 0 else _mth(0, size, perfect)


def inclusion_proof(index: int, size: int, perfect: Subtrees) -> list[bytes]:
    """PATH(index, D[0:size]) of section 2.1.3.1: sibling hashes from the leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_mth(lo + k, hi, perfect))
            hi = lo + k
        else:
            path.append(_mth(lo, lo + k, perfect))
            lo += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, perfect: Subtrees) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of section 2.1.4.1 (SUBPROOF with b = true)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    path: list[bytes] = []
    lo, m, n, whole = 0, old_size, new_size, True
    while m != n:
        k = _split(n)
        if m <= k:
            path.append(_mth(lo + k, lo + n, perfect))
            n = k
        else:
            path.append(_mth(lo, lo + k, perfect))
            lo, m, n, whole = lo + k, m - k, n - k, False
    if not whole:
        path.append(_mth(lo, lo + n, perfect))
    path.reverse()
    return path


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes],
                     expected_root: bytes) -> bool:
    """Section 2.1.3.2: does `path` lead from `leaf` at `index` to `expected_root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: list[bytes]) -> bool:
    """Section 2.1.4.2: is the tree of `new_size` an append-only extension of `old_size`?"""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class Frontier:
    """The roots of the perfect subtrees covering the leaves so far (a binary counter):
    appending a leaf hashes at most log2(n) nodes, never the history."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), heights decreasing

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; the perfect subtrees it completes, as (height, index, hash)."""
        done = [(0, self.size, leaf)]
        node, height = leaf, 0
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            node, height = node_hash(left, node), height + 1
            done.append((height, self.size >> height, node))
        self._stack.append((height, node))
        self.size += 1
        return done

    def add(self, leaf: bytes) -> None:
        """Add a leaf, without reporting the subtrees it completes."""
        stack, node, height = self._stack, leaf, 0
        while stack and stack[-1][0] == height:
            node, height = node_hash(stack.pop()[1], node), height + 1
        stack.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        """The tree head of the leaves so far."""
        if not self._stack:
            return _sha256(b"").digest()
        result = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result

    @classmethod
    def of(cls, size: int, perfect: Subtrees) -> Frontier:
        """The frontier of a tree of `size` leaves, from its perfect subtrees."""
        frontier = cls()
        lo = 0
        for height in range(size.bit_length() - 1, -1, -1):
            if size >> height & 1:
                frontier._stack.append((height, perfect(lo, lo + (1 << height))))
                lo += 1 << height
        frontier.size = size
        return frontier
