"""A real Celery worker delivers the subject's e-mails to an SMTP server; the broker carries only ids.

The test process publishes to Redis (its Celery is switched out of eager mode); a separate `celery
worker` process, configured like production from the environment, reads the test database, decrypts
the outbox row and talks SMTP to an aiosmtpd server running inside the test process. The SMTP server,
the broker's keys and the worker process come from tests/support/workers.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.utils import timezone

from notifications.models import DeliveryAttempt, Message
from notifications.services import outbox_sweep
from removal import services
from removal.models import Channel, RemovalRequest
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME
from tests.support.workers import (
    CeleryWorker,
    CeleryWorkers,
    SmtpServers,
    free_port,
    published_to_the_broker,
    worker_arguments,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

DELIVERY_TIMEOUT = 30.0
DELIVER_TASK = "notifications.tasks.deliver_message"
# What must never reach the broker, the worker's log or the delivery log.
PII_NEEDLES = [SUBJECT_EMAIL, SUBJECT_NAME, "quintero"]


# --- The worker process and what this process publishes -----------------------------------------


@pytest.fixture
def start_worker(celery_workers: CeleryWorkers) -> Callable[..., CeleryWorker]:
    """Start `celery worker` against the test database and Redis, sending mail to the given port."""

    def start(*, smtp_port: int, retry_base_seconds: int = 1) -> CeleryWorker:
        return celery_workers.start(
            [str(Path(sys.executable).parent / "celery"), *worker_arguments(hostname="removal-test")],
            name="the worker",
            smtp_port=smtp_port,
            env={"OUTBOX_RETRY_BASE_SECONDS": str(retry_base_seconds)},
        )

    return start


@pytest.fixture
def published(broker_key_prefix: str) -> Iterator[list[dict[str, Any]]]:
    """Publish this test's tasks to Redis (not eagerly) and record what each task message carried."""
    messages: list[dict[str, Any]] = []

    def record(sender: str | None = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        messages.append({"task": sender, "body": body, "headers": dict(headers or {})})

    before_task_publish.connect(record, weak=False)
    try:
        with published_to_the_broker():
            yield messages
    finally:
        before_task_publish.disconnect(record)


# --- Helpers ---------------------------------------------------------------------------------------


def _submit_request() -> tuple[RemovalRequest, list[str]]:
    # transaction=True: autocommit, so the outbox's on_commit hooks publish as the service returns.
    result = services.removal_request_create(
        name=SUBJECT_NAME,
        email=SUBJECT_EMAIL,
        right="erasure",
        jurisdictions=["EU"],
        channel=Channel.WEB,
        actor=services.SUBJECT,
    )
    ids = sorted(
        str(pk)
        for pk in Message.objects.filter(about=f"removal.request:{result.request.id}").values_list(
            "id", flat=True
        )
    )
    assert len(ids) == 2, "an acknowledgement and a confirmation request"
    return result.request, ids


def _assert_tasks_carried_only_ids(published: list[dict[str, Any]], message_ids: list[str]) -> None:
    deliveries = [p for p in published if p["task"] == DELIVER_TASK]
    assert deliveries, "nothing was published to the broker"
    for delivery in deliveries:
        args, kwargs, _embed = delivery["body"]
        assert len(args) == 1
        assert args[0] in message_ids
        assert kwargs == {}
    on_the_wire = json.dumps([p["body"] for p in published] + [p["headers"] for p in published], default=str)
    assert not [needle for needle in PII_NEEDLES if needle.lower() in on_the_wire.lower()]


def _assert_no_pii_in(text: str, where: str) -> None:
    leaked = [needle for needle in PII_NEEDLES if needle.lower() in text.lower()]
    assert not leaked, f"{where} contains {leaked}"


def _subjects(reference: str) -> list[str]:
    return sorted(
        [f"We received your request {reference}", f"Please confirm your e-mail address ({reference})"]
    )


# --- Specifications --------------------------------------------------------------------------------


def test_worker_delivers_acknowledgement_and_confirmation_over_smtp(
    smtp_servers: SmtpServers, start_worker: Callable[..., CeleryWorker], published: list[dict[str, Any]]
) -> None:
    port = free_port()
    inbox = smtp_servers.start(port)
    worker = start_worker(smtp_port=port)

    request, message_ids = _submit_request()

    worker.wait_for(lambda: len(inbox.envelopes) >= 2, timeout=DELIVERY_TIMEOUT, what="two e-mails")
    worker.wait_for(
        lambda: Message.objects.filter(id__in=message_ids, status=Message.Status.SENT).count() == 2,
        timeout=DELIVERY_TIMEOUT,
        what="both messages recorded as sent",
    )
    assert len(inbox.envelopes) == 2
    assert all(envelope.rcpt_tos == [SUBJECT_EMAIL] for envelope in inbox.envelopes)
    received = inbox.messages()
    assert sorted(str(m["Subject"]) for m in received) == _subjects(request.reference)
    assert all(m["To"] == SUBJECT_EMAIL and m["Auto-Submitted"] == "auto-generated" for m in received)
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in received]  # type: ignore[union-attr]
    assert any(f"{settings.PUBLIC_BASE_URL}/status/?t=" in body for body in bodies)
    assert any(f"{settings.PUBLIC_BASE_URL}/confirm/?t=" in body for body in bodies)

    for message in Message.objects.filter(id__in=message_ids):
        assert message.status == Message.Status.SENT
        assert message.sent_at is not None
        assert message.attempts == 1
        assert message.last_error == ""
        [attempt] = DeliveryAttempt.objects.filter(message=message)
        assert attempt.number == 1
        assert attempt.outcome == DeliveryAttempt.Outcome.SENT
        assert attempt.error == ""

    _assert_tasks_carried_only_ids(published, message_ids)
    log = worker.log()
    assert log.count(f"{DELIVER_TASK}[") >= 2, "the worker, not the test process, ran the deliveries"
    _assert_no_pii_in(log, "the worker's log")


