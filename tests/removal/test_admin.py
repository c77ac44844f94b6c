from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from ledger.entries import leaf_content
from ledger.models import AuditEvent
from ledger.services import ledger_sequence
from notifications.models import Message
from removal import services
from removal.models import RemovalRequest, Status
from removal.services.discovery import removal_request_discover
from tests.conftest import open_personal_data, sign_in

pytestmark = pytest.mark.django_db


def test_admin_lives_at_the_configured_path(client: Any) -> None:
    response = client.get("/staff-admin/")
    assert response.status_code == 302 and "/staff-admin/login/" in response["Location"]
    assert client.get("/admin/").status_code == 404


def test_outsider_cannot_open_the_request_list(client: Any, outsider: Any) -> None:
    sign_in(client, outsider)
    response = client.get(reverse("admin:removal_removalrequest_changelist"))
    assert response.status_code == 302


def test_request_list_filters_by_status_right_jurisdiction_and_date(
    staff_client: Any, make_request: Any
) -> None:
    eu = make_request().request
    ca = make_request(email="cal@example.org", jurisdictions=["US-CA"], right="opt_out").request
    url = reverse("admin:removal_removalrequest_changelist")

    def listed(**params: str) -> set[str]:
        html = staff_client.get(url, params).content.decode()
        return {r.reference for r in (eu, ca) if r.reference in html}

    assert listed() == {eu.reference, ca.reference}
    assert listed(jurisdiction="US-CA") == {ca.reference}
    assert listed(right="erasure") == {eu.reference}
    assert listed(status="received") == {eu.reference, ca.reference}
    assert listed(status="denied") == set()
    day = eu.received_at.date()
    assert listed(received_at__year=str(day.year), received_at__month=str(day.month)) == {
        eu.reference,
        ca.reference,
    }


def test_staff_find_a_request_by_exact_email_without_it_being_stored_in_clear(
    staff_client: Any, make_request: Any
) -> None:
    request = make_request().request
    make_request(email="someone@example.org")
    html = staff_client.get(
        reverse("admin:removal_removalrequest_changelist"), {"q": " Zoe.Quintero@example.org"}
    ).content.decode()
    assert request.reference in html and "1 result" in html


def test_detail_page_shows_the_subject_and_only_the_allowed_moves(
    staff_client: Any, removal_request: Any
) -> None:
    change = reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    html = staff_client.get(change).content.decode()
    # The subject's data stays hidden until the staff member says why they need it.
    assert "zoe.quintero" not in html and "Zoe" not in html and "Show personal data" in html
    assert "request.received" in html
    open_personal_data(staff_client, removal_request, reason="subject_contact")
    html = staff_client.get(change).content.decode()
    staff_client.get(change)
    assert "zoe.quintero@example.org" in html
    viewed = AuditEvent.objects.filter(
        action="request.personal_data_viewed", object_id=str(removal_request.id)
    )
    # Once, however many pages load inside the window.
    assert [leaf_content(event.payload).details for event in viewed] == [{"reason": "subject_contact"}]
    for move in ("start_verification", "ask_subject", "deny", "withdraw"):
        assert reverse("admin:removal_move", args=[removal_request.id, move]) in html
    assert reverse("admin:removal_move", args=[removal_request.id, "approve_purge"]) not in html


def test_staff_move_a_request_with_the_buttons(
    staff_client: Any, removal_request: Any, reviewer: Any
) -> None:
    url = reverse("admin:removal_move", args=[removal_request.id, "start_verification"])
    assert "Confirm: start verification" in staff_client.get(url).content.decode()
    staff_client.post(url)
    removal_request.refresh_from_db()
    assert removal_request.status == Status.VERIFYING
    assert AuditEvent.objects.latest("id").actor == f"staff:{reviewer.pk}"


def test_deny_needs_a_basis_in_the_admin_too(staff_client: Any, removal_request: Any) -> None:
    url = reverse("admin:removal_move", args=[removal_request.id, "deny"])
    response = staff_client.post(url, {"basis": "other_exemption", "note": ""})
    assert "Explain which exemption applies." in response.content.decode()
    removal_request.refresh_from_db()
    assert removal_request.status == Status.RECEIVED
    staff_client.post(url, {"basis": "manifestly_unfounded"})
    removal_request.refresh_from_db()
    assert removal_request.status == Status.DENIED


