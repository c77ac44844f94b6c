"""Purge jobs: approve, run, retry, sweep, complete.

On approval one `PurgeJob` per target (`removal.targets`) is created in the approving transaction,
with the target's plan. A Celery task (job id only) claims a job with a lease and works through its
plan in batches; each batch's deletions and the job's progress commit together, so a worker that dies
loses at most one batch of bookkeeping and the next worker purges that batch again (every target's
purge is idempotent). A final check asks the target what is still there: a job is done only when
nothing is. Failures retry with exponential backoff and jitter up to `PURGE_MAX_ATTEMPTS`, then fail
the job, alert the privacy team and leave the request open. The beat sweeper wakes jobs whose broker
message was lost or whose worker died. The request completes, with its signed deletion receipt, when
its last purge-phase job is done; after-completion jobs (the request's own personal data) then wait
for the retention period.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from config.wakeup import wake
from notifications.selectors import Attachment
from notifications.services import message_create
from removal.erasure_journal import erasure_journal_record
from removal.models import Candidate, PurgeJob, RemovalRequest, Status
from removal.permissions import Action, require
from removal.receipts import deletion_receipt_issue, receipt_filename
from removal.reminders import request_admin_url
from removal.selectors import removal_request_receipt
from removal.services.common import (
    SYSTEM,
    Actor,
    IllegalTransition,
    InvalidRequest,
    assignee_address,
    audit_request_event,
    notify_subject,
)
from removal.services.lifecycle import removal_request_approve_purge, removal_request_complete_purge
from removal.services.suppression import suppression_entry_create
from removal.targets import NotYet, PurgeContext, PurgeTarget, purge_target, purge_targets

logger = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 6 * 3600


def _enqueue(job_id: uuid.UUID | str, *, countdown: float = 0) -> None:
    from removal.tasks import run_purge_job

    wake(run_purge_job, str(job_id), countdown=countdown)


def purge_jobs_enqueue(job_ids: list[uuid.UUID], *, countdown: float = 0) -> None:
    for job_id in job_ids:
        _enqueue(job_id, countdown=countdown)


def _lease() -> timedelta:
    return timedelta(seconds=settings.PURGE_LEASE_SECONDS)


def second_approver_needed(*, confirmed_photos: int) -> bool:
    return confirmed_photos >= settings.PURGE_SECOND_APPROVER_FROM


def purge_approve(*, request: RemovalRequest, actor: Actor) -> list[PurgeJob]:
    """Staff approve the purge once every candidate is decided: the request moves to `purging` and
    one job per target is created in the same transaction, then woken after commit.

    A purge of PURGE_SECOND_APPROVER_FROM confirmed photos or more needs two different approvers:
    the first approval is recorded (an audit event, no jobs, an empty list returned) and the second
    one, by someone else, starts the purge.
    """
    require(actor, Action.APPROVE_PURGE, request)
    with transaction.atomic():
        locked = RemovalRequest.objects.select_for_update().select_related("data_key").get(id=request.id)
        if locked.status != Status.AWAITING_REVIEW:
            raise IllegalTransition(reference=locked.reference, move="approve_purge", status=locked.status)
        undecided = Candidate.objects.filter(request=locked, decision=Candidate.Decision.PENDING).count()
        if undecided:
            raise InvalidRequest(
                {
                    "candidates": [
                        _("Decide every candidate first: %(count)d not decided yet.") % {"count": undecided}
                    ]
                }
            )
        confirmed = Candidate.objects.filter(request=locked, decision=Candidate.Decision.CONFIRMED).count()
        if second_approver_needed(confirmed_photos=confirmed):
            approver = actor.user.pk if actor.user is not None else None
            if locked.purge_first_approver_id is None:
                RemovalRequest.objects.filter(id=locked.id).update(
                    purge_first_approver_id=approver, purge_first_approved_at=timezone.now()
                )
                audit_request_event(
                    locked.id, "purge_first_approval", actor=actor, details={"photos": confirmed}
                )
                return []
            if locked.purge_first_approver_id == approver:
                raise InvalidRequest(
                    {
                        "approve": [
                            _("You approved this purge already: a second privacy lead must approve it.")
                        ]
                    }
                )
        # With the subject's consent, their minimised suppression template is made from the headshot
        # here, in the approving transaction, before the purge destroys the headshot.
        suppression_entry_create(request=locked)
        ctx = PurgeContext(request=locked)
        jobs = _jobs_create(ctx=ctx)
        removal_request_approve_purge(
            request=locked, actor=actor, details={"jobs": len(jobs), "photos": len(ctx.confirmed_photo_ids)}
        )
        due = [job.id for job in jobs if job.status == PurgeJob.Status.PENDING and job.next_attempt_at]
        transaction.on_commit(lambda: purge_jobs_enqueue(due))
        # Nothing to delete anywhere (no photo confirmed, no headshot): complete at once.
        _complete_if_all_done(request_id=locked.id)
    return jobs


def _jobs_create(*, ctx: PurgeContext) -> list[PurgeJob]:
    """One job per target, with the plan it makes now (every target plans from the same context)."""
    now = timezone.now()
    jobs = []
    for target in purge_targets().values():
        items = [str(item) for item in target.plan(ctx)]
        job = PurgeJob(
            request=ctx.request,
            target=target.name,
            category=target.category,
            phase=target.phase,
            plan=items,
            planned=len(items),
            attempt_limit=settings.PURGE_MAX_ATTEMPTS,
        )
        if not items:
            # Recorded all the same: the receipt and staff see that this place was looked at.
            job.status, job.finished_at = PurgeJob.Status.DONE, now
        elif target.phase == PurgeJob.Phase.PURGE:
            job.next_attempt_at = now
        jobs.append(job)
    return PurgeJob.objects.bulk_create(jobs)


def purge_job_run(*, job_id: uuid.UUID | str) -> PurgeJob.Status | None:
    """Claim a due job and work through its plan. Returns its new status, or None if it was not ours
    to run (another worker holds it, it is done, or its retry is not due)."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = PurgeJob.objects.filter(
        id=job_id, status=PurgeJob.Status.PENDING, next_attempt_at__lte=now
    ).update(
        status=PurgeJob.Status.RUNNING,
        lease_token=token,
        lease_expires_at=now + _lease(),
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
    )
    if not claimed:
        # A second delivery of the same task, a job another worker holds, or one not due: not ours.
        return None
    job = PurgeJob.objects.select_related("request", "request__data_key").get(id=job_id)
    target = purge_target(job.target)
    ctx = PurgeContext(request=job.request, job_id=job.id)
    budget_ends = time.monotonic() + settings.PURGE_TASK_BUDGET_SECONDS
    try:
        if job.journaled_at is None:
            # Nothing is deleted before the whole purge is in the journal a restore cannot undo.
            erasure_journal_record(request_id=job.request_id)
        while job.done < job.planned:
            if time.monotonic() > budget_ends:
                # Stay well inside the task time limit: hand the rest to a fresh task.
                return _release(job=job, token=token, delay=0)
            batch = job.plan[job.done : job.done + target.batch_size]
            waiting: NotYet | None = None
            with transaction.atomic():
                try:
                    target.purge(ctx, batch)
                except NotYet as exc:
                    # Waiting is not failing: what the target wrote before deciding to wait (the
                    # outbox message it now waits for) commits; the batch stays where it is.
                    waiting = exc
                advanced = PurgeJob.objects.filter(
                    id=job.id, lease_token=token, status=PurgeJob.Status.RUNNING, done=job.done
                ).update(
                    done=job.done + (0 if waiting is not None else len(batch)),
                    failed=0,
                    lease_expires_at=timezone.now() + _lease(),
                )
                if not advanced:
                    # Our lease expired and another worker took the job over: roll back and leave it
                    # to them (they purge the same batch; purging twice is harmless).
                    raise _LeaseLost
            if waiting is not None:
                raise waiting
            job.done += len(batch)
        left = target.remaining(ctx, job.plan)
        if left:
            raise ItemsRemain(len(left))
    except _LeaseLost:
        return None
    except NotYet as wait:
        return _release(job=job, token=token, delay=wait.seconds)
    except Exception as exc:
        _target_failure_record(target=target, ctx=ctx, error=exc)
        return _record_failure(job=job, token=token, error=exc)
    return _finish(job=job, token=token)


