"""The tree and its proofs against the RFC 6962 test vectors of certificate transparency.

Vectors: transparency-dev/merkle, proof/verify_test.go (leaves, roots of sizes 1 to 8, inclusion and
consistency proofs). Each valid proof is also mutated the ways that code's tests mutate them, and
every mutation must be refused.
"""

from __future__ import annotations

import random

import pytest

from ledger import merkle
from ledger.verify_bundle import (
    VerificationError,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
H = bytes.fromhex
INCLUSION = [  # (leaf index, tree size, proof)
    (0, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]  # fmt: skip
CONSISTENCY = [  # (size1, size2, proof)
    (1, 8, [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]  # fmt: skip
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")


def tree() -> merkle.MemoryTree:
    return merkle.MemoryTree([merkle.leaf_hash(leaf) for leaf in LEAVES])


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_published_vectors(size: int) -> None:
    assert tree().root(size) == ROOTS[size - 1]


def test_the_empty_tree_hashes_to_sha256_of_nothing() -> None:
    assert merkle.MemoryTree().root() == H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_vectors_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(tree(), index, size) == proof
    leaf = merkle.leaf_hash(LEAVES[index])
    assert root_from_inclusion_proof(index, size, leaf, proof) == ROOTS[size - 1]
    verify_inclusion(index, size, leaf, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors_and_verify(size1: int, size2: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(tree(), size1, size2) == proof
    verify_consistency(size1, size2, proof, ROOTS[size1 - 1], ROOTS[size2 - 1])


def _flip(proof: list[bytes], position: int) -> list[bytes]:
    changed = list(proof)
    changed[position] = bytes([changed[position][0] ^ 8]) + changed[position][1:]
    return changed


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_every_mutation_of_an_inclusion_proof_is_refused(index: int, size: int, proof: list[bytes]) -> None:
    root, leaf = ROOTS[size - 1], merkle.leaf_hash(LEAVES[index])
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, merkle.leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, merkle.EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        *((index, size, leaf, _flip(proof, i), root) for i in range(len(proof))),
    ]
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
    for probe in probes:
        with pytest.raises(VerificationError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_every_mutation_of_a_consistency_proof_is_refused(size1: int, size2: int, proof: list[bytes]) -> None:
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    probes = [
        (size1 - 1, size2, proof, root1, root2),
        (size1 + 1, size2, proof, root1, root2),
        (size1 ^ 2, size2, proof, root1, root2),
        (size1, size2 * 2, proof, root1, root2),
        (size1, size2 // 2, proof, root1, root2),
        (size1, size2, proof, SOME_HASH, root2),
        (size1, size2, proof, root1, SOME_HASH),
        (size1, size2, proof, root2, root1),
        (size1, size2, [], root1, root2),
        (size1, size2, [*proof, b""], root1, root2),
        (size1, size2, [*proof, root1], root1, root2),
        (size1, size2, [*proof, root2], root1, root2),
        (size1, size2, [b"", *proof], root1, root2),
        (size1, size2, [root1, *proof], root1, root2),
        (size1, size2, [root2, *proof], root1, root2),
        (size1, size2, [proof[0], *proof], root1, root2),
        (size1, size2, proof[:-1], root1, root2),
        *((size1, size2, _flip(proof, i), root1, root2) for i in range(len(proof))),
    ]
    for probe in probes:
        if probe[0] == 0 and not probe[2]:
            continue  # consistency with the empty tree holds for any proofless pair, by definition
        with pytest.raises(VerificationError):
            verify_consistency(*probe)


def test_edge_sizes_follow_the_rfc() -> None:
    verify_consistency(0, 0, [], SOME_HASH, SOME_HASH)
    verify_consistency(0, 5, [], SOME_HASH, ROOTS[4])
    verify_consistency(3, 3, [], ROOTS[2], ROOTS[2])
    with pytest.raises(VerificationError, match="forked"):
        verify_consistency(3, 3, [], ROOTS[2], SOME_HASH)
    with pytest.raises(VerificationError):
        verify_consistency(2, 1, [], ROOTS[1], ROOTS[0])
    for index, size in [(0, 0), (1, 0), (2, 1)]:
        with pytest.raises(VerificationError):
            root_from_inclusion_proof(index, size, SOME_HASH, [])
    single = merkle.leaf_hash(b"data")
    verify_inclusion(0, 1, single, [], single)
    with pytest.raises(VerificationError):
        verify_inclusion(0, 1, b"", [], single)


def test_proofs_from_large_random_trees_verify_everywhere() -> None:
    rng = random.Random(6962)
    big = merkle.MemoryTree([merkle.leaf_hash(rng.randbytes(12)) for _ in range(1000)])
    for _ in range(300):
        size = rng.randint(1, 1000)
        index = rng.randrange(size)
        root = big.root(size)
        verify_inclusion(index, size, big.leaves[index], merkle.inclusion_proof(big, index, size), root)
        first = rng.randint(0, size)
        proof = merkle.consistency_proof(big, first, size)
        verify_consistency(first, size, proof, big.root(first), root)
