from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from vault.services import data_key_rewrap_all


class Command(BaseCommand):
    help = (
        "Re-wrap every data key under the active (first) master key in VAULT_MASTER_KEYS. Run after "
        "adding a new master key in front; then the old one can be removed from the list."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = data_key_rewrap_all()
        self.stdout.write(f"re-wrapped {count} data key(s)")