def test_smtp_outage_is_retried_and_the_sweeper_delivers_once_smtp_is_back(
    smtp_servers: SmtpServers, start_worker: Callable[..., CeleryWorker], published: list[dict[str, Any]]
) -> None:
    port = free_port()  # nothing listens here until the outage ends
    # The worker schedules its own retry 15-30 s out, so within this test only the sweeper can deliver.
    worker = start_worker(smtp_port=port, retry_base_seconds=30)

    request, message_ids = _submit_request()

    def failed_once_and_pending_again() -> bool:
        messages = Message.objects.filter(id__in=message_ids)
        return all(m.status == Message.Status.PENDING and m.attempts == 1 for m in messages)

    worker.wait_for(failed_once_and_pending_again, timeout=DELIVERY_TIMEOUT, what="a failed attempt each")
    for message in Message.objects.filter(id__in=message_ids):
        [attempt] = DeliveryAttempt.objects.filter(message=message)
        assert attempt.outcome == DeliveryAttempt.Outcome.FAILED
        # smtplib and socket errors can quote the recipient; only the class (and SMTP code) is kept.
        assert message.last_error == attempt.error == "ConnectionRefusedError"
        _assert_no_pii_in(message.last_error, "last_error")
        assert message.next_attempt_at > attempt.started_at + timedelta(seconds=10), "backs off"
        assert message.sent_at is None
    log = worker.log()
    assert all(
        f"message {message_id} attempt 1 failed: ConnectionRefusedError" in log for message_id in message_ids
    )

    inbox = smtp_servers.start(port)
    due = Message.objects.filter(id__in=message_ids, status=Message.Status.PENDING).update(
        next_attempt_at=timezone.now()
    )
    assert due == 2
    assert outbox_sweep() == 2

    worker.wait_for(
        lambda: Message.objects.filter(id__in=message_ids, status=Message.Status.SENT).count() == 2,
        timeout=DELIVERY_TIMEOUT,
        what="delivery after the outage",
    )
    assert len(inbox.envelopes) == 2, "each message delivered exactly once"
    assert sorted(str(m["Subject"]) for m in inbox.messages()) == _subjects(request.reference)
    for message in Message.objects.filter(id__in=message_ids):
        assert message.attempts == 2
        assert message.last_error == ""
        outcomes = list(DeliveryAttempt.objects.filter(message=message).values_list("number", "outcome"))
        assert outcomes == [(1, DeliveryAttempt.Outcome.FAILED), (2, DeliveryAttempt.Outcome.SENT)]

    _assert_tasks_carried_only_ids(published, message_ids)
    _assert_no_pii_in(worker.log(), "the worker's log")
