"""Deadline reminders from a real worker and beat on a travelled clock, delivered to an SMTP server.

The request is the spec's worked example: an EU erasure received 2026-01-15 09:00 UTC, due at the end of
Mon 16 Feb 2026 in Brussels. For each reminder point a `celery worker -B` process starts with its clock
travelled to a few minutes after that point (tests/support/frozen_celery.py, time_machine with tick),
beat sweeps reminders every second, the worker renders each reminder and delivers it to an aiosmtpd
server in this process, and the worker is stopped. Redis is the broker (keys under CELERY_KEY_PREFIX,
removed afterwards); the database is this run's PostgreSQL test database, which the workers share.

"Twice at once" is made certain rather than hoped for: while this process holds the reminder's row lock,
two workers' sweeps both read it as due and both wait on their claim; releasing the lock makes them race.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection, transaction

from config.celery import app as celery_app
from notifications.models import Message
from removal import reminders, services
from removal.models import Channel, DeadlineKind, Reminder, RemovalRequest, Status
from removal.tasks import sweep_reminders
from tests.conftest import REQUIRE_SERVICES, SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

BRUSSELS = ZoneInfo("Europe/Brussels")
RECEIVED = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
RESPOND = DeadlineKind.RESPOND.value
DECISION = DeadlineKind.EXTENSION_DECISION.value
REMINDER_TEMPLATE = "removal/emails/staff_reminder"
WAIT_SECONDS = 30.0
_SWEEP_DONE = re.compile(r"Task removal\.tasks\.sweep_reminders\[[0-9a-f-]+\] succeeded in ")
_OUTBOX_SWEEP_DONE = re.compile(r"Task notifications\.tasks\.sweep_outbox\[[0-9a-f-]+\] succeeded in ")
_BEAT_SENT_SWEEP = "Scheduler: Sending due task sweep-reminders"


def just_after(day: date) -> datetime:
    """Five minutes into a day in Brussels: the EU rule's reminders fall due at its local midnight."""
    return datetime(day.year, day.month, day.day, 0, 5, tzinfo=BRUSSELS)


# --- An SMTP server in the test process ------------------------------------------------------------


class Inbox:
    """aiosmtpd handler keeping what it accepts; `to(address)` lists the subjects sent to an address."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[str]:
        return [
            str(email.message_from_bytes(envelope.content, policy=email.policy.default)["Subject"])
            for envelope in list(self.envelopes)
            if envelope.rcpt_tos == [address]
        ]

    def team(self) -> list[str]:
        return self.to(settings.PRIVACY_TEAM_EMAIL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port, server_hostname="localhost")
    controller.start()
    yield box
    controller.stop()


# --- Broker keys and the frozen worker processes ---------------------------------------------------


def _key_prefix() -> str:
    prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))
    if not prefix:
        reason = "set CELERY_KEY_PREFIX (e.g. removal-ci:) so the test's broker keys can be cleaned up"
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return prefix


@pytest.fixture
def broker_keys() -> Iterator[None]:
    """Afterwards, delete the keys under our prefix that the test created (never FLUSHALL/FLUSHDB)."""
    prefix = _key_prefix()
    client = redis.Redis.from_url(settings.REDIS_URL)
    before = set(client.scan_iter(match=f"{prefix}*", count=500))
    yield
    created = set(client.scan_iter(match=f"{prefix}*", count=500)) - before
    if created:
        client.delete(*created)
    client.close()


def _test_database_url() -> str:
    """This run's test database (e.g. test_test) as a URL the worker's settings read."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