def test_an_illegal_move_in_the_admin_changes_nothing(staff_client: Any, removal_request: Any) -> None:
    url = reverse("admin:removal_move", args=[removal_request.id, "withdraw"])
    RemovalRequest.objects.filter(id=removal_request.id).update(status=Status.PURGING)
    response = staff_client.post(url, follow=True)
    assert "cannot withdraw a request that is purging" in response.content.decode()
    removal_request.refresh_from_db()
    assert removal_request.status == Status.PURGING


def test_the_admin_offers_no_button_for_the_services_own_moves(
    staff_client: Any, removal_request: Any
) -> None:
    RemovalRequest.objects.filter(id=removal_request.id).update(status=Status.PURGING)
    url = reverse("admin:removal_move", args=[removal_request.id, "complete_purge"])
    response = staff_client.post(url, follow=True)
    assert "Unknown action &#x27;complete_purge&#x27;." in response.content.decode()
    removal_request.refresh_from_db()
    assert removal_request.status == Status.PURGING


def test_staff_log_a_request_received_by_post(
    staff_client: Any, reviewer: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    url = reverse("admin:removal_removalrequest_add")
    assert "Log a request received by post, phone or e-mail" in staff_client.get(url).content.decode()
    form = {
        "name": "Piotr Nowak",
        "email": "piotr@example.pl",
        "right": "erasure",
        "jurisdictions": ["EU"],
        "channel": "post",
        "received_at": "2026-01-15T09:00",
        "language": "de",
    }
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, form)
    request = RemovalRequest.objects.get()
    assert (request.channel, request.language, request.logged_by) == ("post", "de", reviewer)
    assert request.received_at.isoformat() == "2026-01-15T09:00:00+00:00"
    assert request.respond_by is not None
    assert request.respond_by.date().isoformat() == "2026-02-16"  # the spec's worked example
    assert len(mailoutbox) == 2


def test_staff_cannot_delete_requests_or_audit_events(staff_client: Any, removal_request: Any) -> None:
    assert (
        staff_client.post(
            reverse("admin:removal_removalrequest_delete", args=[removal_request.id])
        ).status_code
        == 403
    )
    event = AuditEvent.objects.get(object_type="removal_request")
    assert staff_client.post(reverse("admin:ledger_auditevent_delete", args=[event.pk])).status_code == 403


def test_staff_verify_the_log_from_the_admin(staff_client: Any, removal_request: Any) -> None:
    response = staff_client.get(reverse("admin:ledger_verify"), follow=True)
    # The request's "received" event and the staff member's sign-in.
    assert "Log intact: 0 entries under 0 signed checkpoint(s), 2 waiting to be sequenced" in (
        response.content.decode()
    )
    ledger_sequence()
    response = staff_client.get(reverse("admin:ledger_verify"), follow=True)
    assert "Log intact: 2 entries under 1 signed checkpoint(s), 0 waiting" in response.content.decode()


def test_outbox_admin_shows_delivery_but_not_content(staff_client: Any, removal_request: Any) -> None:
    html = staff_client.get(reverse("admin:notifications_message_changelist")).content.decode()
    assert "removal/emails/acknowledgement" in html and "zoe.quintero" not in html
    message = Message.objects.first()
    assert message is not None
    detail = staff_client.get(
        reverse("admin:notifications_message_change", args=[message.id])
    ).content.decode()
    assert "attempt" in detail.lower() and "zoe.quintero" not in detail


def test_staff_erase_a_closed_requests_personal_data(staff_client: Any, removal_request: Any) -> None:
    change = reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    shred = reverse("admin:removal_move", args=[removal_request.id, "shred_personal_data"])
    assert shred not in staff_client.get(change).content.decode()  # open requests keep their data
    staff_client.post(reverse("admin:removal_move", args=[removal_request.id, "withdraw"]))
    assert shred in staff_client.get(change).content.decode()
    assert "data key: the name, address" in staff_client.get(shred).content.decode()
    html = staff_client.post(shred, follow=True).content.decode()
    assert "erase personal data done" in html
    open_personal_data(staff_client, removal_request)
    html = staff_client.get(change).content.decode()
    assert "(erased)" in html and "zoe.quintero" not in html


