from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from notifications.models import Message
from removal.models import AuditEvent, RemovalRequest, Status

pytestmark = pytest.mark.django_db


def test_admin_lives_at_the_configured_path(client: Any) -> None:
    response = client.get("/staff-admin/")
    assert response.status_code == 302 and "/staff-admin/login/" in response["Location"]
    assert client.get("/admin/").status_code == 404


def test_outsider_cannot_open_the_request_list(client: Any, outsider: Any) -> None:
    client.force_login(outsider)
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
    html = staff_client.get(
        reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    ).content.decode()
    assert "zoe.quintero@example.org" in html and "request.received" in html
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
    assert AuditEvent.objects.latest("seq").actor == f"staff:{reviewer.pk}"


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
    url = reverse("admin:removal_move", args=[removal_request.id, "complete_purge"])
    response = staff_client.post(url, follow=True)
    assert "cannot complete purge a request that is received" in response.content.decode()
    removal_request.refresh_from_db()
    assert removal_request.status == Status.RECEIVED


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
    event = AuditEvent.objects.get()
    assert staff_client.post(reverse("admin:removal_auditevent_delete", args=[event.pk])).status_code == 403


def test_staff_verify_the_audit_chain_from_the_admin(staff_client: Any, removal_request: Any) -> None:
    response = staff_client.get(reverse("admin:removal_audit_verify"), follow=True)
    assert "Audit chain intact: 1 event(s)" in response.content.decode()


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
    assert "personal data erased" in html and "(erased)" in html and "zoe.quintero" not in html
