"""Signing tree heads: a C2SP checkpoint note, and RFC 6962's TreeHeadSignature for get-sth.

Both are signed with the service's Ed25519 key ring (vault.signing), whose public keys are published at
/receipts/public-keys.json and /ledger/public-keys.json. The note's signer name is the log's origin.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from ledger import verify_bundle
from vault import signing

# RFC 6962 §3.5: version v1 (0), signature type tree_hash (1); TLS SignatureScheme ed25519 (0x0807).
_TREE_HEAD = struct.Struct(">BBQQ")
ED25519_SIGNATURE_SCHEME = 0x0807


def log_origin() -> str:
    """The log's name, first line of every checkpoint: LEDGER_ORIGIN or '<public host>/ledger'."""
    if settings.LEDGER_ORIGIN:
        return str(settings.LEDGER_ORIGIN)
    return f"{urlsplit(settings.PUBLIC_BASE_URL).hostname or 'localhost'}/ledger"


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    key_id: str
    note: str


def tree_head_sign(tree_size: int, root_hash: bytes, timestamp_ms: int) -> SignedTreeHead:
    origin = log_origin()
    body = verify_bundle.checkpoint_body(origin, tree_size, root_hash, timestamp_ms)
    ring = signing.configured_signing_keys()
    key_id, signature = ring.sign(body.encode())
    key_hash = verify_bundle.note_key_hash(origin, ring.public_keys()[key_id])
    note = body + "\n" + verify_bundle.note_signature_line(origin, key_hash, signature)
    return SignedTreeHead(tree_size, root_hash, timestamp_ms, key_id, note)


def tree_head_signature_input(tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    return _TREE_HEAD.pack(0, 1, timestamp_ms, tree_size) + root_hash


def tree_head_signature(tree_size: int, root_hash: bytes, timestamp_ms: int) -> tuple[str, str]:
    """(key id, base64 DigitallySigned) over RFC 6962's TreeHeadSignature, as get-sth serves it."""
    key_id, signature = signing.sign(tree_head_signature_input(tree_size, root_hash, timestamp_ms))
    digitally_signed = struct.pack(">HH", ED25519_SIGNATURE_SCHEME, len(signature)) + signature
    return key_id, base64.b64encode(digitally_signed).decode()
