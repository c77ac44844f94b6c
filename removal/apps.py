from __future__ import annotations

from django.apps import AppConfig


class RemovalConfig(AppConfig):
    name = "removal"
    verbose_name = "Removal requests"
