from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ledger.services import ledger_sequence, ledger_sequencer_run


class Command(BaseCommand):
    help = (
        "Give waiting audit events their positions in the log and sign a checkpoint, every "
        "LEDGER_SEQUENCE_INTERVAL_SECONDS, until SIGTERM or SIGINT. Run exactly one per deployment "
        "(a second one waits: a database lock lets one sequence at a time)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="sequence what is waiting now, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            total = 0
            while (result := ledger_sequence()).sequenced:
                total += result.sequenced
            self.stdout.write(f"sequenced {total} event(s); the signed log has {result.tree_size} entries")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(
            f"ledger sequencer: every {settings.LEDGER_SEQUENCE_INTERVAL_SECONDS} s until SIGTERM",
            ending="\n",
        )
        self.stdout.flush()
        ledger_sequencer_run(stop=stop)
        self.stdout.write("ledger sequencer: stopped")
