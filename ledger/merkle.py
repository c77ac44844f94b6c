"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs over a store of perfect-subtree hashes.

Leaves are hashed as SHA-256(0x00 ‖ leaf bytes) and interior nodes as SHA-256(0x01 ‖ left ‖ right).
A tree of n leaves splits at k, the largest power of two below n (RFC 6962 §2.1). Every hash this
module needs is a combination of *perfect* subtrees (2^h leaves starting at a multiple of 2^h), which
a `NodeStore` answers: tiles in the database (ledger.tiles) or a list in memory (`MemoryTree`).

The verifying side (root from an inclusion proof, consistency checks) lives in ledger/verify_bundle.py,
which a regulator runs without this project.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n ≥ 2)."""
    if n < 2:
        raise ValueError("a tree of fewer than two leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree given its leaf-level hashes (a power-of-two count)."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError("a perfect subtree has a power-of-two number of hashes")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class NodeStore(Protocol):
    def node(self, height: int, index: int) -> bytes:
        """Hash of the perfect subtree of 2**height leaves starting at leaf index * 2**height."""
        ...


def range_hash(store: NodeStore, start: int, end: int) -> bytes:
    """MTH of leaves [start, end) where the range is a subtree of the RFC 6962 decomposition."""
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    if size & (size - 1) == 0 and start % size == 0:
        return store.node(size.bit_length() - 1, start // size)
    k = split_point(size)
    return node_hash(range_hash(store, start, start + k), range_hash(store, start + k, end))


def root_hash(store: NodeStore, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else range_hash(store, 0, size)


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1, leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    return _path(store, index, 0, size)


def _path(store: NodeStore, index: int, start: int, end: int) -> list[bytes]:
    if end - start == 1:
        return []
    k = split_point(end - start)
    if index < start + k:
        return [*_path(store, index, start, start + k), range_hash(store, start + k, end)]
    return [*_path(store, index, start + k, end), range_hash(store, start, start + k)]


def consistency_proof(store: NodeStore, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 6962 §2.1.2."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    return _subproof(store, first, 0, second, True)


def _subproof(store: NodeStore, m: int, start: int, end: int, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [range_hash(store, start, end)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(store, m, start, start + k, complete), range_hash(store, start + k, end)]
    return [*_subproof(store, m - k, start + k, end, False), range_hash(store, start, start + k)]


class MemoryTree:
    """A NodeStore over leaf hashes held in a list: for tests, small trees and the offline tools."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.leaves: list[bytes] = list(leaf_hashes)
        self._node = lru_cache(maxsize=1 << 16)(self._compute)

    def append(self, leaf_input: bytes) -> None:
        self.leaves.append(leaf_hash(leaf_input))

    def node(self, height: int, index: int) -> bytes:
        if (index + 1) << height > len(self.leaves):
            raise ValueError(f"node ({height}, {index}) is beyond the tree")
        return self._node(height, index)

    def _compute(self, height: int, index: int) -> bytes:
        if height == 0:
            return self.leaves[index]
        return node_hash(self._node(height - 1, 2 * index), self._node(height - 1, 2 * index + 1))

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self, len(self.leaves) if size is None else size)


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size): a tree's root grown one leaf at a
    time in O(log n) memory, for checking a whole log in one pass."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), tallest first

    def append(self, leaf: bytes) -> None:
        height, value = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            height, value = height + 1, node_hash(left, value)
        self._stack.append((height, value))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value
