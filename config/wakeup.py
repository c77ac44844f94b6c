"""Waking a worker after a commit, without letting a broker outage undo the answer.

Postgres holds every job; the broker only wakes workers up (docs/operations.md). So when the broker
cannot be reached, the work that just committed is not lost: its sweeper re-enqueues it when the broker
is back. The request that committed must answer as committed, not with a 500 (issue 12).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def wake(task: Any, *args: str, countdown: float = 0) -> bool:
    """`task.apply_async(args, countdown=...)`; False (and a warning, with the task's name only) when
    the broker is unreachable."""
    try:
        task.apply_async(args, countdown=max(countdown, 0))
    except (OperationalError, ConnectionError, OSError) as exc:
        logger.warning("broker unreachable, %s left for its sweeper: %s", task.name, type(exc).__name__)
        return False
    return True
