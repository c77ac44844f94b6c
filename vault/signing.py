"""Ed25519 signatures made with the service's keys: what it signs, anyone can check offline.

`SIGNING_KEYS` = "kid:base64(32-byte raw private key)[,kid:...]". The first entry signs; every entry's
public key still verifies, so a key is rotated by putting a new one first and keeping the old one
after it for as long as documents it signed should verify (the same rotation as VAULT_MASTER_KEYS).
Only public keys leave the process: the public key ring is what a verifier needs. When a key's private
half is destroyed, its public half can stay in `SIGNING_RETIRED_PUBLIC_KEYS`, so what it signed still
verifies (and stays published) without the key being able to sign anything new.

This module knows nothing of what is signed (deletion receipts, audit checkpoints): callers pass the
exact bytes, normally canonical JSON, and store the key id next to the signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from vault.crypto import KeyConfigurationError, VaultError

__all__ = [
    "BadSignature",
    "KeyConfigurationError",
    "PublicKeyRing",
    "SignatureError",
    "SigningKeyRing",
    "UnknownKeyId",
    "b64url_decode",
    "b64url_encode",
    "configured_public_keys",
    "configured_signing_keys",
    "public_key_from_b64",
    "public_key_to_b64",
    "public_keys_from_json",
    "public_keys_to_json",
    "reset_signing_key_cache",
    "sign",
    "verify",
]

PRIVATE_KEY_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
# Same alphabet as master key ids: safe in a header, a file name and a JSON document.
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")

PublicKeyRing = Mapping[str, Ed25519PublicKey]


class SignatureError(VaultError):
    """A signature does not verify. Messages name key ids only, never key material or the message."""


class UnknownKeyId(SignatureError):
    pass


class BadSignature(SignatureError):
    pass


@dataclass(frozen=True)
class SigningKeyRing:
    """The active private key (signs) and older ones kept so their public keys still verify."""

    active_id: str
    keys: dict[str, Ed25519PrivateKey] = field(repr=False)

    @classmethod
    def parse(cls, spec: str) -> SigningKeyRing:
        """Parse "kid:base64key[,kid:base64key...]"; the first entry is the active key."""
        keys: dict[str, Ed25519PrivateKey] = {}
        for position, entry in enumerate(part.strip() for part in spec.split(",") if part.strip()):
            kid, sep, encoded = entry.partition(":")
            if not sep or not KEY_ID_PATTERN.match(kid):
                raise KeyConfigurationError(f"signing key #{position + 1}: expected 'key-id:base64-key'")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise KeyConfigurationError(f"signing key {kid!r}: not valid base64") from exc
            if len(raw) != PRIVATE_KEY_BYTES:
                raise KeyConfigurationError(
                    f"signing key {kid!r}: must decode to {PRIVATE_KEY_BYTES} bytes (raw Ed25519 private key)"
                )
            if kid in keys:
                raise KeyConfigurationError(f"signing key id {kid!r} appears twice")
            keys[kid] = Ed25519PrivateKey.from_private_bytes(raw)
        if not keys:
            raise KeyConfigurationError("no signing key configured")
        return cls(active_id=next(iter(keys)), keys=keys)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {kid: key.public_key() for kid, key in self.keys.items()}

    def sign(self, message: bytes) -> tuple[str, bytes]:
        return self.active_id, self.keys[self.active_id].sign(message)


@functools.cache
def configured_signing_keys() -> SigningKeyRing:
    """The ring from settings.SIGNING_KEYS; raises KeyConfigurationError when it is missing or malformed."""
    return SigningKeyRing.parse(settings.SIGNING_KEYS)


def configured_public_keys() -> dict[str, Ed25519PublicKey]:
    """Every key that verifies: the signing keys', and the retired ones' kept for verifying only."""
    return {**configured_retired_public_keys(), **configured_signing_keys().public_keys()}


@functools.cache
def configured_retired_public_keys() -> dict[str, Ed25519PublicKey]:
    """`SIGNING_RETIRED_PUBLIC_KEYS`: keys whose private half is destroyed, kept so that what they
    signed still verifies here and in `/receipts/public-keys.json`."""
    return parse_retired_public_keys(settings.SIGNING_RETIRED_PUBLIC_KEYS)


def parse_retired_public_keys(spec: str) -> dict[str, Ed25519PublicKey]:
    """ "kid:base64(raw public key)[,...]"; KeyConfigurationError when malformed."""
    ring: dict[str, Ed25519PublicKey] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID_PATTERN.match(kid):
            raise KeyConfigurationError("retired public keys: each entry is kid:base64(public key)")
        if kid in ring:
            raise KeyConfigurationError(f"retired public keys: key id {kid!r} appears twice")
        try:
            ring[kid] = public_key_from_b64(encoded)
        except KeyConfigurationError as exc:
            raise KeyConfigurationError(
                f"retired public key {kid!r}: {str(exc).removeprefix('public key: ')}"
            ) from exc
    return ring


def reset_signing_key_cache() -> None:
    """For tests and key rotation: forget the parsed ring so settings are read again."""
    configured_signing_keys.cache_clear()
    configured_retired_public_keys.cache_clear()


def sign(message: bytes, *, ring: SigningKeyRing | None = None) -> tuple[str, bytes]:
    """Sign `message` with the active key; returns (key id, 64-byte signature)."""
    return (ring or configured_signing_keys()).sign(message)


def verify(message: bytes, *, key_id: str, signature: bytes, public_keys: PublicKeyRing) -> None:
    """Return quietly when `signature` is `key_id`'s over `message`; raise a SignatureError otherwise."""
    public_key = public_keys.get(key_id)
    if public_key is None:
        raise UnknownKeyId(f"key id {key_id!r} is not among the public keys used to check")
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignature(f"a signature is {SIGNATURE_BYTES} bytes; this one is {len(signature)}")
    try:
        public_key.verify(signature, message)
    except InvalidSignature as exc:
        raise BadSignature(f"the signature does not match the content for key {key_id!r}") from exc


# --- Encodings ------------------------------------------------------------------------------------
# Signatures travel as unpadded base64url (safe in URLs and JSON); public keys as standard base64,
# like the keys in the environment.


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError on any other character or a non-canonical form.

    Canonical only: the unused low bits of the last character must be zero, so one value has exactly one
    encoding and a changed character always means a changed value.
    """
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    try:
        data = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if b64url_encode(data) != stripped:
        raise ValueError("not base64url (non-canonical encoding)")
    return data


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def public_key_from_b64(encoded: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigurationError("public key: not valid base64") from exc
    if len(raw) != PUBLIC_KEY_BYTES:
        raise KeyConfigurationError(f"public key: must decode to {PUBLIC_KEY_BYTES} bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_keys_to_json(keys: PublicKeyRing) -> dict[str, str]:
    """{key id: base64 raw public key}: the published form, for offline verifiers."""
    return {kid: public_key_to_b64(key) for kid, key in keys.items()}


def public_keys_from_json(data: object) -> dict[str, Ed25519PublicKey]:
    """The inverse of public_keys_to_json, for a downloaded ring; KeyConfigurationError if malformed."""
    if not isinstance(data, dict) or not data:
        raise KeyConfigurationError("public keys: expected a JSON object of key id to base64 public key")
    ring: dict[str, Ed25519PublicKey] = {}
    for kid, encoded in data.items():
        if not isinstance(kid, str) or not KEY_ID_PATTERN.match(kid) or not isinstance(encoded, str):
            raise KeyConfigurationError("public keys: expected a JSON object of key id to base64 public key")
        try:
            ring[kid] = public_key_from_b64(encoded)
        except KeyConfigurationError as exc:
            reason = str(exc).removeprefix("public key: ")
            raise KeyConfigurationError(f"public key {kid!r}: {reason}") from exc
    return ring
