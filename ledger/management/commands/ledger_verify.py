from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.verification import ledger_verify, tiles_rebuild


class Command(BaseCommand):
    help = (
        "Check the whole request log: every entry against its hash and columns, the tree against every "
        "signed checkpoint (and checkpoints you saved earlier, which catch a log cut off or rewritten). "
        "Exits non-zero and lists the problems when it is not intact."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            type=Path,
            metavar="FILE",
            help="a checkpoint saved earlier from /ledger/checkpoint (may be given several times)",
        )
        parser.add_argument(
            "--rebuild-tiles",
            action="store_true",
            help="recompute the stored tree hashes from the entries first",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        saved = []
        for path in options["checkpoint"]:
            try:
                saved.append(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read the checkpoint {path}: {exc}") from exc
        if options["rebuild_tiles"]:
            self.stdout.write(f"tiles rebuilt for {tiles_rebuild()} entries")
        report = ledger_verify(saved_checkpoints=saved)
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