def _target_failure_record(*, target: PurgeTarget, ctx: PurgeContext, error: Exception) -> None:
    """Let the target keep evidence its rolled-back batch lost (a recipient's HTTP status)."""
    try:
        with transaction.atomic():
            target.purge_failed(ctx, error)
    except Exception as exc:
        # The job's own failure record matters more: note this one and carry on.
        logger.warning("purge target %s could not record its failure: %s", target.name, type(exc).__name__)


class _LeaseLost(Exception):
    pass


class ItemsRemain(Exception):
    """The final check found planned items still present after every batch was purged."""

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(f"{count} planned items are still present")


def _release(*, job: PurgeJob, token: uuid.UUID, delay: float) -> PurgeJob.Status | None:
    """Give the job back without using up an attempt (waiting is not failing)."""
    next_at = timezone.now() + timedelta(seconds=delay)
    updated = PurgeJob.objects.filter(id=job.id, lease_token=token, status=PurgeJob.Status.RUNNING).update(
        status=PurgeJob.Status.PENDING,
        lease_token=None,
        lease_expires_at=None,
        next_attempt_at=next_at,
        attempts=F("attempts") - 1,
    )
    if not updated:
        return None
    transaction.on_commit(lambda: _enqueue(job.id, countdown=delay))
    return PurgeJob.Status.PENDING


