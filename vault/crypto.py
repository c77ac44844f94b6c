"""Envelope encryption primitives: pure functions, no database.

A *data key* (32 random bytes, one per owner such as a removal request) seals that owner's fields with
AES-256-GCM. Data keys are stored only *wrapped* by a master key from the environment. The associated
data of every ciphertext names its table, column and row, so a ciphertext copied into another row or
column fails to open instead of leaking that row's plaintext under another identity.

Sealed format: b"\\x01" | 12-byte nonce | ciphertext+tag. The version byte is part of the associated
data, so it cannot be swapped either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class VaultError(Exception):
    """Base class; messages never contain plaintext or key material."""


class KeyConfigurationError(VaultError):
    pass


class DecryptionError(VaultError):
    pass


@dataclass(frozen=True)
class MasterKeyRing:
    """The active master key (wraps new data keys) and older ones still accepted for unwrapping."""

    active_id: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> MasterKeyRing:
        """Parse "kid:base64key[,kid:base64key...]"; the first entry is the active key."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for position, entry in enumerate(part.strip() for part in spec.split(",") if part.strip()):
            kid, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.match(kid):
                raise KeyConfigurationError(f"master key #{position + 1}: expected 'key-id:base64-key'")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise KeyConfigurationError(f"master key {kid!r}: not valid base64") from exc
            if len(key) != KEY_BYTES:
                raise KeyConfigurationError(f"master key {kid!r}: must decode to {KEY_BYTES} bytes")
            if kid in keys:
                raise KeyConfigurationError(f"master key id {kid!r} appears twice")
            keys[kid] = key
            order.append(kid)
        if not order:
            raise KeyConfigurationError("no master key configured")
        return cls(active_id=order[0], keys=keys)


def decode_key(encoded: str, *, name: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise KeyConfigurationError(f"{name}: not valid base64") from exc
    if len(key) < KEY_BYTES:
        raise KeyConfigurationError(f"{name}: must decode to at least {KEY_BYTES} bytes")
    return key


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return FORMAT_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, FORMAT_VERSION + aad)


def open_sealed(key: bytes, sealed: bytes, *, aad: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != FORMAT_VERSION:
        raise DecryptionError("not a sealed value of a known format")
    nonce = sealed[1 : 1 + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[1 + _NONCE_BYTES :], FORMAT_VERSION + aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not open with this key and context") from exc


def field_aad(*, table: str, column: str, row_id: str) -> bytes:
    return f"field|{table}|{column}|{row_id}".encode()


def wrap_aad(*, data_key_id: str, master_key_id: str) -> bytes:
    return f"datakey|{data_key_id}|{master_key_id}".encode()


def blind_index(key: bytes, value: str, *, purpose: str) -> str:
    """Keyed hash for equality lookups (e-mail). Without the key it cannot be brute-forced offline."""
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
