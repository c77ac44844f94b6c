from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from removal.services.common import SYSTEM
from removal.services.purge import purge_jobs_replay


class Command(BaseCommand):
    help = (
        "After restoring a database backup: run again the purge jobs of every request completed since "
        "the backup was taken, so that nothing they deleted comes back. Idempotent; the requests stay "
        "completed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--completed-since",
            required=True,
            help="ISO 8601 date or date-time with a zone: when the restored backup was taken",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = _moment(options["completed_since"])
        replayed = purge_jobs_replay(completed_since=since, actor=SYSTEM)
        self.stdout.write(
            f"{replayed} completed request(s) since {since.isoformat()}: their purge jobs run again "
            "(a running worker and beat take them)"
        )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--completed-since: not an ISO 8601 date or date-time: {text!r}") from None
    if timezone.is_naive(moment):
        if "T" in text or " " in text:
            raise CommandError("--completed-since: give the time zone (e.g. +00:00), or a date alone")
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment
