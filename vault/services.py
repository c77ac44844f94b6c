"""Data keys and sealed fields. Other apps encrypt and decrypt personal data only through here."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from vault import crypto, signing
from vault.crypto import DecryptionError, VaultError
from vault.models import DataKey

__all__ = [
    "DataKeyShredded",
    "DecryptionError",
    "Sealer",
    "VaultError",
    "blind_index",
    "data_key_create",
    "data_key_rewrap_all",
    "data_key_shred",
    "sealer_for",
]


class DataKeyShredded(VaultError):
    pass


@functools.cache
def _master_keys() -> crypto.MasterKeyRing:
    return crypto.MasterKeyRing.parse(settings.VAULT_MASTER_KEYS)


@functools.cache
def _blind_index_key() -> bytes:
    return crypto.decode_key(settings.VAULT_BLIND_INDEX_KEY, name="VAULT_BLIND_INDEX_KEY")


def reset_key_caches() -> None:
    """For tests and key rotation: forget the parsed keys so settings are read again."""
    _master_keys.cache_clear()
    _blind_index_key.cache_clear()
    signing.reset_signing_key_cache()


def blind_index(value: str, *, purpose: str) -> str:
    return crypto.blind_index(_blind_index_key(), value, purpose=purpose)


def _wrap(data_key_id: str, key: bytes) -> tuple[str, bytes]:
    ring = _master_keys()
    aad = crypto.wrap_aad(data_key_id=data_key_id, master_key_id=ring.active_id)
    return ring.active_id, crypto.seal(ring.keys[ring.active_id], key, aad=aad)


def _unwrap(data_key: DataKey) -> bytes:
    if data_key.wrapped_key is None:
        raise DataKeyShredded("this data key was shredded; the values it sealed are gone")
    ring = _master_keys()
    master = ring.keys.get(data_key.master_key_id)
    if master is None:
        raise VaultError(f"master key {data_key.master_key_id!r} is not configured")
    aad = crypto.wrap_aad(data_key_id=str(data_key.id), master_key_id=data_key.master_key_id)
    return crypto.open_sealed(master, bytes(data_key.wrapped_key), aad=aad)


def data_key_create(*, purpose: str) -> DataKey:
    data_key = DataKey(purpose=purpose)
    data_key.master_key_id, data_key.wrapped_key = _wrap(str(data_key.id), crypto.new_data_key())
    data_key.save(force_insert=True)
    return data_key


def data_key_shred(*, data_key: DataKey) -> bool:
    """Destroy the key. Returns False if it was already shredded (idempotent)."""
    now = timezone.now()
    updated = DataKey.objects.filter(id=data_key.id, shredded_at__isnull=True).update(
        wrapped_key=None, master_key_id="", shredded_at=now
    )
    data_key.wrapped_key, data_key.master_key_id = None, ""
    data_key.shredded_at = data_key.shredded_at or now
    return updated == 1


def data_key_rewrap_all(*, batch_size: int = 500) -> int:
    """Re-wrap every live data key under the active master key, so older master keys can be retired."""
    active = _master_keys().active_id
    done = 0
    while True:
        with transaction.atomic():
            batch = list(
                DataKey.objects.select_for_update(skip_locked=True)
                .filter(shredded_at__isnull=True)
                .exclude(master_key_id=active)[:batch_size]
            )
            if not batch:
                return done
            for data_key in batch:
                data_key.master_key_id, data_key.wrapped_key = _wrap(str(data_key.id), _unwrap(data_key))
                data_key.save(update_fields=["master_key_id", "wrapped_key"])
            done += len(batch)


@dataclass(frozen=True)
class Sealer:
    """Seals and opens one owner's fields; the associated data pins each value to its table/column/row."""

    key: bytes

    def seal(self, value: str, *, table: str, column: str, row_id: object) -> bytes:
        return self.seal_bytes(value.encode(), table=table, column=column, row_id=row_id)

    def open(self, sealed: bytes | memoryview, *, table: str, column: str, row_id: object) -> str:
        return self.open_bytes(sealed, table=table, column=column, row_id=row_id).decode()

    def seal_bytes(self, value: bytes, *, table: str, column: str, row_id: object) -> bytes:
        aad = crypto.field_aad(table=table, column=column, row_id=str(row_id))
        return crypto.seal(self.key, value, aad=aad)

    def open_bytes(self, sealed: bytes | memoryview, *, table: str, column: str, row_id: object) -> bytes:
        aad = crypto.field_aad(table=table, column=column, row_id=str(row_id))
        return crypto.open_sealed(self.key, bytes(sealed), aad=aad)


def sealer_for(data_key: DataKey) -> Sealer:
    return Sealer(key=_unwrap(data_key))