@dataclass
class FrozenWorker:
    process: subprocess.Popen[bytes]
    log_path: Path
    at: datetime
    name: str
    stopped: bool = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sweeps_done(self) -> int:
        return len(_SWEEP_DONE.findall(self.log()))

    def outbox_sweeps_done(self) -> int:
        return len(_OUTBOX_SWEEP_DONE.findall(self.log()))

    def beat_sent_sweeps(self) -> int:
        return self.log().count(_BEAT_SENT_SWEEP)

    def wait_for(self, condition: Callable[[], bool], *, what: str, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.process.returncode}) waiting for {what}:\n{self.log()}"
                )
            time.sleep(0.05)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; {self.name}'s log:\n{self.log()}")

    def stop(self) -> None:
        """Warm shutdown by pid; then end whatever is left of its process group (the embedded beat)."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        # The worker leads its own session (start_new_session), so its group id is its pid. Normally the
        # group is empty by now (beat ends with the worker); a worker killed above may orphan its beat.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


StartWorker = Callable[..., FrozenWorker]


@pytest.fixture
def start_worker(broker_keys: None, inbox: Inbox, tmp_path: Path) -> Iterator[StartWorker]:
    """Start `celery worker` (with beat unless told otherwise) on a clock travelled to `at`."""
    workers: list[FrozenWorker] = []
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
        "EMAIL_URL": f"smtp://127.0.0.1:{inbox.port}",
        "EMAIL_TIMEOUT": "5",
        "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
        "PRIVACY_TEAM_EMAIL": settings.PRIVACY_TEAM_EMAIL,
        "DEFAULT_FROM_EMAIL": settings.DEFAULT_FROM_EMAIL,
        "REMINDER_SWEEP_SECONDS": "1",
        "OUTBOX_SWEEP_SECONDS": "1",
        "OUTBOX_RETRY_BASE_SECONDS": "1",
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }

    def start(*, at: datetime, beat: bool = True) -> FrozenWorker:
        number = len(workers) + 1
        name = f"worker {number} ({'with' if beat else 'without'} beat, clock at {at.isoformat()})"
        # Only one beat may run; each gets a fresh schedule file so no entry carries a last run over.
        beat_args = ["-B", "-s", str(tmp_path / f"beat-schedule-{number}")] if beat else []
        log_path = tmp_path / f"celery-worker-{number}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.frozen_celery",
                    at.astimezone(UTC).isoformat(),
                    "-A",
                    "config",
                    "worker",
                    *beat_args,
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
                    f"reminders-test-{uuid.uuid4().hex[:8]}@%h",
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = FrozenWorker(process=process, log_path=log_path, at=at, name=name)
        workers.append(worker)
        worker.wait_for(lambda: " ready." in worker.log(), what="the worker to be ready")
        return worker

    yield start
    for worker in workers:
        worker.stop()


@contextmanager
def published_to_the_broker() -> Iterator[None]:
    """This process's Celery is eager under the test settings: publish to Redis for real instead."""
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = was_eager


# --- Helpers ---------------------------------------------------------------------------------------


def _submit() -> RemovalRequest:
    # This process's Celery is eager: the acknowledgement and confirmation go to Django's locmem
    # outbox here, at the intake instant, and never reach the SMTP server.
    with time_machine.travel(RECEIVED, tick=False):
        request = services.removal_request_create(
            name=SUBJECT_NAME,
            email=SUBJECT_EMAIL,
            right="erasure",
            jurisdictions=["EU"],
            channel=Channel.WEB,
            actor=services.SUBJECT,
        ).request
    planned = list(
        Reminder.objects.filter(request=request)
        .order_by("due_at", "deadline")
        .values_list("deadline", "due_at")
    )
    assert [(kind, due.astimezone(BRUSSELS).date()) for kind, due in planned] == [
        (RESPOND, date(2026, 2, 2)),
        (DECISION, date(2026, 2, 9)),
        (RESPOND, date(2026, 2, 9)),
        (RESPOND, date(2026, 2, 13)),
        (RESPOND, date(2026, 2, 15)),
        (RESPOND, date(2026, 2, 17)),
    ]
    return request


def _points(request: RemovalRequest, status: str) -> set[tuple[str, int]]:
    return set(Reminder.objects.filter(request=request, status=status).values_list("deadline", "days_before"))


def _reminder_messages(request: RemovalRequest) -> int:
    return Message.objects.filter(about=f"removal.request:{request.id}", template=REMINDER_TEMPLATE).count()


