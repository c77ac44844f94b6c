from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RemovalConfig(AppConfig):
    name = "removal"
    verbose_name = "Removal requests"

    def ready(self) -> None:
        from ledger.labels import register_object_labeller
        from removal import checks  # noqa: F401  (registers the deadline-policy and purge-target checks)
        from removal.roles import roles_sync
        from removal.selectors import request_references

        post_migrate.connect(roles_sync, sender=self, dispatch_uid="removal.roles_sync")
        register_object_labeller("removal_request", request_references)
