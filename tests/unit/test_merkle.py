"""The RFC 9162 tree (section 2.1) against its definitions and against an independent
implementation (pymerkle): roots, inclusion proofs, consistency proofs."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree
from pymerkle.core import _inclusion_path_layout
from pymerkle.proof import InclusionProof, InvalidProof

from casechain.domain import merkle

EVENT_HASHES = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(130)]
LEAVES = [merkle.leaf_hash(h) for h in EVENT_HASHES]


def perfect(lo: int, hi: int) -> bytes:
    """A perfect subtree straight from the definition."""
    if hi - lo == 1:
        return LEAVES[lo]
    mid = (lo + hi) // 2
    return merkle.node_hash(perfect(lo, mid), perfect(mid, hi))


def mth(leaves: list[bytes]) -> bytes:
    """MTH of section 2.1.1, written from the RFC's recursive definition."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))


@pytest.fixture(scope="module")
def independent() -> InmemoryTree:
    """pymerkle's tree of the same entries (the event hashes' bytes)."""
    tree = InmemoryTree(algorithm="sha256")
    for h in EVENT_HASHES:
        tree.append_entry(bytes.fromhex(h))
    return tree


def test_leaves_and_nodes_carry_the_rfc_prefixes() -> None:
    """leaf = SHA-256(0x00 || hash), node = SHA-256(0x01 || left || right)."""
    raw = bytes.fromhex(EVENT_HASHES[0])
    assert LEAVES[0] == hashlib.sha256(b"\x00" + raw).digest()
    assert merkle.node_hash(LEAVES[0], LEAVES[1]) == hashlib.sha256(
        b"\x01" + LEAVES[0] + LEAVES[1]).digest()
    assert merkle.root(3, perfect) == merkle.node_hash(
        merkle.node_hash(LEAVES[0], LEAVES[1]), LEAVES[2])


def test_roots_equal_the_definition_and_pymerkle_at_every_size(
        independent: InmemoryTree) -> None:
    """For 1…130 leaves: our root = MTH by definition = pymerkle's root = the frontier's."""
    frontier = merkle.Frontier()
    for size in range(1, len(LEAVES) + 1):
        frontier.append(LEAVES[size - 1])
        ours = merkle.root(size, perfect)
        assert ours == mth(LEAVES[:size]) == independent.get_root(size) == frontier.root()
        assert merkle.Frontier.of(size, perfect).root() == ours


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 64, 100, 130])
def test_inclusion_proofs_verify_with_pymerkle(independent: InmemoryTree, size: int) -> None:
    """Every audit path we produce is accepted by pymerkle's verifier (which rebuilds the
    RFC layout from index and size) and by ours."""
    root = merkle.root(size, perfect)
    for index in range(size):
        path = merkle.inclusion_proof(index, size, perfect)
        assert merkle.verify_inclusion(index, size, LEAVES[index], path, root)
        rule, _ = _inclusion_path_layout(index + 1, size)
        InclusionProof("sha256", True, size, index + 1, rule, [LEAVES[index], *path]).verify(
            LEAVES[index], independent.get_root(size))


def test_a_wrong_leaf_or_path_fails_both_verifiers(independent: InmemoryTree) -> None:
    """Another leaf, or a path with one node changed, is refused."""
    size, index = 100, 37
    path = merkle.inclusion_proof(index, size, perfect)
    root = merkle.root(size, perfect)
    assert not merkle.verify_inclusion(index, size, LEAVES[index + 1], path, root)
    bent = [path[0], b"\x00" * 32, *path[2:]]
    assert not merkle.verify_inclusion(index, size, LEAVES[index], bent, root)
    rule, _ = _inclusion_path_layout(index + 1, size)
    with pytest.raises(InvalidProof):
        InclusionProof("sha256", True, size, index + 1, rule, [LEAVES[index], *bent]).verify(
            LEAVES[index], independent.get_root(size))


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF of section 2.1.4.1, written from the RFC's recursive definition."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def test_consistency_proofs_follow_the_rfc_and_check_against_pymerkle_roots(
        independent: InmemoryTree) -> None:
    """For every pair of sizes up to 70: the proof is the RFC's PROOF(m, D[n]) node for node,
    and it verifies between the roots pymerkle computes; a shortened proof does not."""
    for new in range(1, 71):
        for old in range(1, new + 1):
            path = merkle.consistency_proof(old, new, perfect)
            assert path == subproof(old, LEAVES[:new], True)
            assert merkle.verify_consistency(old, new, independent.get_root(old),
                                             independent.get_root(new), path)
            if path:
                assert not merkle.verify_consistency(old, new, independent.get_root(old),
                                                     independent.get_root(new), path[:-1])


def test_a_rewritten_history_is_not_consistent() -> None:
    """Change one of the first 40 leaves: the old root is no longer consistent with it."""
    forged = list(LEAVES)
    forged[5] = merkle.leaf_hash("ab" * 32)
    old_root = merkle.root(40, perfect)
    new_root = mth(forged[:90])

    def forged_perfect(lo: int, hi: int) -> bytes:
        return mth(forged[lo:hi])

    path = merkle.consistency_proof(40, 90, forged_perfect)
    assert not merkle.verify_consistency(40, 90, old_root, new_root, path)
