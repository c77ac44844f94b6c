"""Settings of a chaos test's worker process: production's settings plus tests/support/chaos_worker.py.

    DJANGO_SETTINGS_MODULE=tests.support.chaos_settings CHAOS_JOURNAL=/tmp/.../journal celery -A config worker

The default storage journals each real deletion (and may pause at one), and the built-in purge targets
are replaced by subclasses under the same names with small batches. Only the worker processes of
tests/removal/test_purge_worker.py use this module; the test process keeps config.settings_test.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import MEDIA_ROOT, STORAGES

# tests/support/chaos_worker.py reads its own variables: CHAOS_JOURNAL (the journal's path, required),
# CHAOS_BATCH_SIZE (default 10), CHAOS_PAUSE ("before_deletion:N", "after_deletion:N",
# "face_records_batch:N" or empty) and CHAOS_PAUSE_PREFIX (whose deletions N counts).

STORAGES = {
    **STORAGES,
    "default": {
        "BACKEND": "tests.support.chaos_worker.JournalStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
}
PURGE_TARGETS = [
    f"tests.support.chaos_worker.{name}"
    for name in ("PhotoFiles", "ThumbnailFiles", "FaceRecords", "Headshot", "PersonalData")
]
