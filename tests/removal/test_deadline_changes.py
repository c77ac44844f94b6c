"""Deadlines that move: extensions (once, in time, where allowed) and the identity clock (GB, EU pause)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from ledger.models import AuditEvent
from removal import services
from removal.models import DeadlineKind, Reminder, RemovalRequest
from removal.services.deadlines import removal_request_extend, removal_request_record_identity_received

pytestmark = pytest.mark.django_db


def _local_day(instant: datetime | None, zone: str) -> date:
    assert instant is not None
    return instant.astimezone(ZoneInfo(zone)).date()


@pytest.fixture
def staff(reviewer: Any) -> services.Actor:
    return services.Actor.staff(reviewer)


def test_extension_sets_the_extended_deadline_tells_the_subject_and_replans_reminders(
    make_request: Any, staff: services.Actor, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with time_machine.travel(datetime(2026, 1, 15, 9, tzinfo=UTC), tick=False):
        request = make_request().request
    with (
        time_machine.travel(datetime(2026, 2, 10, 9, tzinfo=UTC), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        request = removal_request_extend(request=request, actor=staff, reason="volume_of_data")
    assert request.extended_at is not None and request.extension_reason == "volume_of_data"
    assert request.response_due == request.respond_by_extended
    assert _local_day(request.response_due, "Europe/Brussels") == date(2026, 4, 15)
    notice = mailoutbox[-1]
    assert notice.subject == f"We need more time for your request {request.reference}"
    assert "from 16 February 2026 to 15 April 2026" in notice.body
    assert "A large number of photos must be searched and reviewed" in notice.body
    pending = set(Reminder.objects.filter(status=Reminder.Status.PENDING).values_list("deadline", flat=True))
    assert pending == {DeadlineKind.RESPOND_EXTENDED}
    event = AuditEvent.objects.latest("id")
    assert event.action == "request.extended" and "volume_of_data" in event.payload


def test_extension_is_refused_a_second_time(make_request: Any, staff: services.Actor) -> None:
    request = make_request().request
    removal_request_extend(request=request, actor=staff, reason="complexity")
    with pytest.raises(services.IllegalTransition, match="already extended once"):
        removal_request_extend(request=request, actor=staff, reason="complexity")


def test_extension_is_refused_after_the_original_deadline(make_request: Any, staff: services.Actor) -> None:
    with time_machine.travel(datetime(2026, 1, 15, 9, tzinfo=UTC), tick=False):
        request = make_request().request
    with (
        time_machine.travel(datetime(2026, 2, 17, 9, tzinfo=UTC), tick=False),
        pytest.raises(services.IllegalTransition, match=r"past its original deadline \(2026-02-16 CET\)"),
    ):
        removal_request_extend(request=request, actor=staff, reason="complexity")
    request.refresh_from_db()
    assert request.extended_at is None


def test_extension_is_refused_where_a_named_law_allows_none(make_request: Any, staff: services.Actor) -> None:
    request = make_request(jurisdictions=["EU", "BR"]).request
    assert request.respond_by_extended is None
    with pytest.raises(services.IllegalTransition, match="under BR, EU: no extension is allowed"):
        removal_request_extend(request=request, actor=staff, reason="complexity")


def test_extension_needs_a_reason(make_request: Any, staff: services.Actor) -> None:
    with pytest.raises(services.InvalidRequest):
        removal_request_extend(request=make_request().request, actor=staff, reason="we are busy")


def test_gb_clock_restarts_when_requested_identity_arrives(
    make_request: Any, staff: services.Actor, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    # The spec's worked example: received 2 Feb, identity 9 Feb → due 9 Mar, extended 11 May.
    with time_machine.travel(datetime(2026, 2, 2, 10, tzinfo=UTC), tick=False):
        request = make_request(jurisdictions=["GB"]).request
        with django_capture_on_commit_callbacks(execute=True):
            request = services.removal_request_ask_subject(request=request, actor=staff, ask="identity")
    assert "Information to verify your identity" in mailoutbox[-1].body
    assert _local_day(request.respond_by, "Europe/London") == date(2026, 3, 2)
    with time_machine.travel(datetime(2026, 2, 9, 10, tzinfo=UTC), tick=False):
        request = removal_request_record_identity_received(request=request, actor=staff)
    assert _local_day(request.respond_by, "Europe/London") == date(2026, 3, 9)
    assert _local_day(request.respond_by_extended, "Europe/London") == date(2026, 5, 11)
    d14 = Reminder.objects.get(request=request, deadline=DeadlineKind.RESPOND, days_before=14)
    assert _local_day(d14.due_at, "Europe/London") == date(2026, 2, 23)
    event = AuditEvent.objects.latest("id")
    assert event.action == "request.identity_received" and "2026-03-09" in event.payload


def test_eu_clock_pauses_only_with_a_recorded_doubt(make_request: Any, staff: services.Actor) -> None:
    def due_after_identity(doubt: str, email: str) -> date:
        with time_machine.travel(datetime(2026, 1, 15, 9, tzinfo=UTC), tick=False):
            request = make_request(email=email).request
            request = services.removal_request_ask_subject(
                request=request, actor=staff, ask="identity", doubt=doubt
            )
        with time_machine.travel(datetime(2026, 1, 22, 9, tzinfo=UTC), tick=False):
            request = removal_request_record_identity_received(request=request, actor=staff)
        return _local_day(request.respond_by, "Europe/Brussels")

    assert due_after_identity("", "a@example.org") == date(2026, 2, 16)  # from receipt
    assert due_after_identity("high_risk", "b@example.org") == date(2026, 2, 23)  # from identity


def test_identity_received_without_asking_is_refused(make_request: Any, staff: services.Actor) -> None:
    request = make_request(jurisdictions=["GB"]).request
    with pytest.raises(services.InvalidRequest, match="did not ask"):
        removal_request_record_identity_received(request=request, actor=staff)


def test_doubt_goes_only_with_an_identity_request(make_request: Any, staff: services.Actor) -> None:
    request = make_request().request
    with pytest.raises(services.InvalidRequest):
        services.removal_request_ask_subject(
            request=request, actor=staff, ask="clarification", doubt="high_risk"
        )
    request.refresh_from_db()
    assert request.identity_requested_at is None and request.status == "received"


@pytest.mark.parametrize(
    ("move", "kwargs", "subject", "phrase"),
    [
        (
            "deny",
            {"basis": "manifestly_unfounded"},
            "Our decision on your request",
            "Information Commissioner",
        ),
        ("withdraw", {}, "is withdrawn", "nothing was deleted"),
    ],
)
def test_subject_is_told_of_denial_and_withdrawal(
    make_request: Any,
    staff: services.Actor,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    move: str,
    kwargs: dict[str, str],
    subject: str,
    phrase: str,
) -> None:
    request = make_request(jurisdictions=["GB", "EU"]).request
    with django_capture_on_commit_callbacks(execute=True):
        services.removal_request_transition(request=request, move=move, actor=staff, **kwargs)
    assert subject in mailoutbox[-1].subject and phrase in mailoutbox[-1].body
    if move == "deny":
        assert "Manifestly unfounded or excessive" in mailoutbox[-1].body
        assert "data protection authority of the EU country" in mailoutbox[-1].body


def test_subject_is_told_when_the_request_is_complete(
    make_request: Any, staff: services.Actor, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    request = make_request(right="opt_out", jurisdictions=["US-CA"]).request
    with django_capture_on_commit_callbacks(execute=True):
        request = services.removal_request_waive_verification(request=request, actor=staff)
        services.removal_request_complete_opt_out(request=request, actor=staff)
    assert mailoutbox[-1].subject == f"Your request {request.reference} is complete"


def test_notices_are_written_in_the_subjects_language(
    make_request: Any, staff: services.Actor, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    request = make_request(language="fr").request
    assert RemovalRequest.objects.get(id=request.id).language == "fr"
    with django_capture_on_commit_callbacks(execute=True):
        services.removal_request_withdraw(request=request, actor=staff)
    assert "Bonjour" in mailoutbox[-1].body
    request_de = make_request(language="de", email="d@example.org").request
    with django_capture_on_commit_callbacks(execute=True):
        services.removal_request_withdraw(request=request_de, actor=staff)
    assert "Hallo" in mailoutbox[-1].body