def _backoff_seconds(attempts: int) -> float:
    ceiling = min(_MAX_BACKOFF_SECONDS, settings.PURGE_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    # Jitter: after an outage (storage, a recipient's endpoint) retries do not all land at once.
    return ceiling * random.uniform(0.5, 1.0)


def _record_failure(*, job: PurgeJob, token: uuid.UUID, error: Exception) -> PurgeJob.Status | None:
    # The class only (and how many items were left): messages may quote a storage path or a URL.
    summary = type(error).__name__
    failed_items = (
        error.count
        if isinstance(error, ItemsRemain)
        else min(purge_target(job.target).batch_size, job.planned - job.done)
    )
    attempts = PurgeJob.objects.filter(id=job.id).values_list("attempts", flat=True).get()
    logger.warning("purge job %s (%s) attempt %s failed: %s", job.id, job.target, attempts, summary)
    if attempts < job.attempt_limit:
        delay = _backoff_seconds(attempts)
        with transaction.atomic():
            updated = PurgeJob.objects.filter(
                id=job.id, lease_token=token, status=PurgeJob.Status.RUNNING
            ).update(
                status=PurgeJob.Status.PENDING,
                lease_token=None,
                lease_expires_at=None,
                failed=failed_items,
                last_error=summary,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
            if not updated:
                return None
            transaction.on_commit(lambda: _enqueue(job.id, countdown=delay))
        return PurgeJob.Status.PENDING
    if not _fail(job=job, holder=Q(lease_token=token), error=summary, failed_items=failed_items):
        return None
    return PurgeJob.Status.FAILED


def _fail(*, job: PurgeJob, holder: Q, error: str, failed_items: int) -> bool:
    """Fail a running job for good, if `holder` still describes who runs it: audit it, alert staff.

    Returns whether it did (not if another worker or the sweeper moved the job on meanwhile).
    """
    with transaction.atomic():
        updated = PurgeJob.objects.filter(holder, id=job.id, status=PurgeJob.Status.RUNNING).update(
            status=PurgeJob.Status.FAILED,
            lease_token=None,
            lease_expires_at=None,
            failed=failed_items,
            last_error=error,
            finished_at=timezone.now(),
        )
        if not updated:
            return False
        audit_request_event(
            job.request_id,
            "purge_job_failed",
            actor=SYSTEM,
            details={
                "job": str(job.id),
                "target": job.target,
                "done": job.done,
                "failed": failed_items,
                "error": error,
            },
        )
        _alert_staff(job=job, error=error)
    return True


def _alert_staff(*, job: PurgeJob, error: str) -> None:
    request = job.request
    message_create(
        template="removal/emails/purge_failed",
        to=assignee_address(request) or settings.PRIVACY_TEAM_EMAIL,
        context={
            "reference": request.reference,
            "job": job,
            "error": error,
            "admin_url": request_admin_url(request),
        },
        data_key=request.data_key,
        about=f"removal.purge_job:{job.id}",
    )


def _finish(*, job: PurgeJob, token: uuid.UUID) -> PurgeJob.Status | None:
    with transaction.atomic():
        updated = PurgeJob.objects.filter(
            id=job.id, lease_token=token, status=PurgeJob.Status.RUNNING
        ).update(
            status=PurgeJob.Status.DONE,
            lease_token=None,
            lease_expires_at=None,
            failed=0,
            last_error="",
            finished_at=timezone.now(),
        )
        if not updated:
            return None
        audit_request_event(
            job.request_id,
            "purge_job_done",
            actor=SYSTEM,
            details={
                "job": str(job.id),
                "target": job.target,
                "category": job.category,
                "items": job.planned,
            },
        )
        if job.phase == PurgeJob.Phase.PURGE:
            _complete_if_all_done(request_id=job.request_id)
    return PurgeJob.Status.DONE


def _complete_if_all_done(*, request_id: uuid.UUID) -> bool:
    """Complete the request if its last purge-phase job is done. Call inside a transaction.

    The request row is locked first, so of two jobs finishing at once exactly one completes it.
    """
    request = RemovalRequest.objects.select_for_update().select_related("data_key").get(id=request_id)
    if request.status != Status.PURGING:
        return False
    jobs = list(PurgeJob.objects.filter(request=request))
    if any(job.phase == PurgeJob.Phase.PURGE and job.status != PurgeJob.Status.DONE for job in jobs):
        return False
    now = timezone.now()
    request = removal_request_complete_purge(request=request, actor=SYSTEM)
    deletion_receipt_issue(
        request=request,
        categories=[(job.category, job.planned) for job in jobs if job.phase == PurgeJob.Phase.PURGE],
        completed_at=now,
    )
    context = completion_context(request)
    notify_subject(
        request=request,
        template="completion",
        context=context,
        attachments=[receipt_attachment(reference=request.reference, document=str(context["receipt"]))],
    )
    erase_at = now + timedelta(days=settings.REQUEST_PERSONAL_DATA_RETENTION_DAYS)
    waiting = [
        job.id
        for job in jobs
        if job.phase == PurgeJob.Phase.AFTER_COMPLETION and job.status == PurgeJob.Status.PENDING
    ]
    PurgeJob.objects.filter(id__in=waiting).update(next_attempt_at=erase_at)
    delay = (erase_at - now).total_seconds()
    if delay <= settings.PURGE_SWEEP_SECONDS:
        # Due (almost) at once: wake them now. Later ones are the sweeper's when their time comes.
        transaction.on_commit(lambda: purge_jobs_enqueue(waiting, countdown=delay))
    return True


def purge_job_retry(*, job: PurgeJob, actor: Actor) -> bool:
    """Staff give a failed job another round of attempts (after fixing storage, a recipient...)."""
    require(actor, Action.WORK, job.request)
    with transaction.atomic():
        updated = PurgeJob.objects.filter(id=job.id, status=PurgeJob.Status.FAILED).update(
            status=PurgeJob.Status.PENDING,
            attempt_limit=F("attempts") + settings.PURGE_MAX_ATTEMPTS,
            next_attempt_at=timezone.now(),
            finished_at=None,
        )
        if updated:
            audit_request_event(
                job.request_id, "purge_job_retried", actor=actor, details={"job": str(job.id)}
            )
            transaction.on_commit(lambda: _enqueue(job.id))
    return bool(updated)


def purge_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Wake jobs the broker lost or whose worker died, and due jobs; returns how many were enqueued.

    A job whose lease expired goes back to pending: its worker died (or hung past its lease). The
    attempt it used stays counted, and a job whose last attempt ended that way fails (audited, staff
    alerted) instead, so a job that kills its worker every time ends up failed, not in a loop.
    """
    now = now or timezone.now()
    expired = list(
        PurgeJob.objects.filter(status=PurgeJob.Status.RUNNING, lease_expires_at__lt=now)
        .select_related("request", "request__data_key", "request__assignee")
        .defer("plan")
        .order_by("lease_expires_at")[:limit]
    )
    # Conditional on the lease still being expired: a worker that was only slow may have renewed it.
    still_expired = Q(lease_expires_at__lt=now)
    spent = [job for job in expired if job.attempts >= job.attempt_limit]
    for job in spent:
        # Named like any failure's exception class: what the sweeper saw, not a guess at the cause.
        _fail(job=job, holder=still_expired, error="LeaseExpired", failed_items=job.planned - job.done)
    retry = [job.id for job in expired if job.attempts < job.attempt_limit]
    if retry:
        PurgeJob.objects.filter(still_expired, id__in=retry, status=PurgeJob.Status.RUNNING).update(
            status=PurgeJob.Status.PENDING, lease_token=None, lease_expires_at=None, next_attempt_at=now
        )
    due = list(
        PurgeJob.objects.filter(status=PurgeJob.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for job_id in due:
        _enqueue(job_id)
    return len(due)


def receipt_attachment(*, reference: str, document: str) -> Attachment:
    """The deletion receipt as the file the subject keeps (and checks at /receipts/verify/)."""
    return Attachment(filename=receipt_filename(reference), content=document, mimetype="application/json")


def completion_context(request: RemovalRequest) -> dict[str, object]:
    """What the completion notice shows: the receipt, what it lists, where to check it."""
    receipt = removal_request_receipt(request=request)
    assert receipt is not None, "issued in the same transaction, just before"
    return {
        "receipt": receipt.document,
        # Lazy labels: the notice is rendered in the subject's language, not the worker's.
        "categories": receipt.categories,
        "receipt_filename": receipt_filename(request.reference),
        "verify_url": f"{settings.PUBLIC_BASE_URL}{reverse('removal:receipt_verify')}",
        "personal_data_erased_after_days": settings.REQUEST_PERSONAL_DATA_RETENTION_DAYS,
    }
