"""After a database restore: delete again what the restore brought back (docs/operations.md, Backups).

A backup taken at time T holds what every purge since T deleted, and knows nothing of the purges
approved since T. Two records say what to delete again:

- the erasure journal (removal.erasure_journal), outside the database: every purge job that began
  since T, with its plan. For a request the backup holds in an earlier state (still in review, say)
  the journal's jobs are recreated and the request goes back to purging: it completes again, with a
  receipt and a notice, so that what the service holds agrees with what the subject was told. For a
  request the backup does not hold at all (filed after T), only the gallery's items can have come
  back: they are deleted at once (`PurgeTarget.purge_orphaned`).
- the restored database itself: every request completed since T has its jobs run again.

Every target's purge is idempotent and runs from its stored plan, so a replay deletes what came back
and nothing else; running it twice changes nothing more.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger.entries import JsonValue
from removal.erasure_journal import JournalEntry, erasure_journal_entries
from removal.models import Candidate, PurgeJob, RemovalRequest, Status
from removal.services.common import Actor, audit_request_event
from removal.services.lifecycle import MOVES, removal_request_restore_purge
from removal.services.purge import purge_jobs_enqueue
from removal.targets import purge_targets


@dataclass
class ReplayReport:
    # Requests whose purge jobs run again.
    requests: int = 0
    # Of those, the ones the backup held from before their approval: back to purging.
    approvals_restored: int = 0
    # Requests the backup did not hold, and the gallery items deleted again for them.
    requests_not_in_backup: int = 0
    items_deleted_at_once: int = 0


def purge_replay(*, since: datetime, actor: Actor) -> ReplayReport:
    """Replay every purge that began or completed since the backup was taken (`since`)."""
    report = ReplayReport()
    journal: dict[uuid.UUID, list[JournalEntry]] = defaultdict(list)
    for entry in erasure_journal_entries(since=since):
        journal[entry.request_id].append(entry)
    held = set(RemovalRequest.objects.filter(id__in=list(journal)).values_list("id", flat=True))
    completed = set(
        RemovalRequest.objects.filter(status=Status.COMPLETED, status_changed_at__gte=since)
        .filter(purge_jobs__planned__gt=0)
        .values_list("id", flat=True)
    )
    for request_id in sorted(journal.keys() - held, key=str):
        report.requests_not_in_backup += 1
        report.items_deleted_at_once += _replay_without_request(journal[request_id])
    for request_id in sorted(held | completed, key=str):
        restored = _replay_request(request_id, journal.get(request_id, []), actor=actor)
        if restored is not None:
            report.requests += 1
            report.approvals_restored += restored
    return report


def _replay_without_request(entries: list[JournalEntry]) -> int:
    deleted = 0
    targets = purge_targets()
    for entry in entries:
        target = targets.get(entry.target)
        if target is None or not entry.plan:
            continue
        with transaction.atomic():
            if target.purge_orphaned(entry.plan):
                deleted += len(entry.plan)
    return deleted


def _replay_request(request_id: uuid.UUID, entries: list[JournalEntry], *, actor: Actor) -> bool | None:
    """Run the request's jobs again; True if its approval had to be restored first, None if the
    restored request cannot have been purged (closed otherwise), so nothing is done."""
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(id=request_id)
        restore_approval = request.status not in (Status.PURGING, Status.COMPLETED)
        if restore_approval and request.status not in MOVES["restore_purge"].sources:
            return None
        _jobs_recreate(request, entries)
        if restore_approval:
            _decisions_restore(request, entries)
        now = timezone.now()
        jobs = list(PurgeJob.objects.select_for_update().filter(request=request, planned__gt=0))
        replayed = [job for job in jobs if job.status != PurgeJob.Status.RUNNING]
        for job in replayed:
            PurgeJob.objects.filter(id=job.id).update(
                status=PurgeJob.Status.PENDING,
                done=0,
                failed=0,
                attempts=0,
                last_error="",
                finished_at=None,
                next_attempt_at=_next_attempt(request, job, now=now),
            )
        details: dict[str, JsonValue] = {"jobs": [job.target for job in replayed]}
        if restore_approval:
            removal_request_restore_purge(request=request, actor=actor, details=details)
        else:
            audit_request_event(request.id, "purge_replayed", actor=actor, details=details)
        due = [job.id for job in replayed if job.phase == PurgeJob.Phase.PURGE]
        transaction.on_commit(functools.partial(purge_jobs_enqueue, due))
    return restore_approval


def _jobs_recreate(request: RemovalRequest, entries: list[JournalEntry]) -> None:
    """The journal's jobs the restored database lacks, with their ids and plans."""
    have = set(PurgeJob.objects.filter(request=request).values_list("target", flat=True))
    now = timezone.now()
    PurgeJob.objects.bulk_create(
        PurgeJob(
            id=entry.job_id,
            request=request,
            target=entry.target,
            category=entry.category,
            phase=entry.phase,
            plan=entry.plan,
            planned=len(entry.plan),
            attempt_limit=settings.PURGE_MAX_ATTEMPTS,
            journaled_at=entry.journaled_at,
            # An empty plan was done at approval; the others are set pending by the caller.
            status=PurgeJob.Status.DONE,
            finished_at=now,
        )
        for entry in entries
        if entry.target not in have
    )


def _decisions_restore(request: RemovalRequest, entries: list[JournalEntry]) -> None:
    """The backup may hold the candidates undecided: the photos the approved purge deletes were the
    confirmed ones (the recipients' notices list them from the decisions)."""
    photos = [item for entry in entries if entry.target == "face_records" for item in entry.plan]
    Candidate.objects.filter(request=request, face__photo_id__in=photos).update(
        decision=Candidate.Decision.CONFIRMED
    )


def _next_attempt(request: RemovalRequest, job: PurgeJob, *, now: datetime) -> datetime | None:
    if job.phase == PurgeJob.Phase.PURGE:
        return now
    if request.status != Status.COMPLETED:
        return None  # set when the request completes again
    erase_at = request.status_changed_at + timedelta(days=settings.REQUEST_PERSONAL_DATA_RETENTION_DAYS)
    return max(erase_at, now)