def _run_point(start_worker: StartWorker, inbox: Inbox, *, at: datetime, expected: int) -> list[str]:
    """Run worker and beat just after a point until its reminders arrived, then stop; return them."""
    before = len(inbox.team())
    worker = start_worker(at=at)
    worker.wait_for(lambda: len(inbox.team()) >= before + expected, what=f"{expected} reminder(s) at {at}")
    # One more sweep of each kind after delivery: a reminder queued or delivered twice would arrive now.
    # (The first sweep may be one the previous worker's beat left queued; the later ones are beat's.)
    swept, outbox_swept = worker.sweeps_done(), worker.outbox_sweeps_done()
    worker.wait_for(
        lambda: (
            worker.sweeps_done() > swept
            and worker.outbox_sweeps_done() > outbox_swept
            and worker.beat_sent_sweeps() >= 2
        ),
        what="beat's next reminder sweep and outbox sweep",
    )
    worker.stop()
    return inbox.team()[before:]


def _claims_waiting_on_this_connection() -> list[str]:
    """Queries of other backends waiting, directly or in the lock queue, for a lock this connection holds.

    The first waiter on a row lock waits for this transaction; later ones queue behind the first
    waiter's tuple lock, so they are found by following `pg_blocking_pids` back to us.
    """
    with connection.cursor() as cursor:
        # pg_stat_activity is a snapshot taken once per transaction unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT pg_backend_pid()")
        [(us,)] = cursor.fetchall()
        cursor.execute(
            "SELECT pid, query, pg_blocking_pids(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
        )
        blocked = {pid: (query, set(blockers)) for pid, query, blockers in cursor.fetchall()}
    behind_us = {us}
    while grown := {pid for pid, (_, blockers) in blocked.items() if blockers & behind_us} - behind_us:
        behind_us |= grown
    return [blocked[pid][0] for pid in behind_us - {us}]


# --- Specifications --------------------------------------------------------------------------------


def test_worker_and_beat_send_each_reminder_once_at_its_point_and_none_after_completion(
    start_worker: StartWorker, inbox: Inbox, reviewer: Any
) -> None:
    request = _submit()
    ref = request.reference
    walk = [
        (date(2026, 2, 2), {(RESPOND, 14)}, [f"D-14: Response for {ref} due 16 Feb 2026"]),
        (
            date(2026, 2, 9),
            {(DECISION, 7), (RESPOND, 7)},
            [f"D-7: Response for {ref} due 16 Feb 2026", f"Last week to extend {ref}"],
        ),
        (date(2026, 2, 13), {(RESPOND, 3)}, [f"D-3: Response for {ref} due 16 Feb 2026"]),
        (date(2026, 2, 15), {(RESPOND, 1)}, [f"D-1: Response for {ref} due 16 Feb 2026"]),
        (date(2026, 2, 17), {(RESPOND, -1)}, [f"OVERDUE (1 day): Response for {ref}"]),
    ]
    sent: set[tuple[str, int]] = set()
    for day, points, subjects in walk:
        at = just_after(day)
        delivered = _run_point(start_worker, inbox, at=at, expected=len(subjects))
        assert sorted(delivered) == sorted(subjects), f"reminders delivered at {at}"
        sent |= points
        assert _points(request, Reminder.Status.SENT) == sent, f"nothing early, nothing twice at {at}"
        assert not _points(request, Reminder.Status.SENDING)
        for reminder in Reminder.objects.filter(request=request, days_before__in={d for _, d in points}):
            assert reminder.recipient_kind == "team"
            assert reminder.sent_at is not None
            # Written by the worker: proof that its clock, not the real one, decided what was due.
            assert at <= reminder.sent_at < at + timedelta(minutes=1)
    assert _reminder_messages(request) == 6
    assert not {subject for _, _, subjects in walk for subject in subjects} & set(inbox.to(SUBJECT_EMAIL))
    # The first overdue reminder planned the next one, due at the start of the second late day.
    assert _points(request, Reminder.Status.PENDING) == {(RESPOND, -2)}

    with time_machine.travel(just_after(date(2026, 2, 17)) + timedelta(hours=10), tick=False):
        for move in (
            "start_verification",
            "verify",
            "start_discovery",
            "finish_discovery",
            "approve_purge",
            "complete_purge",
        ):
            request = services.removal_request_transition(
                request=request, move=move, actor=services.Actor.staff(reviewer)
            )
    assert request.status == Status.COMPLETED
    assert _points(request, Reminder.Status.CANCELLED) == {(RESPOND, -2)}
    assert not Reminder.objects.filter(
        request=request, status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING]
    ).exists()

    received = len(inbox.envelopes)
    worker = start_worker(at=just_after(date(2026, 2, 18)))
    # Beat on the travelled clock sent the sweep three times and the worker ran them all (and the
    # outbox's): anything a sweep had queued would have been delivered before the third finished.
    worker.wait_for(
        lambda: (
            worker.beat_sent_sweeps() >= 3 and worker.sweeps_done() >= 3 and worker.outbox_sweeps_done() >= 2
        ),
        what="beat to send three reminder sweeps and the worker to run them",
    )
    swept = worker.sweeps_done()
    worker.wait_for(lambda: worker.sweeps_done() > swept, what="one more reminder sweep")
    worker.stop()
    assert len(inbox.envelopes) == received, "nothing is sent once the request is completed"
    assert _reminder_messages(request) == 6
    assert not Reminder.objects.filter(
        request=request, status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING]
    ).exists()


