from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from vault import crypto, signing


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


@register(deploy=False)
def check_signing_keys(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Without a signing key no deletion receipt can be issued: refuse to start rather than fail then.

    A development machine whose `.env` predates the setting only gets a warning, so `make run` still
    starts; a malformed key is an error everywhere.
    """
    hint = "python3 scripts/generate_env.py prints a fresh SIGNING_KEYS line."
    if not settings.SIGNING_KEYS.strip() and settings.DEBUG:
        return [
            Warning("SIGNING_KEYS is empty: deletion receipts cannot be issued.", hint=hint, id="vault.W001")
        ]
    try:
        ring = signing.SigningKeyRing.parse(settings.SIGNING_KEYS)
    except crypto.KeyConfigurationError as exc:
        return [Error(f"SIGNING_KEYS: {exc}", hint=hint, id="vault.E003")]
    try:
        retired = signing.parse_retired_public_keys(settings.SIGNING_RETIRED_PUBLIC_KEYS)
    except crypto.KeyConfigurationError as exc:
        return [Error(f"SIGNING_RETIRED_PUBLIC_KEYS: {exc}", id="vault.E004")]
    if clash := sorted(set(retired) & set(ring.keys)):
        return [
            Error(
                f"SIGNING_RETIRED_PUBLIC_KEYS: {', '.join(clash)} is still a signing key",
                hint="A key id is either signing (SIGNING_KEYS) or retired, not both.",
                id="vault.E004",
            )
        ]
    return []