def test_queue_filters_overdue_and_due_soon(staff_client: Any, make_request: Any) -> None:
    import time_machine

    with time_machine.travel("2026-01-15 09:00Z", tick=False):
        late = make_request().request
    with time_machine.travel("2026-02-08 09:00Z", tick=False):
        soon = make_request(email="soon@example.org", jurisdictions=["BR"]).request
        later = make_request(email="later@example.org").request
    url = reverse("admin:removal_removalrequest_changelist")

    def listed(due: str) -> set[str]:
        with time_machine.travel("2026-02-18 09:00Z", tick=False):
            html = staff_client.get(url, {"due": due}).content.decode()
        return {r.reference for r in (late, soon, later) if r.reference in html}

    assert listed("overdue") == {late.reference}
    assert listed("7") == {soon.reference}
    assert listed("14") == {soon.reference}
    assert listed("") == {late.reference, soon.reference, later.reference}


def test_staff_assign_requests_to_themselves(staff_client: Any, removal_request: Any, reviewer: Any) -> None:
    url = reverse("admin:removal_removalrequest_changelist")
    staff_client.post(url, {"action": "assign_to_me", "_selected_action": [str(removal_request.id)]})
    removal_request.refresh_from_db()
    assert removal_request.assignee == reviewer
    assert removal_request.reference in staff_client.get(url, {"assignee": "me"}).content.decode()
    staff_client.post(url, {"action": "unassign", "_selected_action": [str(removal_request.id)]})
    removal_request.refresh_from_db()
    assert removal_request.assignee is None


def test_staff_extend_a_deadline_from_the_request_page(
    staff_client: Any, removal_request: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    change = reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    extend = reverse("admin:removal_move", args=[removal_request.id, "extend"])
    html = staff_client.get(change).content.decode()
    assert extend in html and "D-14" in html  # the button, and the planned reminders
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(extend, {"reason": "complexity"}, follow=True)
    html = response.content.decode()
    assert "extend the deadline done" in html and "taken" in html and extend not in html
    assert mailoutbox[-1].subject.startswith("We need more time")


def test_staff_record_identity_received(staff_client: Any, make_request: Any, reviewer: Any) -> None:
    request = make_request(jurisdictions=["GB"]).request
    services.removal_request_ask_subject(
        request=request, actor=services.Actor.staff(reviewer), ask="identity"
    )
    url = reverse("admin:removal_move", args=[request.id, "record_identity"])
    assert (
        url
        in staff_client.get(
            reverse("admin:removal_removalrequest_change", args=[request.id])
        ).content.decode()
    )
    assert 'name="received_at"' in staff_client.get(url).content.decode()
    future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert "not in the future" in staff_client.post(url, {"received_at": future}).content.decode()
    staff_client.post(url, {"received_at": timezone.now().strftime("%Y-%m-%dT%H:%M")})
    request.refresh_from_db()
    assert request.identity_received_at is not None


def test_the_headshot_is_shown_inside_a_viewing_window_recorded_once_and_not_while_purging(
    staff_client: Any, gallery: Any, verified_request: RemovalRequest
) -> None:
    removal_request_discover(request_id=verified_request.id)
    url = reverse("admin:removal_review", args=[verified_request.id])
    headshot = reverse("admin:removal_headshot", args=[verified_request.id])
    assert headshot not in staff_client.get(url).content.decode()  # hidden until opened with a reason
    assert staff_client.get(headshot).status_code == 403
    open_personal_data(staff_client, verified_request, reason="candidate_review")
    assert headshot in staff_client.get(url).content.decode()
    assert staff_client.get(headshot).status_code == 200 and staff_client.get(headshot).status_code == 200

    RemovalRequest.objects.filter(id=verified_request.id).update(status=Status.PURGING)
    page = staff_client.get(url).content.decode()
    assert headshot not in page
    # One viewing window, one event: the page and image loads inside it record nothing more.
    assert AuditEvent.objects.filter(action="request.personal_data_viewed").count() == 1


def test_the_audit_list_names_the_staff_member_and_the_request(
    staff_client: Any, removal_request: RemovalRequest, reviewer: Any
) -> None:
    """The finding: the list showed `staff:1` and the request's uuid, not a name and the reference."""
    services.removal_request_transition(
        request=removal_request, move="start_verification", actor=services.Actor.staff(reviewer)
    )
    html = staff_client.get(reverse("admin:ledger_auditevent_changelist")).content.decode()
    assert f"rita.reviewer (staff:{reviewer.pk})" in html
    assert f"{removal_request.reference} ({removal_request.id})" in html
