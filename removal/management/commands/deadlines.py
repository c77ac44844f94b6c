"""``manage.py deadlines``: the statutory deadlines of a hypothetical request, as JSON.

For operators and counsel checking the arithmetic of ``docs/spec/deadlines.md`` without creating a
request. Every failure is a single line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from removal.deadlines import JURISDICTIONS, RIGHTS, compute_deadlines, policy_from_settings


class Command(BaseCommand):
    help = (
        "Print acknowledge_by, respond_by and respond_by_extended of a request as JSON, each an "
        "ISO 8601 instant in the zone of the jurisdiction that set it, or null."
    )
    # Pure arithmetic: it must keep answering even while unrelated system checks fail.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # argparse puts a usage line before its own errors; every failure here stays one line.
        parser.print_usage = lambda file=None: None  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--jurisdiction",
            action="append",
            default=[],
            metavar="CODE",
            help=f"Repeat for several. One of: {', '.join(JURISDICTIONS)}.",
        )
        parser.add_argument("--right", metavar="RIGHT", help=f"One of: {', '.join(RIGHTS)}.")
        parser.add_argument(
            "--received",
            metavar="INSTANT",
            help="Receipt, ISO 8601 with a UTC offset, e.g. 2026-01-31T10:00:00+00:00.",
        )
        parser.add_argument(
            "--identity-requested",
            metavar="INSTANT",
            help="When identity information was asked for (EU soft pause).",
        )
        parser.add_argument(
            "--identity-received",
            metavar="INSTANT",
            help="When the identity information asked for arrived (GB, EU soft pause).",
        )
        parser.add_argument(
            "--identity-doubt-recorded",
            action="store_true",
            help="A reasonable doubt about identity was recorded (EU soft pause).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["jurisdiction"]:
            raise CommandError(f"--jurisdiction is required (one of: {', '.join(JURISDICTIONS)})")
        if not options["right"]:
            raise CommandError(f"--right is required (one of: {', '.join(RIGHTS)})")
        received_at = _parse_instant("--received", options["received"])
        if received_at is None:
            raise CommandError("--received is required, e.g. 2026-01-31T10:00:00+00:00")
        try:
            deadlines = compute_deadlines(
                jurisdictions=options["jurisdiction"],
                right=options["right"],
                received_at=received_at,
                identity_requested_at=_parse_instant("--identity-requested", options["identity_requested"]),
                identity_received_at=_parse_instant("--identity-received", options["identity_received"]),
                identity_doubt_recorded=options["identity_doubt_recorded"],
                policy=policy_from_settings(),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        payload = {
            "acknowledge_by": _iso(deadlines.acknowledge_by),
            "respond_by": _iso(deadlines.respond_by),
            "respond_by_extended": _iso(deadlines.respond_by_extended),
        }
        self.stdout.write(json.dumps(payload))


def _parse_instant(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A local time without its offset names no instant; guessing one could shift a deadline.
        raise CommandError(f"{option} {value!r} has no UTC offset (e.g. {value}+00:00)")
    return parsed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
