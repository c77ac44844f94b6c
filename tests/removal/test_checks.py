from __future__ import annotations

from typing import Any

from removal.checks import check_deadline_policy
from vault.checks import check_vault_keys


def test_malformed_deadline_policy_stops_the_service_from_starting(settings: Any) -> None:
    assert check_deadline_policy(None) == []
    settings.DEADLINE_POLICY = {"holidays": ["2026-13-01"]}
    [error] = check_deadline_policy(None)
    assert error.id == "removal.E001" and "DEADLINE_POLICY" in error.msg


def test_malformed_vault_keys_stop_the_service_from_starting(settings: Any) -> None:
    assert check_vault_keys(None) == []
    settings.VAULT_MASTER_KEYS = "k1:short"
    settings.VAULT_BLIND_INDEX_KEY = "!!"
    assert [e.id for e in check_vault_keys(None)] == ["vault.E001", "vault.E002"]
