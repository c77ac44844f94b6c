from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.exports import ExportError, export_period, request_log_export
from ledger.services import ledger_sequence


class Command(BaseCommand):
    help = (
        "Write the request log of a period (requests received from --since to the end of --until, UTC) "
        "as a signed bundle a regulator checks offline with ledger/verify_bundle.py (docs/regulators.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument("--until", required=True, help="last day, YYYY-MM-DD (UTC), included")
        parser.add_argument(
            "--jurisdiction", action="append", default=[], metavar="CODE", help="e.g. FR, EU, US-CA"
        )
        parser.add_argument("--out", required=True, type=Path, help="a new (or empty) directory")
        parser.add_argument(
            "--consistent-with",
            action="append",
            type=int,
            default=[],
            metavar="SIZE",
            help="add a consistency proof from this earlier tree size (a checkpoint the regulator holds)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since, until = export_period(options["since"], options["until"])
            # What is waiting now goes into the checkpoint the bundle is cut at.
            while ledger_sequence().sequenced:
                pass
            result = request_log_export(
                since=since,
                until=until,
                jurisdictions=options["jurisdiction"],
                out_dir=options["out"],
                consistent_with=options["consistent_with"],
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{result.rows} request(s), {result.entries} log entries, cut at the checkpoint of size "
            f"{result.tree_size}: {result.directory}"
        )
