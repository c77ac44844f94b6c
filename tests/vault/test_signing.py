from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from vault import signing
from vault.checks import check_signing_keys
from vault.crypto import KeyConfigurationError

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()
MESSAGE = b'{"reference":"RR-ABCD-EFGH"}'


def test_signature_from_the_active_key_verifies_with_its_public_key() -> None:
    ring = signing.SigningKeyRing.parse(f"k1:{KEY_A}")
    kid, signature = signing.sign(MESSAGE, ring=ring)
    assert kid == "k1" and len(signature) == 64
    signing.verify(MESSAGE, key_id=kid, signature=signature, public_keys=ring.public_keys())


def test_any_change_to_the_message_or_the_signature_is_refused() -> None:
    ring = signing.SigningKeyRing.parse(f"k1:{KEY_A}")
    kid, signature = ring.sign(MESSAGE)
    with pytest.raises(signing.BadSignature):
        signing.verify(MESSAGE + b" ", key_id=kid, signature=signature, public_keys=ring.public_keys())
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(signing.BadSignature):
        signing.verify(MESSAGE, key_id=kid, signature=flipped, public_keys=ring.public_keys())
    with pytest.raises(signing.BadSignature, match="64 bytes"):
        signing.verify(MESSAGE, key_id=kid, signature=signature[:-1], public_keys=ring.public_keys())


def test_a_signature_made_with_another_key_under_the_same_id_is_refused() -> None:
    ours = signing.SigningKeyRing.parse(f"k1:{KEY_A}")
    forger = signing.SigningKeyRing.parse(f"k1:{KEY_B}")
    kid, signature = forger.sign(MESSAGE)
    with pytest.raises(signing.BadSignature):
        signing.verify(MESSAGE, key_id=kid, signature=signature, public_keys=ours.public_keys())


def test_an_unknown_key_id_is_named_in_the_refusal() -> None:
    ring = signing.SigningKeyRing.parse(f"k1:{KEY_A}")
    _, signature = ring.sign(MESSAGE)
    with pytest.raises(signing.UnknownKeyId, match="'k9'"):
        signing.verify(MESSAGE, key_id="k9", signature=signature, public_keys=ring.public_keys())


def test_after_rotation_the_new_key_signs_and_the_old_keys_signatures_still_verify() -> None:
    before = signing.SigningKeyRing.parse(f"old:{KEY_A}")
    old_kid, old_signature = before.sign(MESSAGE)
    after = signing.SigningKeyRing.parse(f"new:{KEY_B}, old:{KEY_A}")
    assert after.active_id == "new" and after.sign(MESSAGE)[0] == "new"
    signing.verify(MESSAGE, key_id=old_kid, signature=old_signature, public_keys=after.public_keys())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no signing key"),
        ("nokey", "expected 'key-id:base64-key'"),
        ("bad id!:" + KEY_A, "expected 'key-id:base64-key'"),
        ("k1:not-base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "must decode to 32 bytes"),
        (f"k1:{KEY_A},k1:{KEY_B}", "appears twice"),
    ],
)
def test_bad_signing_key_configuration_is_explained_without_the_key(spec: str, message: str) -> None:
    with pytest.raises(KeyConfigurationError, match=message) as excinfo:
        signing.SigningKeyRing.parse(spec)
    assert KEY_A not in str(excinfo.value) and KEY_B not in str(excinfo.value)


def test_the_ring_never_shows_private_keys_in_its_repr() -> None:
    ring = signing.SigningKeyRing.parse(f"k1:{KEY_A}")
    assert repr(ring) == "SigningKeyRing(active_id='k1')"


def test_public_keys_round_trip_through_their_published_json() -> None:
    ring = signing.SigningKeyRing.parse(f"new:{KEY_B},old:{KEY_A}")
    published = json.loads(json.dumps(signing.public_keys_to_json(ring.public_keys())))
    assert list(published) == ["new", "old"]
    assert all(len(base64.b64decode(value)) == 32 for value in published.values())
    assert KEY_A not in published.values() and KEY_B not in published.values()
    kid, signature = ring.sign(MESSAGE)
    downloaded = signing.public_keys_from_json(published)
    signing.verify(MESSAGE, key_id=kid, signature=signature, public_keys=downloaded)


@pytest.mark.parametrize(
    "published",
    [[], {}, {"k1": 5}, {"bad id!": KEY_A}, {"k1": "not base64!"}, {"k1": base64.b64encode(b"x").decode()}],
)
def test_a_malformed_public_key_file_is_refused(published: object) -> None:
    with pytest.raises(KeyConfigurationError):
        signing.public_keys_from_json(published)


