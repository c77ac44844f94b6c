from __future__ import annotations

from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Encrypted personal data"

    def ready(self) -> None:
        from vault import checks  # noqa: F401  (registers the key-configuration checks)
