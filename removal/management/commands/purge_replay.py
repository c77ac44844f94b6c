from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from removal.services.common import SYSTEM
from removal.services.replay import purge_replay


class Command(BaseCommand):
    help = (
        "After restoring a database backup: delete again what the purges since the backup deleted. "
        "Reads the erasure journal (every purge that began since then, even one the backup knows "
        "nothing of) and the restored database (every request completed since then). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            # The earlier name: replaying only the requests the restored database shows completed.
            "--completed-since",
            dest="since",
            required=True,
            help="ISO 8601 date or date-time with a zone: when the restored backup was taken",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = _moment(options["since"])
        report = purge_replay(since=since, actor=SYSTEM)
        self.stdout.write(
            f"Since {since.isoformat()}: {report.requests} request(s) purged again "
            f"({report.approvals_restored} of them approved after the backup, back to purging); "
            f"a running worker and beat take their jobs."
        )
        self.stdout.write(
            f"{report.requests_not_in_backup} request(s) the backup does not hold: "
            f"{report.items_deleted_at_once} gallery item(s) deleted again at once."
        )


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since: not an ISO 8601 date or date-time: {text!r}") from None
    if timezone.is_naive(moment):
        if "T" in text or " " in text:
            raise CommandError("--since: give the time zone (e.g. +00:00), or a date alone")
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment
