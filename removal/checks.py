from __future__ import annotations

import re
from typing import Any

from django.core.checks import Error, register

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
