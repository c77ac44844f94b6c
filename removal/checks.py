from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from removal.deadlines import policy_from_settings


@register()
def check_deadline_policy(app_configs: Any, **kwargs: Any) -> list[Error]:
    """A malformed policy would shift legal deadlines: refuse to start instead of failing at intake."""
    try:
        policy_from_settings()
    except ValueError as exc:
        return [
            Error(
                f"DEADLINE_POLICY: {exc}",
                hint="See the DEADLINE_* variables in the README.",
                id="removal.E001",
            )
        ]
    return []


@register()
def check_purge_targets(app_configs: Any, **kwargs: Any) -> list[Error]:
    """A target that cannot be loaded would fail every purge at approval: refuse to start instead."""
    # Imported when checked: the registry imports the services, which need the app registry ready.
    from removal.targets import purge_targets

    try:
        targets = purge_targets()
    except (ImportError, TypeError, ValueError) as exc:
        return [
            Error(
                f"PURGE_TARGETS / PURGE_EXTRA_TARGETS: {exc}",
                hint="Name removal.targets.PurgeTarget subclasses by dotted path (docs/purge.md).",
                id="removal.E002",
            )
        ]
    # The category is a code in the signed receipt: lower-case letters, digits and underscores.
    return [
        Error(
            f"purge target {name!r}: category {target.category!r} is not a receipt category code",
            hint="Use lower-case letters, digits and underscores, starting with a letter (at most 40).",
            id="removal.E003",
        )
        for name, target in targets.items()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", target.category)
    ]


@register()
def check_trusted_proxy_count(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    """Behind a proxy with no proxy trusted, every client would share the proxy's rate-limit budget."""
    depth = settings.TRUSTED_PROXY_COUNT
    if not isinstance(depth, int) or depth < 0:
        return [
            Error(
                f"TRUSTED_PROXY_COUNT must be a whole number of proxies, 0 or more (got {depth!r})",
                id="removal.E004",
            )
        ]
    if settings.SECURE_PROXY_SSL_HEADER and depth == 0:
        return [
            Warning(
                "DJANGO_BEHIND_PROXY=1 but TRUSTED_PROXY_COUNT=0: every client is counted as the proxy, "
                "so one busy client exhausts every rate limit for all",
                hint="Set TRUSTED_PROXY_COUNT to the number of reverse proxies in front of the service.",
                id="removal.W001",
            )
        ]
    return []
