"""Run Celery's command line with the process clock travelled to a chosen instant.

    python -m tests.support.frozen_celery 2026-02-01T23:05:00+00:00 -A config worker -B ...

Everything after the instant is passed to `celery` unchanged. The clock keeps ticking from the instant
(`tick=True`): beat's interval schedules and the worker's leases need time to pass. time_machine patches
`time.time` and `datetime.now` at the C level, so Django's `timezone.now()`, Celery's `app.now()`, log
timestamps and the embedded beat (a forked child, which inherits the patch) all agree on the instant.
`time.monotonic` and `time.sleep` stay real, so timeouts and polling behave as usual. PostgreSQL's
own `now()` is not travelled: the application never reads it (every timestamp comes from Python).
"""

from __future__ import annotations

import sys
from datetime import datetime

import time_machine


def _instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise SystemExit(f"frozen_celery: the instant needs an offset (e.g. +00:00), got {text!r}")
    return instant


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit("usage: python -m tests.support.frozen_celery <ISO-INSTANT> <celery arguments>")
    instant = _instant(argv[0])
    with time_machine.travel(instant, tick=True):
        # Imported under the travelled clock, so nothing can capture the real time at import.
        from celery.bin.celery import main as celery_main

        print(f"frozen_celery: clock travelled to {instant.isoformat()}", file=sys.stderr, flush=True)
        sys.argv = ["celery", *argv[1:]]
        # Click ends the program with SystemExit, which also ends the travel on its way out.
        return celery_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
