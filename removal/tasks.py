from __future__ import annotations

from celery import shared_task

from removal import reminders


@shared_task(ignore_result=True)
def sweep_reminders() -> None:
    reminders.reminder_sweep()


@shared_task(ignore_result=True)
def send_digest() -> None:
    reminders.reminder_digest()
