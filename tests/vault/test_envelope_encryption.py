from __future__ import annotations

import base64

import pytest

from vault import crypto
from vault.models import DataKey
from vault.services import (
    DataKeyShredded,
    DecryptionError,
    data_key_create,
    data_key_rewrap_all,
    data_key_shred,
    reset_key_caches,
    sealer_for,
)

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def test_sealed_value_opens_only_in_its_own_table_column_and_row() -> None:
    key = crypto.new_data_key()
    aad = crypto.field_aad(table="t", column="email_enc", row_id="1")
    sealed = crypto.seal(key, b"zoe@example.org", aad=aad)

    assert b"zoe" not in sealed
    assert crypto.open_sealed(key, sealed, aad=aad) == b"zoe@example.org"
    for other in (
        crypto.field_aad(table="t", column="email_enc", row_id="2"),
        crypto.field_aad(table="t", column="name_enc", row_id="1"),
        crypto.field_aad(table="u", column="email_enc", row_id="1"),
    ):
        with pytest.raises(DecryptionError):
            crypto.open_sealed(key, sealed, aad=other)


def test_same_plaintext_seals_differently_each_time() -> None:
    key = crypto.new_data_key()
    aad = b"x"
    assert crypto.seal(key, b"same", aad=aad) != crypto.seal(key, b"same", aad=aad)


def test_tampered_or_truncated_ciphertext_is_refused() -> None:
    key = crypto.new_data_key()
    sealed = bytearray(crypto.seal(key, b"secret", aad=b"a"))
    sealed[-1] ^= 1
    with pytest.raises(DecryptionError):
        crypto.open_sealed(key, bytes(sealed), aad=b"a")
    with pytest.raises(DecryptionError):
        crypto.open_sealed(key, b"\x01short", aad=b"a")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no master key"),
        ("nokey", "expected 'key-id:base64-key'"),
        ("k1:not-base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "must decode to 32 bytes"),
        (f"k1:{KEY_A},k1:{KEY_B}", "appears twice"),
    ],
)
def test_bad_master_key_configuration_is_explained_without_the_key(spec: str, message: str) -> None:
    with pytest.raises(crypto.KeyConfigurationError, match=message) as excinfo:
        crypto.MasterKeyRing.parse(spec)
    assert KEY_A not in str(excinfo.value)


def test_first_master_key_is_active() -> None:
    ring = crypto.MasterKeyRing.parse(f"new:{KEY_B}, old:{KEY_A}")
    assert ring.active_id == "new"
    assert set(ring.keys) == {"new", "old"}


def test_blind_index_is_keyed() -> None:
    assert crypto.blind_index(b"k" * 32, "a@b.c", purpose="email") != crypto.blind_index(
        b"j" * 32, "a@b.c", purpose="email"
    )
    assert crypto.blind_index(b"k" * 32, "a@b.c", purpose="email") != crypto.blind_index(
        b"k" * 32, "a@b.c", purpose="phone"
    )


@pytest.fixture
def master_keys(settings: pytest.FixtureRequest) -> object:
    def use(spec: str) -> None:
        settings.VAULT_MASTER_KEYS = spec  # type: ignore[attr-defined]
        reset_key_caches()

    yield use
    reset_key_caches()


@pytest.mark.django_db
def test_data_key_is_stored_only_wrapped() -> None:
    data_key = data_key_create(purpose="test")
    stored = DataKey.objects.get(id=data_key.id)
    sealer = sealer_for(stored)
    assert stored.wrapped_key is not None
    assert bytes(stored.wrapped_key) != sealer.key
    assert sealer.key not in bytes(stored.wrapped_key)


@pytest.mark.django_db
def test_master_key_rotation_rewraps_and_old_values_still_open(master_keys) -> None:
    master_keys(f"old:{KEY_A}")
    data_key = data_key_create(purpose="test")
    sealed = sealer_for(data_key).seal("Zoë", table="t", column="c", row_id="1")

    master_keys(f"new:{KEY_B},old:{KEY_A}")
    assert data_key_rewrap_all() == 1
    data_key.refresh_from_db()
    assert data_key.master_key_id == "new"

    master_keys(f"new:{KEY_B}")  # the old master key is retired
    assert sealer_for(data_key).open(sealed, table="t", column="c", row_id="1") == "Zoë"
    assert data_key_rewrap_all() == 0


@pytest.mark.django_db
def test_shredded_key_makes_its_values_unreadable_and_shredding_twice_is_harmless() -> None:
    data_key = data_key_create(purpose="test")
    sealed = sealer_for(data_key).seal("Zoë", table="t", column="c", row_id="1")

    assert data_key_shred(data_key=data_key) is True
    assert data_key_shred(data_key=data_key) is False
    stored = DataKey.objects.get(id=data_key.id)
    assert stored.wrapped_key is None and stored.is_shredded
    with pytest.raises(DataKeyShredded):
        sealer_for(stored).open(sealed, table="t", column="c", row_id="1")
