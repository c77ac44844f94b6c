"""A real Celery worker delivers the subject's e-mails to an SMTP server; the broker carries only ids.

The test process publishes to Redis (its Celery is switched out of eager mode); a separate `celery
worker` process, configured like production from the environment, reads the test database, decrypts
the outbox row and talks SMTP to an aiosmtpd server running inside the test process.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from aiosmtpd.controller import Controller
from celery.signals import before_task_publish
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from notifications.models import DeliveryAttempt, Message
from notifications.services import outbox_sweep
from removal import services
from removal.models import Channel, RemovalRequest
from tests.conftest import REQUIRE_SERVICES, SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

WORKER_READY_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 30.0
DELIVER_TASK = "notifications.tasks.deliver_message"
# What must never reach the broker, the worker's log or the delivery log.
PII_NEEDLES = [SUBJECT_EMAIL, SUBJECT_NAME, "quintero"]


# --- An SMTP server in the test process ------------------------------------------------------------


class _Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(envelope.content, policy=email.policy.default)
            for envelope in list(self.envelopes)
        ]


def _free_port() -> int:
    """A port nothing listens on right now (the OS picks it; it stays free for the test's few seconds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServers:
    """Start SMTP servers on demand (the outage test starts one late) and stop them all afterwards."""

    controllers: list[Controller] = field(default_factory=list)

    def start(self, port: int) -> _Inbox:
        inbox = _Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="localhost")
        controller.start()
        self.controllers.append(controller)
        return inbox

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


@pytest.fixture
def smtp_servers() -> Iterator[SmtpServers]:
    servers = SmtpServers()
    yield servers
    servers.stop()


# --- Broker keys and the worker process ----------------------------------------------------------


def _key_prefix() -> str:
    prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))
    if not prefix:
        # Without a prefix the broker's keys cannot be told apart from anybody else's in that database.
        reason = "set CELERY_KEY_PREFIX (e.g. removal-ci:) so the test's broker keys can be cleaned up"
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return prefix


@pytest.fixture
def broker_keys() -> Iterator[redis.Redis]:
    """The test's Redis database; afterwards, delete the keys under our prefix that the test created."""
    prefix = _key_prefix()
    client = redis.Redis.from_url(settings.REDIS_URL)
    before = set(client.scan_iter(match=f"{prefix}*", count=500))
    yield client
    created = set(client.scan_iter(match=f"{prefix}*", count=500)) - before
    if created:
        client.delete(*created)
    client.close()


def _test_database_url() -> str:
    """The database this test run created (e.g. test_test), as a URL the worker's settings read."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_for(condition: Callable[[], bool], *, timeout: float, what: str, worker: Worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.process.poll() is not None:
            pytest.fail(
                f"the worker exited ({worker.process.returncode}) while waiting for {what}:\n{worker.log()}"
            )
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; worker log:\n{worker.log()}")


@pytest.fixture
def start_worker(broker_keys: redis.Redis, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start `celery worker` against the test database and Redis, sending mail to the given port."""
    workers: list[Worker] = []

    def start(*, smtp_port: int, retry_base_seconds: int = 1) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # config.settings_test put the test keys in os.environ: the worker must open the same vault.
            "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
            "VAULT_MASTER_KEYS": os.environ["VAULT_MASTER_KEYS"],
            "VAULT_BLIND_INDEX_KEY": os.environ["VAULT_BLIND_INDEX_KEY"],
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_KEY_PREFIX": _key_prefix(),
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_TIMEOUT": "5",
            "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
            "OUTBOX_RETRY_BASE_SECONDS": str(retry_base_seconds),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        log_path = tmp_path / f"celery-worker-{len(workers) + 1}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "--pool",
                    "solo",
                    "--concurrency",
                    "1",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    "celery",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"removal-test-{uuid.uuid4().hex[:8]}@%h",
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process=process, log_path=log_path)
        workers.append(worker)
        _wait_for(
            lambda: " ready." in worker.log(), timeout=WORKER_READY_TIMEOUT, what="the worker", worker=worker
        )
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def published() -> Iterator[list[dict[str, Any]]]:
    """Publish this test's tasks to Redis (not eagerly) and record what each task message carried."""
    messages: list[dict[str, Any]] = []

    def record(sender: str | None = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        messages.append({"task": sender, "body": body, "headers": dict(headers or {})})

    before_task_publish.connect(record, weak=False)
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield messages
    celery_app.conf.task_always_eager = was_eager
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
    smtp_servers: SmtpServers, start_worker: Callable[..., Worker], published: list[dict[str, Any]]
) -> None:
    port = _free_port()
    inbox = smtp_servers.start(port)
    worker = start_worker(smtp_port=port)

    request, message_ids = _submit_request()

    _wait_for(lambda: len(inbox.envelopes) >= 2, timeout=DELIVERY_TIMEOUT, what="two e-mails", worker=worker)
    _wait_for(
        lambda: Message.objects.filter(id__in=message_ids, status=Message.Status.SENT).count() == 2,
        timeout=DELIVERY_TIMEOUT,
        what="both messages recorded as sent",
        worker=worker,
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
    smtp_servers: SmtpServers, start_worker: Callable[..., Worker], published: list[dict[str, Any]]
) -> None:
    port = _free_port()  # nothing listens here until the outage ends
    # The worker schedules its own retry 15-30 s out, so within this test only the sweeper can deliver.
    worker = start_worker(smtp_port=port, retry_base_seconds=30)

    request, message_ids = _submit_request()

    def failed_once_and_pending_again() -> bool:
        messages = Message.objects.filter(id__in=message_ids)
        return all(m.status == Message.Status.PENDING and m.attempts == 1 for m in messages)

    _wait_for(
        failed_once_and_pending_again, timeout=DELIVERY_TIMEOUT, what="a failed attempt each", worker=worker
    )
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

    _wait_for(
        lambda: Message.objects.filter(id__in=message_ids, status=Message.Status.SENT).count() == 2,
        timeout=DELIVERY_TIMEOUT,
        what="delivery after the outage",
        worker=worker,
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
