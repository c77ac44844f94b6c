"""Celery tasks: thin, ids only, each calls one service. Postgres holds the work; these wake it up."""

from __future__ import annotations

from celery import shared_task

from removal import reminders
from removal.services import SUBJECT, discovery, purge, retention, submissions


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
def retention_sweep() -> None:
    """Nightly: every retention rule (removal.services.retention). Raises (the task fails, staff are
    mailed) when a part cannot remove what it should."""
    retention.retention_sweep()
