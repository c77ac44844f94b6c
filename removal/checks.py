from __future__ import annotations

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
