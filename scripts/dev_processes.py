"""`make run`'s process manager: honcho over Procfile.dev, waiting for the workers to stop cleanly.

Honcho sends SIGTERM on Ctrl-C and SIGKILL to whatever still runs five seconds later. A Celery
worker's warm shutdown on the embedded file-system broker takes about seven (its loop looks at the
broker every two seconds, then it closes the consumer, the pool and the timer), so every Ctrl-C
ended in two SIGKILLs and `make: *** Error 130`. This waits up to STOP_SECONDS instead, and a stop by
Ctrl-C (exit status 130) is a normal end.

    python scripts/dev_processes.py -f Procfile.dev start
"""

from __future__ import annotations

import sys

import honcho.manager
from honcho.command import main

STOP_SECONDS = 20

if __name__ == "__main__":
    honcho.manager.KILL_WAIT = STOP_SECONDS
    try:
        main(sys.argv[1:])
    except SystemExit as stopped:
        sys.exit(0 if stopped.code == 130 else stopped.code)
    sys.exit(0)