def test_base64url_round_trips_without_padding_and_refuses_other_alphabets() -> None:
    data = bytes(range(256))
    encoded = signing.b64url_encode(data)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert signing.b64url_decode(encoded) == data
    assert signing.b64url_decode(encoded + "=") == data
    one_byte = signing.b64url_encode(b"\xff")  # "_w": the last character carries 4 unused bits
    assert signing.b64url_decode(one_byte) == b"\xff"
    for bad in ("a+b/", "ab cd", "ab\n", "_x", "A"):
        with pytest.raises(ValueError, match="base64url"):
            signing.b64url_decode(bad)


def test_the_configured_ring_follows_the_settings(settings: Any) -> None:
    settings.SIGNING_KEYS = f"rotated:{KEY_B},k1:{KEY_A}"
    signing.reset_signing_key_cache()
    try:
        assert signing.sign(MESSAGE)[0] == "rotated"
        assert set(signing.configured_public_keys()) == {"rotated", "k1"}
    finally:
        signing.reset_signing_key_cache()


def test_missing_or_malformed_signing_keys_stop_the_service_in_production(settings: Any) -> None:
    assert check_signing_keys(None) == []
    settings.DEBUG = False
    settings.SIGNING_KEYS = ""
    assert [e.id for e in check_signing_keys(None)] == ["vault.E003"]
    settings.SIGNING_KEYS = "k1:short"
    [error] = check_signing_keys(None)
    assert error.id == "vault.E003" and "not valid base64" in error.msg


def test_missing_signing_keys_only_warn_on_a_development_machine(settings: Any) -> None:
    settings.DEBUG = True
    settings.SIGNING_KEYS = ""
    assert [e.id for e in check_signing_keys(None)] == ["vault.W001"]
    settings.SIGNING_KEYS = "k1:short"
    assert [e.id for e in check_signing_keys(None)] == ["vault.E003"]


@pytest.mark.parametrize("flags", [[], ["--dev"]])
def test_generated_environment_carries_a_fresh_valid_signing_key(flags: list[str]) -> None:
    import subprocess
    import sys

    def generated_key() -> str:
        output = subprocess.run(
            [sys.executable, "scripts/generate_env.py", *flags], capture_output=True, text=True, check=True
        ).stdout
        [line] = [line for line in output.splitlines() if line.startswith("SIGNING_KEYS=")]
        return line.removeprefix("SIGNING_KEYS=")

    first, second = generated_key(), generated_key()
    assert first != second
    assert signing.SigningKeyRing.parse(first).active_id.startswith("sk-")


def test_a_retired_public_key_still_verifies_what_it_signed_but_cannot_sign(settings: Any) -> None:
    old = signing.SigningKeyRing.parse(f"old-key:{KEY_B}")
    kid, signature = old.sign(b"a receipt from last year")
    public = signing.public_key_to_b64(old.public_keys()["old-key"])
    settings.SIGNING_RETIRED_PUBLIC_KEYS = f"old-key:{public}"
    signing.reset_signing_key_cache()
    try:
        keys = signing.configured_public_keys()
        signing.verify(b"a receipt from last year", key_id=kid, signature=signature, public_keys=keys)
        assert "old-key" in signing.public_keys_to_json(keys)
        assert signing.configured_signing_keys().active_id != "old-key"
        assert check_signing_keys(None) == []
    finally:
        signing.reset_signing_key_cache()


@pytest.mark.parametrize("spec", ["old-key", "old-key:not-base64!", "old key:AAAA"])
def test_a_malformed_retired_public_key_stops_the_service(settings: Any, spec: str) -> None:
    settings.SIGNING_RETIRED_PUBLIC_KEYS = spec
    try:
        [error] = check_signing_keys(None)
        assert error.id == "vault.E004"
    finally:
        signing.reset_signing_key_cache()


def test_a_key_cannot_be_both_signing_and_retired(settings: Any) -> None:
    ring = signing.configured_signing_keys()
    public = signing.public_key_to_b64(ring.public_keys()[ring.active_id])
    settings.SIGNING_RETIRED_PUBLIC_KEYS = f"{ring.active_id}:{public}"
    try:
        [error] = check_signing_keys(None)
        assert error.id == "vault.E004" and "still a signing key" in error.msg
    finally:
        signing.reset_signing_key_cache()
