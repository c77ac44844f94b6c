"""Reminders to staff before every open hard deadline (docs/spec/deadlines.md, "Reminders")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from notifications.models import Message
from removal import reminders, services
from removal.models import DeadlineKind, Reminder, RemovalRequest

pytestmark = pytest.mark.django_db

# The spec's worked example: EU erasure received 2026-01-15 09:00 UTC, due end of Mon 16 Feb 2026.
RECEIVED = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def eu_request(make_request: Any) -> RemovalRequest:
    with time_machine.travel(RECEIVED, tick=False):
        return make_request().request


def _points(request: RemovalRequest) -> list[tuple[str, int, datetime]]:
    return [
        (r.deadline, r.days_before, r.due_at)
        for r in Reminder.objects.filter(request=request, status=Reminder.Status.PENDING).order_by(
            "due_at", "deadline"
        )
    ]


def _sweep_at(moment: datetime, mailoutbox: list[Any], capture: Any) -> list[str]:
    before = len(mailoutbox)
    with time_machine.travel(moment, tick=False), capture(execute=True):
        reminders.reminder_sweep()
    return [m.subject for m in mailoutbox[before:]]


def test_intake_plans_d14_d7_d3_d1_overdue_and_the_extension_alarm_in_brussels_time(
    eu_request: RemovalRequest,
) -> None:
    brussels = ZoneInfo("Europe/Brussels")
    assert _points(eu_request) == [
        ("respond_by", 14, datetime(2026, 2, 2, tzinfo=brussels)),
        ("extension_decision", 7, datetime(2026, 2, 9, tzinfo=brussels)),
        ("respond_by", 7, datetime(2026, 2, 9, tzinfo=brussels)),
        ("respond_by", 3, datetime(2026, 2, 13, tzinfo=brussels)),
        ("respond_by", 1, datetime(2026, 2, 15, tzinfo=brussels)),
        ("respond_by", -1, datetime(2026, 2, 17, tzinfo=brussels)),
    ]


def test_us_ca_request_also_has_acknowledgement_reminders(make_request: Any) -> None:
    with time_machine.travel(datetime(2026, 4, 3, 18, 0, tzinfo=UTC), tick=False):
        request = make_request(jurisdictions=["US-CA"]).request
    kinds = {(r.deadline, r.days_before) for r in Reminder.objects.filter(request=request)}
    assert {
        ("acknowledge_by", 7),
        ("acknowledge_by", 3),
        ("acknowledge_by", 1),
        ("acknowledge_by", -1),
    } <= kinds
    assert ("acknowledge_by", 14) not in kinds  # 10 business days: D-14 was before receipt


def test_each_point_sends_one_reminder_to_the_team_and_none_twice(
    eu_request: RemovalRequest, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    mailoutbox.clear()
    sent = _sweep_at(datetime(2026, 2, 2, 8, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
    assert sent == [f"D-14: Response for {eu_request.reference} due 16 Feb 2026"]
    assert mailoutbox[-1].to == [settings.PRIVACY_TEAM_EMAIL]
    assert "end of Monday 16 February 2026 (CET)" in mailoutbox[-1].body
    assert "/staff-admin/removal/removalrequest/" in mailoutbox[-1].body
    assert (
        _sweep_at(datetime(2026, 2, 2, 9, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
        == []
    )


def test_reminders_go_to_the_assignee_when_there_is_one(
    eu_request: RemovalRequest, reviewer: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    RemovalRequest.objects.filter(id=eu_request.id).update(assignee=reviewer)
    _sweep_at(datetime(2026, 2, 2, 8, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
    assert mailoutbox[-1].to == [reviewer.email]
    assert Reminder.objects.get(status=Reminder.Status.SENT).recipient_kind == "assignee"


def test_overdue_reminders_repeat_daily_until_the_request_closes(
    eu_request: RemovalRequest, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    day = datetime(2026, 2, 17, 7, 0, tzinfo=UTC)
    subjects = [_sweep_at(day + timedelta(days=n), mailoutbox, capture) for n in range(3)]
    overdue = [s for batch in subjects for s in batch if s.startswith("OVERDUE")]
    assert overdue == [
        f"OVERDUE (1 day): Response for {eu_request.reference}",
        f"OVERDUE (2 days): Response for {eu_request.reference}",
        f"OVERDUE (3 days): Response for {eu_request.reference}",
    ]
    with time_machine.travel(day + timedelta(days=3), tick=False):
        services.removal_request_withdraw(request=eu_request, actor=services.SUBJECT)
    assert _sweep_at(day + timedelta(days=4), mailoutbox, capture) == []
    assert not Reminder.objects.filter(status=Reminder.Status.PENDING).exists()


def test_reminders_stop_the_moment_the_request_closes(
    eu_request: RemovalRequest, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any, reviewer: Any
) -> None:
    services.removal_request_deny(
        request=eu_request, actor=services.Actor.staff(reviewer), basis="no_response"
    )
    assert set(Reminder.objects.values_list("status", flat=True)) == {Reminder.Status.CANCELLED}
    mailoutbox.clear()
    for day in (datetime(2026, 2, 2, 8, tzinfo=UTC), datetime(2026, 2, 20, 8, tzinfo=UTC)):
        assert _sweep_at(day, mailoutbox, django_capture_on_commit_callbacks) == []


def test_acknowledgement_reminder_is_cancelled_once_the_acknowledgement_was_delivered(
    make_request: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with time_machine.travel(datetime(2026, 4, 3, 18, 0, tzinfo=UTC), tick=False):
        request = make_request(jurisdictions=["US-CA"]).request
    sent = _sweep_at(datetime(2026, 4, 20, 12, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
    assert not [s for s in sent if "Acknowledgement" in s]
    ack = Reminder.objects.filter(request=request, deadline=DeadlineKind.ACKNOWLEDGE)
    assert set(ack.values_list("status", flat=True)) >= {Reminder.Status.CANCELLED}


def test_acknowledgement_reminder_is_sent_while_the_acknowledgement_is_undelivered(
    make_request: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with time_machine.travel(datetime(2026, 4, 3, 18, 0, tzinfo=UTC), tick=False):
        request = make_request(jurisdictions=["US-CA"]).request
    Message.objects.filter(template="removal/emails/acknowledgement").update(status=Message.Status.FAILED)
    sent = _sweep_at(datetime(2026, 4, 10, 12, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
    assert f"D-7: Acknowledgement for {request.reference} due 17 Apr 2026" in sent


def test_two_sweeps_at_once_send_each_reminder_once(
    eu_request: RemovalRequest, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    moment = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
    due = Reminder.objects.filter(due_at__lte=moment, status=Reminder.Status.PENDING)
    # The second sweep read the same due row before the first claimed it.
    stale_ids = list(due.values_list("id", flat=True))
    _sweep_at(moment, mailoutbox, django_capture_on_commit_callbacks)
    with time_machine.travel(moment, tick=False):
        claimed = Reminder.objects.filter(id__in=stale_ids, status=Reminder.Status.PENDING).update(
            status=Reminder.Status.SENDING
        )
    assert claimed == 0
    assert Reminder.objects.filter(status=Reminder.Status.SENT).count() == 1


def test_a_reminder_whose_worker_died_is_sent_after_its_lease(
    eu_request: RemovalRequest, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    moment = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
    Reminder.objects.filter(days_before=14).update(status=Reminder.Status.SENDING, lease_expires_at=moment)
    assert _sweep_at(moment - timedelta(minutes=1), mailoutbox, django_capture_on_commit_callbacks) == []
    assert len(_sweep_at(moment + timedelta(minutes=1), mailoutbox, django_capture_on_commit_callbacks)) == 1


def test_daily_digest_lists_overdue_and_due_soon(
    make_request: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    with time_machine.travel(RECEIVED, tick=False):
        late = make_request().request
    with time_machine.travel(RECEIVED + timedelta(days=25), tick=False):
        soon = make_request(email="soon@example.org", jurisdictions=["BR"]).request
    with (
        time_machine.travel(RECEIVED + timedelta(days=34), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        mailoutbox.clear()
        assert reminders.reminder_digest() == 2
    [digest] = mailoutbox
    assert digest.to == [settings.PRIVACY_TEAM_EMAIL]
    assert digest.subject == "Removal requests: 1 overdue, 1 due within 7 days"
    overdue_part, soon_part = digest.body.split("Due within")
    assert late.reference in overdue_part and soon.reference in soon_part


def test_no_digest_when_nothing_is_due(db: None, mailoutbox: list[Any]) -> None:
    assert reminders.reminder_digest(now=timezone.now()) == 0
    assert not mailoutbox


def test_after_downtime_only_the_latest_due_point_is_sent(
    eu_request: RemovalRequest, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    # Nothing ran from before D-14 until the second overdue day.
    sent = _sweep_at(datetime(2026, 2, 18, 12, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
    assert sent == [f"OVERDUE (2 days): Response for {eu_request.reference}"]
    assert Reminder.objects.filter(status=Reminder.Status.CANCELLED).count() == 5  # D-14 … D-1 and the alarm
    following = Reminder.objects.get(status=Reminder.Status.PENDING)
    assert following.days_before == -3
    assert following.due_at == datetime(2026, 2, 19, tzinfo=ZoneInfo("Europe/Brussels"))


def test_overdue_reminders_stay_at_local_midnight_across_a_clock_change(
    make_request: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    # Due end of Fri 27 Mar 2026 in Brussels; summer time starts on Sunday 29 March.
    with time_machine.travel(datetime(2026, 2, 27, 9, 0, tzinfo=UTC), tick=False):
        make_request()
    brussels = ZoneInfo("Europe/Brussels")
    for day in (28, 29, 30):
        _sweep_at(datetime(2026, 3, day, 8, 0, tzinfo=UTC), mailoutbox, django_capture_on_commit_callbacks)
    following = Reminder.objects.get(status=Reminder.Status.PENDING)
    assert following.due_at.astimezone(brussels) == datetime(2026, 3, 31, tzinfo=brussels)
    assert following.due_at.astimezone(brussels).hour == 0
