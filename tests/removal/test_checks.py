from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from removal.checks import check_deadline_policy, check_purge_targets, check_trusted_proxy_count
from removal.targets import PurgeContext, PurgeTarget
from removal.targets.face_index import PhotoFiles
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


class _BadCategory(PhotoFiles):
    name = "bad_category"
    category = "Photos of Me"


class _Incomplete(PurgeTarget):
    """Forgets `remaining`: the job could never be checked done."""

    name = "incomplete"
    category = "incomplete"

    def plan(self, ctx: PurgeContext) -> list[str]:
        return []

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        pass


def test_a_purge_target_that_cannot_be_loaded_stops_the_service(settings: Any) -> None:
    # The registry is cached per list of paths: another list is loaded afresh.
    settings.PURGE_EXTRA_TARGETS = ["removal.targets.face_index.NoSuchTarget"]
    [error] = check_purge_targets(None)
    assert error.id == "removal.E002" and "NoSuchTarget" in error.msg


def test_a_purge_target_whose_category_is_not_a_receipt_code_stops_the_service(settings: Any) -> None:
    settings.PURGE_EXTRA_TARGETS = ["tests.removal.test_checks._BadCategory"]
    [error] = check_purge_targets(None)
    assert error.id == "removal.E003" and "Photos of Me" in error.msg


def test_a_purge_target_missing_a_method_stops_the_service(settings: Any) -> None:
    settings.PURGE_EXTRA_TARGETS = ["tests.removal.test_checks._Incomplete"]
    [error] = check_purge_targets(None)
    assert error.id == "removal.E002" and "remaining" in error.msg


def test_the_built_in_purge_targets_pass_the_check() -> None:
    assert check_purge_targets(None) == []


def test_a_proxy_deployment_that_trusts_no_proxy_is_warned_and_a_bad_depth_refused(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.TRUSTED_PROXY_COUNT = 0
    assert check_trusted_proxy_count(None) == []
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    [warning] = check_trusted_proxy_count(None)
    assert warning.id == "removal.W001" and "TRUSTED_PROXY_COUNT" in warning.msg
    settings.TRUSTED_PROXY_COUNT = 1
    assert check_trusted_proxy_count(None) == []
    settings.TRUSTED_PROXY_COUNT = -1
    assert [e.id for e in check_trusted_proxy_count(None)] == ["removal.E004"]
