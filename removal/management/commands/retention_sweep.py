from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from removal.services.retention import RetentionFailed, retention_sweep


class Command(BaseCommand):
    help = (
        "Apply every retention rule now, as beat does nightly: minimise closed requests' records past "
        "REQUEST_RECORD_RETENTION_MONTHS, remove closed requests' headshots and candidate scores, expire "
        "suppression templates and the erasure journal's old days. Exits non-zero, naming what could "
        "not be done (records by reference), when any part fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=5000, help="records minimised per run, at most")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = retention_sweep(limit=options["limit"])
        except RetentionFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary())
