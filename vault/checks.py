from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from vault import crypto


@register(deploy=False)
def check_vault_keys(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    try:
        crypto.MasterKeyRing.parse(settings.VAULT_MASTER_KEYS)
    except crypto.KeyConfigurationError as exc:
        errors.append(Error(f"VAULT_MASTER_KEYS: {exc}", id="vault.E001"))
    try:
        crypto.decode_key(settings.VAULT_BLIND_INDEX_KEY, name="VAULT_BLIND_INDEX_KEY")
    except crypto.KeyConfigurationError as exc:
        errors.append(Error(str(exc), id="vault.E002"))
    return errors
