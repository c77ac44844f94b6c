from __future__ import annotations

from django.apps import AppConfig


class RemovalConfig(AppConfig):
    name = "removal"
    verbose_name = "Removal requests"

    def ready(self) -> None:
        from removal import checks  # noqa: F401  (registers the deadline-policy and purge-target checks)