def test_two_workers_sweeping_at_once_send_the_overdue_reminder_once(
    start_worker: StartWorker, inbox: Inbox
) -> None:
    request = _submit()
    with time_machine.travel(just_after(date(2026, 2, 17)), tick=False):
        # Catch up here, in this process: the missed points D-14 … D-1 are superseded by the first
        # overdue day, the only one sent.
        assert reminders.reminder_sweep() == 1
    day_two = Reminder.objects.get(
        request=request, deadline=RESPOND, days_before=-2, status=Reminder.Status.PENDING
    )
    at = just_after(date(2026, 2, 18))
    assert day_two.due_at <= at

    with transaction.atomic():
        # Holding the row lock lets both sweeps read the reminder as due and then queue up on their
        # claims (the conditional UPDATE): when it is released they race for the same row for real.
        Reminder.objects.select_for_update().get(id=day_two.id)
        first = start_worker(at=at)  # the only beat
        second = start_worker(at=at, beat=False)
        with published_to_the_broker():
            sweep_reminders.delay()
            sweep_reminders.delay()

        def both_claims_wait() -> bool:
            return len(_claims_waiting_on_this_connection()) >= 2

        first.wait_for(both_claims_wait, what="two sweeps waiting to claim the same reminder")
        waiting = _claims_waiting_on_this_connection()
        assert len(waiting) == 2
        assert all(query.startswith('UPDATE "removal_reminder" SET "status"') for query in waiting), waiting

    first.wait_for(lambda: len(inbox.team()) >= 1, what="the second overdue reminder")
    # Each worker finished the sweep it was blocked in (a solo worker runs one task at a time), and
    # two more of beat's sweeps, taken by whichever worker was free, found nothing left to send.
    first.wait_for(
        lambda: (
            first.sweeps_done() >= 1
            and second.sweeps_done() >= 1
            and first.sweeps_done() + second.sweeps_done() >= 4
        ),
        what="both racing sweeps and two more to finish",
    )
    first.stop()
    second.stop()

    assert inbox.team() == [f"OVERDUE (2 days): Response for {request.reference}"]
    day_two.refresh_from_db()
    assert day_two.status == Reminder.Status.SENT
    assert day_two.sent_at is not None
    assert at <= day_two.sent_at < at + timedelta(minutes=1)
    assert _reminder_messages(request) == 2
    assert _points(request, Reminder.Status.PENDING) == {(RESPOND, -3)}
