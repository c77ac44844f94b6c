from __future__ import annotations

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Identity verification (issue: in-memory ID checks). Knows nothing of removal states."""

    name = "identity"
    verbose_name = "Identity verification"
