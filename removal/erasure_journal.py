"""The erasure journal: what every approved purge deletes, kept outside the database.

A database restore brings back what the purges deleted after the backup was taken, *and* forgets
that they happened: a request approved after the backup is back in review, or absent altogether.
So before a purge job deletes anything, every job of its request is written here, one small JSON
object per job (the job's id, its request's id, the target, and the plan of opaque ids the target
made: storage keys, row ids, a data key's id; never personal data). `purge_replay` reads it after a
restore and deletes again what the journal says was approved (removal.services.replay).

The journal lives in its own storage (`STORAGES["erasure_journal"]`: a directory, or a bucket
prefix), which a database restore does not touch. Objects are written once and never changed;
those older than `ERASURE_JOURNAL_RETENTION_DAYS` (keep it longer than your oldest backup) are
removed by the nightly retention sweep.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.utils import timezone

from removal.models import PurgeJob

FORMAT = 1


@dataclass(frozen=True)
class JournalEntry:
    job_id: uuid.UUID
    request_id: uuid.UUID
    target: str
    category: str
    phase: str
    plan: list[str]
    journaled_at: datetime


def _storage() -> Storage:
    return storages["erasure_journal"]


def _name(day: date, job_id: uuid.UUID | str) -> str:
    return f"{day.isoformat()}/{job_id}.json"


def erasure_journal_record(*, request_id: uuid.UUID) -> int:
    """Journal every job of the request not journaled yet; returns how many were written.

    Called by a purge job before it deletes anything, so a deletion is never unjournaled. Writing
    the request's jobs together means the journal holds the whole approved purge, the jobs that had
    nothing to delete and the ones that wait for retention included. Raises if the storage fails:
    the job then retries, and nothing has been deleted.
    """
    storage = _storage()
    now = timezone.now()
    written = 0
    jobs = PurgeJob.objects.filter(request_id=request_id).order_by("created_at", "target")
    for job in jobs:
        if job.journaled_at is not None:
            continue
        entry = {
            "format": FORMAT,
            "job": str(job.id),
            "request": str(request_id),
            "target": job.target,
            "category": job.category,
            "phase": job.phase,
            "plan": job.plan,
            "journaled_at": now.isoformat(),
        }
        name = _name(now.date(), job.id)
        if not storage.exists(name):
            storage.save(name, ContentFile(json.dumps(entry, sort_keys=True).encode()))
        # The mark only spares the next claim a lookup: after a restore the marks are gone and
        # the jobs are journaled again, under the day of the new write (replay reads both).
        PurgeJob.objects.filter(id=job.id).update(journaled_at=now)
        written += 1
    return written


def _days(since: date) -> list[date]:
    storage = _storage()
    if not storage.exists(""):
        return []
    folders, _files = storage.listdir("")
    days = []
    for folder in folders:
        try:
            day = date.fromisoformat(folder)
        except ValueError:
            continue  # not ours: left alone
        if day >= since:
            days.append(day)
    return sorted(days)


def erasure_journal_entries(*, since: datetime) -> Iterator[JournalEntry]:
    """Every job journaled at or after `since`, oldest first, each job once."""
    storage = _storage()
    seen: set[uuid.UUID] = set()
    for day in _days(since.date()):
        _folders, files = storage.listdir(day.isoformat())
        entries = []
        for file_name in files:
            if not file_name.endswith(".json"):
                continue
            with storage.open(f"{day.isoformat()}/{file_name}", "rb") as handle:
                entries.append(_entry(json.loads(handle.read())))
        for entry in sorted(entries, key=lambda entry: entry.journaled_at):
            if entry.journaled_at >= since and entry.job_id not in seen:
                seen.add(entry.job_id)
                yield entry


def _entry(data: dict[str, object]) -> JournalEntry:
    if data.get("format") != FORMAT:
        raise ValueError(f"erasure journal: unknown format {data.get('format')!r}")
    plan = data["plan"]
    assert isinstance(plan, list)
    return JournalEntry(
        job_id=uuid.UUID(str(data["job"])),
        request_id=uuid.UUID(str(data["request"])),
        target=str(data["target"]),
        category=str(data["category"]),
        phase=str(data["phase"]),
        plan=[str(item) for item in plan],
        journaled_at=datetime.fromisoformat(str(data["journaled_at"])),
    )


def erasure_journal_prune(*, now: datetime | None = None) -> int:
    """Remove the days older than ERASURE_JOURNAL_RETENTION_DAYS; returns how many entries went."""
    storage = _storage()
    cutoff = (now or timezone.now()).date() - timedelta(days=settings.ERASURE_JOURNAL_RETENTION_DAYS)
    removed = 0
    for day in _days(date.min):
        if day >= cutoff:
            break
        _folders, files = storage.listdir(day.isoformat())
        for file_name in files:
            storage.delete(f"{day.isoformat()}/{file_name}")
            removed += 1
        # A file-system folder left empty is harmless; object stores have none.
    return removed
