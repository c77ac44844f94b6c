"""Celery tasks: thin, ids only, each calls one service. Postgres holds the work; these wake it up."""

from __future__ import annotations

from celery import shared_task

from removal import reminders
from removal.erasure_journal import erasure_journal_prune
from removal.services import SUBJECT, discovery, purge, retention, submissions, suppression


@shared_task(ignore_result=True)
def sweep_reminders() -> None:
    reminders.reminder_sweep()


@shared_task(ignore_result=True)
def sweep_intake() -> None:
    """Public submissions a crash left unprocessed after their answer was sent."""
    submissions.intake_sweep(actor=SUBJECT)


@shared_task(ignore_result=True)
def send_digest() -> None:
    reminders.reminder_digest()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def discover_photos(request_id: str) -> None:
    discovery.removal_request_discover(request_id=request_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_purge_job(job_id: str) -> None:
    purge.purge_job_run(job_id=job_id)


@shared_task(ignore_result=True)
def sweep_purge() -> None:
    """The purge's safety net: lost or dead discovery runs and purge jobs are woken again."""
    discovery.discovery_sweep()
    purge.purge_sweep()


@shared_task(ignore_result=True)
def expire_suppression_entries() -> None:
    """Daily: suppression templates are deleted when their retention period ends."""
    suppression.suppression_entries_expire()


@shared_task(ignore_result=True)
def expire_erasure_journal() -> None:
    """Daily: the erasure journal's days older than ERASURE_JOURNAL_RETENTION_DAYS are deleted."""
    erasure_journal_prune()


@shared_task(ignore_result=True)
def minimise_request_records() -> None:
    """Nightly: minimise closed requests past their retention. Raises (the task fails, staff are mailed)
    when a record resists."""
    retention.request_records_minimise()
