from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from removal.services.retention import RetentionFailed, request_records_minimise


class Command(BaseCommand):
    help = (
        "Minimise the records of requests closed more than REQUEST_RECORD_RETENTION_MONTHS ago (beat runs "
        "this nightly). Exits non-zero, naming the references, when a record cannot be minimised."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=5000)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = request_records_minimise(limit=options["limit"])
        except RetentionFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{len(result.minimised)} record(s) minimised")
