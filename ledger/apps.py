from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Verifiable request log"

    def ready(self) -> None:
        from ledger import checks  # noqa: F401  (registers the log's configuration checks)
