#!/usr/bin/env python3
"""Check the service's request log without trusting the service: proofs, checkpoints, signatures.

This file stands alone (Python's standard library and `cryptography`), so a regulator can read it
whole and run it on their own machine. It implements:

* RFC 9162 §2.1.3.2 (root from an inclusion proof) and §2.1.4.2 (consistency between two sizes),
  with the RFC 6962 hashes: leaf SHA-256(0x00 ‖ data), node SHA-256(0x01 ‖ left ‖ right);
* checkpoints in the C2SP signed-note format (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint):
  an origin line, the tree size, the base64 root hash and a `timestamp <ms>` extension line, then an
  Ed25519 signature line whose 4-byte key hash is SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HASH_SIZE = 32
ED25519_ALGORITHM = b"\x01"  # the signed-note signature type of Ed25519
SIGNATURE_DASH = "\u2014"  # "—", which starts every signature line of a note


class VerificationError(Exception):
    """The thing checked is not valid; the message says what is wrong."""


# --- Hashes and proofs (RFC 6962 / RFC 9162) --------------------------------------------------------


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from leaf `index` of a tree of `size` leaves."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, leaf
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
        if sn == 0:
            raise VerificationError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationError(f"leaf {index} is not in the tree of size {size} with this root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise unless the tree of size1 with root1 is a prefix of the tree of size2 with root2."""
    if not 0 <= size1 <= size2:
        raise VerificationError(f"a tree of size {size2} cannot extend one of size {size1}")
    if size1 == size2:
        if proof:
            raise VerificationError("two checkpoints of one size need an empty consistency proof")
        if root1 != root2:
            raise VerificationError(f"two different roots for tree size {size1}: the log has forked")
        return
    if size1 == 0:
        if proof:
            raise VerificationError("consistency with the empty tree needs an empty proof")
        return
    if not proof:
        raise VerificationError("the consistency proof is empty")
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("the consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the consistency proof is shorter than needed")
    if fr != root1:
        raise VerificationError(
            f"the log of size {size2} does not contain the earlier log of size {size1}: "
            "entries were changed or removed (or the log forked)"
        )
    if sr != root2:
        raise VerificationError(f"the consistency proof does not lead to the root of size {size2}")


# --- Signed notes and checkpoints (C2SP) -------------------------------------------------------------


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def note_key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + raw_public_key(key)).digest()[:4]


def note_verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The verifier key string of the signed-note format: name+hex key hash+base64(type ‖ key)."""
    encoded = base64.b64encode(ED25519_ALGORITHM + raw_public_key(key)).decode()
    return f"{name}+{note_key_hash(name, key).hex()}+{encoded}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    timestamp_ms: int
    body: str  # the signed text, exactly
    key_id: str  # which of the given public keys signed it


def checkpoint_body(origin: str, size: int, root: bytes, timestamp_ms: int) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntimestamp {timestamp_ms}\n"


def note_signature_line(name: str, key_hash: bytes, signature: bytes) -> str:
    return f"{SIGNATURE_DASH} {name} {base64.b64encode(key_hash + signature).decode()}\n"


def _parse_body(body: str) -> tuple[str, int, bytes, int]:
    lines = body.split("\n")
    if len(lines) < 5 or lines[-1] != "":
        raise VerificationError("a checkpoint has an origin, a size, a root and a timestamp line")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise VerificationError("the checkpoint's origin or tree size line is malformed")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("the checkpoint's root hash is not base64") from exc
    _check_hash(root, "the checkpoint's root hash")
    stamps = [line.removeprefix("timestamp ") for line in extensions if line.startswith("timestamp ")]
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise VerificationError("the checkpoint needs exactly one 'timestamp <milliseconds>' line")
    return origin, int(size_text), root, int(stamps[0])


def open_checkpoint(
    note: str, public_keys: Mapping[str, Ed25519PublicKey], *, origin: str | None = None
) -> Checkpoint:
    """Parse a signed checkpoint and check its signature; raises VerificationError naming the problem.

    `public_keys` maps key ids to keys (the service's /receipts/public-keys.json); the note names
    its signer by the origin and a 4-byte key hash, which must match one of them.
    """
    body, separator, signatures = note.partition("\n\n")
    if not separator or not signatures:
        raise VerificationError("not a signed note: no blank line before the signature lines")
    body += "\n"
    name, size, root, timestamp_ms = _parse_body(body)
    if origin is not None and name != origin:
        raise VerificationError(f"the checkpoint is for log {name!r}, not {origin!r}")
    unknown = False
    for line in signatures.rstrip("\n").split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            raise VerificationError("a signature line of the note is malformed")
        if parts[1] != name:
            continue  # a witness's cosignature: not ours to check here
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError("a signature of the note is not base64") from exc
        if len(blob) != 4 + 64:
            raise VerificationError("a signature of the note has the wrong length for Ed25519")
        for key_id, key in public_keys.items():
            if note_key_hash(name, key) == blob[:4]:
                try:
                    key.verify(blob[4:], body.encode())
                except InvalidSignature as exc:
                    raise VerificationError(
                        f"the checkpoint of size {size} is not signed by key {key_id!r}: "
                        "the signature does not match"
                    ) from exc
                return Checkpoint(name, size, root, timestamp_ms, body, key_id)
        unknown = True
    if unknown:
        raise VerificationError(
            f"the checkpoint of size {size} is signed by a key that is not among the public keys"
        )
    raise VerificationError(f"the checkpoint carries no signature by {name!r}")
