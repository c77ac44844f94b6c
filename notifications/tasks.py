from __future__ import annotations

from celery import shared_task

from notifications import services


@shared_task(acks_late=True, ignore_result=True)
def deliver_message(message_id: str) -> None:
    services.message_deliver(message_id=message_id)


@shared_task(ignore_result=True)
def sweep_outbox() -> None:
    services.outbox_sweep()
