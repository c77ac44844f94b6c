"""What runs inside a chaos test's worker process (tests/support/chaos_settings.py installs it).

- `JournalStorage`: the file system storage, which appends one line to a journal for every *real*
  deletion (the unlink that removed the file; deleting a file already gone writes nothing). The test
  reads the journal (tests/support/chaos.py, `Journal`) to see that every planned file was deleted
  exactly once and nothing else was.
- Pause points: `CHAOS_PAUSE` names one place where the worker writes a marker file beside the journal
  and then sleeps, so the test can SIGKILL it exactly there:
  `before_deletion:N` (just before the N-th real deletion of a file under `CHAOS_PAUSE_PREFIX`),
  `after_deletion:N` (just after it), `face_records_batch:N` (in this process's N-th batch of the
  database-only target, after its deletions ran and before its transaction commits).
- Targets: the built-in targets under their own names, with `CHAOS_BATCH_SIZE` items per batch (so a
  few hundred photos make many batches), and the pause point in `FaceRecords`.

Test code only: nothing here is imported by the application.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from django.core.files.storage import FileSystemStorage

from removal.targets import PurgeContext
from removal.targets import face_index as face_index_targets
from removal.targets import subject as subject_targets

# Long enough for any test to notice the marker and kill the process; the test's teardown kills
# it by pid if a test fails before that.
PAUSE_SECONDS = 600


def journal_path() -> Path:
    return Path(os.environ["CHAOS_JOURNAL"])


def marker_path(journal: Path) -> Path:
    """Written when the worker reaches its pause point: the test kills it once this exists."""
    return journal.with_name(journal.name + ".paused")


def _pause_point() -> tuple[str, int] | None:
    spec = os.environ.get("CHAOS_PAUSE", "")
    if not spec:
        return None
    where, _, count = spec.partition(":")
    return where, int(count)


def _pause(reason: str) -> None:
    marker = marker_path(journal_path())
    marker.write_text(f"{reason} (pid {os.getpid()})\n")
    time.sleep(PAUSE_SECONDS)


def _deletions_under(prefix: str) -> int:
    journal = journal_path()
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if line.startswith(prefix))


class JournalStorage(FileSystemStorage):
    """FileSystemStorage that journals every file it really deletes (and may pause around one)."""

    def delete(self, name: str) -> None:
        if not name:
            raise ValueError("The name must be given to delete().")
        path = self.path(name)
        prefix = os.environ.get("CHAOS_PAUSE_PREFIX", "")
        pause = _pause_point()
        counted = name.startswith(prefix)
        if (
            pause
            and pause[0] == "before_deletion"
            and counted
            and os.path.isfile(path)
            and _deletions_under(prefix) == pause[1] - 1
        ):
            _pause(f"before deletion {pause[1]} of {prefix}*")
        try:
            os.remove(path)
        except FileNotFoundError:
            return  # gone already (a batch purged again): no deletion happened here
        # O_APPEND: each line lands whole at the end, whichever process writes it.
        fd = os.open(journal_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{name}\t{os.getpid()}\n".encode())
        finally:
            os.close(fd)
        if pause and pause[0] == "after_deletion" and counted and _deletions_under(prefix) == pause[1]:
            _pause(f"after deletion {pause[1]} of {prefix}*")


BATCH_SIZE = int(os.environ.get("CHAOS_BATCH_SIZE", "10"))


class PhotoFiles(face_index_targets.PhotoFiles):
    batch_size = BATCH_SIZE


class ThumbnailFiles(face_index_targets.ThumbnailFiles):
    batch_size = BATCH_SIZE


class FaceRecords(face_index_targets.FaceRecords):
    batch_size = BATCH_SIZE
    batches_run = 0

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        super().purge(ctx, items)
        FaceRecords.batches_run += 1
        pause = _pause_point()
        if pause and pause[0] == "face_records_batch" and FaceRecords.batches_run == pause[1]:
            # The batch's rows are deleted inside the job's open transaction, not yet committed.
            _pause(f"in face_records batch {pause[1]}, before it commits")


class Headshot(subject_targets.Headshot):
    batch_size = BATCH_SIZE


class PersonalData(subject_targets.PersonalData):
    batch_size = BATCH_SIZE
