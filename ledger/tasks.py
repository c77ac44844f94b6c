from __future__ import annotations

from celery import shared_task

from ledger.services import witnesses_push


@shared_task(ignore_result=True)
def push_to_witnesses() -> None:
    """Beat task: hand the newest checkpoint to every configured witness that lacks it."""
    witnesses_push()
