"""Deadline reminders from a real worker and beat on a travelled clock, delivered to an SMTP server.

The request is the spec's worked example: an EU erasure received 2026-01-15 09:00 UTC, due at the end of
Mon 16 Feb 2026 in Brussels. For each reminder point a `celery worker -B` process starts with its clock
travelled to a few minutes after that point (tests/support/frozen_celery.py, time_machine with tick),
beat sweeps reminders every second, the worker renders each reminder and delivers it to an aiosmtpd
server in this process, and the worker is stopped. Redis is the broker (keys under this test's own
CELERY_KEY_PREFIX, removed afterwards); the database is this run's PostgreSQL test database, which the
workers share. The SMTP server, the broker's keys and the worker process come from tests/support/workers.py.

"Twice at once" is made certain rather than hoped for: while this process holds the reminder's row lock,
two workers' sweeps both read it as due and both wait on their claim; releasing the lock makes them race.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction

from notifications.models import Message
from removal import reminders, services
from removal.models import Channel, DeadlineKind, Reminder, RemovalRequest, Status
from removal.services import lifecycle
from removal.tasks import sweep_reminders
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME
from tests.support.workers import (
    CeleryWorker,
    CeleryWorkers,
    Inbox,
    SmtpServers,
    free_port,
    published_to_the_broker,
    queries_waiting_on_this_connection,
    worker_arguments,
)

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
_SWEEP_DONE = re.compile(r"Task removal\.tasks\.sweep_reminders\[[0-9a-f-]+\] succeeded in ")
_OUTBOX_SWEEP_DONE = re.compile(r"Task notifications\.tasks\.sweep_outbox\[[0-9a-f-]+\] succeeded in ")
_BEAT_SENT_SWEEP = "Scheduler: Sending due task sweep-reminders"


def just_after(day: date) -> datetime:
    """Five minutes into a day in Brussels: the EU rule's reminders fall due at its local midnight."""
    return datetime(day.year, day.month, day.day, 0, 5, tzinfo=BRUSSELS)


@pytest.fixture
def inbox(smtp_servers: SmtpServers) -> Inbox:
    return smtp_servers.start(free_port())


# --- The frozen worker processes -------------------------------------------------------------------


class FrozenWorker(CeleryWorker):
    """A worker (with or without beat) on a travelled clock; counts what its log says it did."""

    def sweeps_done(self) -> int:
        return len(_SWEEP_DONE.findall(self.log()))

    def outbox_sweeps_done(self) -> int:
        return len(_OUTBOX_SWEEP_DONE.findall(self.log()))

    def beat_sent_sweeps(self) -> int:
        return self.log().count(_BEAT_SENT_SWEEP)


StartWorker = Callable[..., FrozenWorker]


@pytest.fixture
def start_worker(inbox: Inbox, celery_workers: CeleryWorkers, tmp_path: Path) -> StartWorker:
    """Start `celery worker` (with beat unless told otherwise) on a clock travelled to `at`."""

    def start(*, at: datetime, beat: bool = True) -> FrozenWorker:
        number = celery_workers.next_number
        name = f"worker {number} ({'with' if beat else 'without'} beat, clock at {at.isoformat()})"
        # Only one beat may run; each gets a fresh schedule file so no entry carries a last run over.
        beat_args = ["-B", "-s", str(tmp_path / f"beat-schedule-{number}")] if beat else []
        return celery_workers.start(
            [
                sys.executable,
                "-m",
                "tests.support.frozen_celery",
                at.astimezone(UTC).isoformat(),
                *worker_arguments(hostname="reminders-test", extra=beat_args),
            ],
            name=name,
            smtp_port=inbox.port,
            env={
                "REMINDER_SWEEP_SECONDS": "1",
                "OUTBOX_SWEEP_SECONDS": "1",
                "OUTBOX_RETRY_BASE_SECONDS": "1",
            },
            kind=FrozenWorker,
        )

    return start


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


# --- Specifications --------------------------------------------------------------------------------


def test_worker_and_beat_send_each_reminder_once_at_its_point_and_none_after_completion(
    start_worker: StartWorker, inbox: Inbox, reviewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Verifying an erasure wakes discovery after commit; this test makes discovery's moves itself.
    monkeypatch.setattr(lifecycle, "_enqueue_discovery", lambda request_id: None)
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
        # The request's own moves, one after the other (discovery and the purge's jobs, which make
        # some of them in production, are tested elsewhere: here only the reminders matter).
        actor = services.Actor.staff(reviewer)
        for move in (
            services.removal_request_start_verification,
            lambda request, actor: services.removal_request_verify(
                request=request, actor=actor, method="test"
            ),
            services.removal_request_start_discovery,
            services.removal_request_finish_discovery,
            services.removal_request_approve_purge,
            services.removal_request_complete_purge,
        ):
            request = move(request=request, actor=actor)
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
            return len(queries_waiting_on_this_connection()) >= 2

        first.wait_for(both_claims_wait, what="two sweeps waiting to claim the same reminder")
        waiting = queries_waiting_on_this_connection()
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
