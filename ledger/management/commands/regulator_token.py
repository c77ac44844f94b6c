from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.models import Regulator, RegulatorToken
from ledger.regulators import regulator_token_issue, regulator_token_revoke


class Command(BaseCommand):
    help = (
        "Issue or revoke a regulator's API token for machine exports. `issue --regulator NAME "
        "[--jurisdiction CODE …] [--days 90]` creates the regulator if needed and prints the token once; "
        "`revoke PREFIX` ends a token."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue")
        issue.add_argument("--regulator", required=True)
        issue.add_argument("--jurisdiction", action="append", default=[], metavar="CODE")
        issue.add_argument("--days", type=int, default=90)
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "revoke":
            record = RegulatorToken.objects.filter(prefix=options["prefix"]).first()
            if record is None:
                raise CommandError(f"no token starts with {options['prefix']!r}")
            regulator_token_revoke(record=record, actor="system:command")
            self.stdout.write(f"revoked {record}")
            return
        regulator, _ = Regulator.objects.get_or_create(name=options["regulator"])
        if options["jurisdiction"]:
            regulator.jurisdictions = sorted({code.upper() for code in options["jurisdiction"]})
            regulator.save(update_fields=["jurisdictions"])
        if not regulator.jurisdictions:
            raise CommandError("a regulator needs at least one --jurisdiction")
        try:
            issued = regulator_token_issue(regulator=regulator, days=options["days"], actor="system:command")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"token for {regulator} ({', '.join(regulator.jurisdictions)}), valid until "
            f"{issued.record.expires_at:%Y-%m-%d %H:%M} UTC; shown once:\n{issued.token}"
        )
