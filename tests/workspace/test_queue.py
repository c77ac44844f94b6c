"""The workspace queue and request page: views and their counts, filters, order, saved views, and
the request page's panels, as a reviewer sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger.models import AuditEvent
from removal import services
from removal.models import RemovalRequest, Status
from removal.roles import AUDITOR, PRIVACY_LEAD, REVIEWER
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def _due_in(request: RemovalRequest, days: float) -> None:
    RemovalRequest.objects.filter(id=request.id).update(respond_by=timezone.now() + timedelta(days=days))


@pytest.fixture
def lead(make_staff: Any) -> Any:
    return make_staff(PRIVACY_LEAD, "lead")


def test_each_view_lists_its_requests_soonest_deadline_first_with_counts(
    client: Any, lead: Any, make_request: Any
) -> None:
    late = make_request(email="late@example.org").request
    soon = make_request(email="soon@example.org").request
    sooner = make_request(email="sooner@example.org").request
    later = make_request(email="later@example.org").request
    _due_in(late, -2)
    _due_in(soon, 5)
    _due_in(sooner, 1)
    _due_in(later, 20)
    RemovalRequest.objects.filter(id=later.id).update(status=Status.AWAITING_SUBJECT)
    sign_in(client, lead)

    page = client.get(reverse("workspace:queue"), {"view": "due_soon"})
    rows = [row.reference for row in page.context["page"].object_list]
    assert rows == [sooner.reference, soon.reference]
    counts = {name: count for name, _label, count in page.context["views"]}
    assert counts["due_soon"] == 2 and counts["overdue"] == 1 and counts["waiting"] == 1
    assert counts["open"] == 4 and counts["unassigned"] == 4 and counts["mine"] == 0
    overdue = client.get(reverse("workspace:queue"), {"view": "overdue"}).content.decode()
    assert late.reference in overdue and "overdue" in overdue


def test_filters_narrow_every_view_and_a_bad_value_is_ignored(
    client: Any, lead: Any, make_request: Any
) -> None:
    eu = make_request(email="eu@example.org").request
    ca = make_request(email="ca@example.org", jurisdictions=["US-CA"], right="opt_out").request
    sign_in(client, lead)
    url = reverse("workspace:queue")

    def listed(**params: str) -> set[str]:
        page = client.get(url, {"view": "open", **params}).context["page"]
        return {row.reference for row in page.object_list}

    assert listed(jurisdiction="US-CA") == {ca.reference}
    assert listed(right="erasure") == {eu.reference}
    assert listed(jurisdiction="XX") == {eu.reference, ca.reference}  # not a choice: no filter
    today = timezone.now().date()
    assert listed(received_from=str(today + timedelta(days=1))) == set()
    assert listed(received_to=str(today)) == {eu.reference, ca.reference}
    services.removal_request_assign(request=ca, assignee=lead, actor=services.Actor.staff(lead))
    assert listed(assignee="me") == {ca.reference} and listed(assignee="none") == {eu.reference}


def test_the_queue_page_needs_no_query_per_row(client: Any, lead: Any, make_request: Any) -> None:
    for i in range(3):
        make_request(email=f"few-{i}@example.org")
    sign_in(client, lead)
    client.get(reverse("workspace:queue"), {"view": "open"})  # the session's first request writes more
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("workspace:queue"), {"view": "open"})
    for i in range(20):
        make_request(email=f"many-{i}@example.org")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("workspace:queue"), {"view": "open"})
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_saved_view_keeps_the_view_and_its_filters_for_its_owner_only(
    client: Any, lead: Any, make_staff: Any
) -> None:
    sign_in(client, lead)
    client.post(
        reverse("workspace:saved_view_create"),
        {"name": "CA overdue", "query": "view=overdue&jurisdiction=US-CA"},
    )
    page = client.get(reverse("workspace:queue")).content.decode()
    assert "CA overdue" in page and "view=overdue&amp;jurisdiction=US-CA" in page
    other = sign_in(type(client)(), make_staff(REVIEWER, "rita"))
    assert "CA overdue" not in other.get(reverse("workspace:queue")).content.decode()


def test_the_request_page_shows_facts_and_timeline_and_hides_personal_data_until_asked(
    client: Any, make_staff: Any, removal_request: RemovalRequest
) -> None:
    rita = make_staff(REVIEWER, "rita")
    sign_in(client, rita)
    url = reverse("workspace:request", args=[removal_request.id])
    page = client.get(url).content.decode()
    assert removal_request.reference in page and "Request received" in page
    assert "zoe.quintero" not in page and "Take this request" in page
    assert "Your role does not show" in page  # not assigned to her yet
    client.post(reverse("workspace:assign", args=[removal_request.id]), {"assignee": "me"})
    page = client.get(url).content.decode()
    assert "Show personal data" in page and "Hand it back to the team" in page
    client.post(reverse("workspace:personal_data", args=[removal_request.id]), {"reason": "working"})
    page = client.get(url).content.decode()
    assert "zoe.quintero@example.org" in page
    assert "Personal data opened" in page and f"rita (staff:{rita.pk})" in page
    assert AuditEvent.objects.filter(action="request.personal_data_viewed").count() == 1


def test_a_reviewer_moves_her_request_from_its_page_and_an_auditor_cannot(
    client: Any, make_staff: Any, removal_request: RemovalRequest
) -> None:
    rita, auditor = make_staff(REVIEWER, "rita"), make_staff(AUDITOR, "aud")
    services.removal_request_assign(request=removal_request, assignee=rita, actor=services.Actor.staff(rita))
    action = reverse("workspace:action", args=[removal_request.id, "start_verification"])
    auditor_client = sign_in(type(client)(), auditor)
    assert auditor_client.get(action).status_code == 403
    assert (
        "start_verification"
        not in auditor_client.get(reverse("workspace:request", args=[removal_request.id])).content.decode()
    )
    sign_in(client, rita)
    assert "Confirm: start verification" in client.get(action).content.decode()
    client.post(action)
    removal_request.refresh_from_db()
    assert removal_request.status == Status.VERIFYING


def _bulk(client: Any, requests: list[RemovalRequest], **fields: str) -> Any:
    data = {f"bulk-{name}": value for name, value in fields.items()}
    return client.post(reverse("workspace:bulk"), {**data, "selected": [str(r.id) for r in requests]})


def test_a_lead_extends_a_selection_with_one_reason_and_each_request_is_checked_and_recorded(
    client: Any, lead: Any, make_request: Any
) -> None:
    chosen = [make_request(email=f"bulk-{i}@example.org").request for i in range(3)]
    closed = make_request(email="closed@example.org").request
    services.removal_request_transition(request=closed, move="withdraw", actor=services.Actor.staff(lead))
    sign_in(client, lead)
    page = _bulk(client, [*chosen, closed], action="extend", reason="volume_of_data").content.decode()
    assert "Done for 3 requests." in page and closed.reference in page and "Not done for 1 request" in page
    for request in chosen:
        request.refresh_from_db()
        assert request.extended_at is not None and request.extension_reason == "volume_of_data"
    extended = AuditEvent.objects.filter(action="request.extended")
    assert sorted(extended.values_list("object_id", flat=True)) == sorted(str(r.id) for r in chosen)


def test_a_reviewers_bulk_deny_is_refused_for_every_request_and_changes_nothing(
    client: Any, make_staff: Any, make_request: Any
) -> None:
    rita = make_staff(REVIEWER, "rita")
    chosen = [make_request(email=f"deny-{i}@example.org").request for i in range(2)]
    sign_in(client, rita)
    page = _bulk(client, chosen, action="deny", basis="manifestly_unfounded").content.decode()
    assert "Not done for 2 requests" in page and "your role does not allow this" in page
    assert not RemovalRequest.objects.filter(status=Status.DENIED).exists()


def test_a_bulk_action_without_what_it_needs_changes_nothing(
    client: Any, lead: Any, make_request: Any
) -> None:
    request = make_request().request
    sign_in(client, lead)
    missing_reason = _bulk(client, [request], action="extend")
    assert missing_reason.status_code == 400 and "Choose why these requests need more time." in (
        missing_reason.content.decode()
    )
    nothing_selected = client.post(reverse("workspace:bulk"), {"bulk-action": "assign"})
    assert (
        nothing_selected.status_code == 400
        and "Select at least one request." in nothing_selected.content.decode()
    )
    request.refresh_from_db()
    assert request.extended_at is None


def test_a_lead_assigns_a_selection_to_a_reviewer(
    client: Any, lead: Any, make_staff: Any, make_request: Any
) -> None:
    rita = make_staff(REVIEWER, "rita")
    chosen = [make_request(email=f"assign-{i}@example.org").request for i in range(2)]
    sign_in(client, lead)
    _bulk(client, chosen, action="assign", assignee=str(rita.pk))
    assert set(RemovalRequest.objects.filter(assignee=rita)) == set(chosen)
    assert AuditEvent.objects.filter(action="request.assigned").count() == 2


def test_internal_notes_are_sealed_shown_with_the_personal_data_and_audited_without_their_text(
    client: Any, make_staff: Any, removal_request: RemovalRequest
) -> None:
    rita = make_staff(REVIEWER, "rita")
    services.removal_request_assign(request=removal_request, assignee=rita, actor=services.Actor.staff(rita))
    sign_in(client, rita)
    text = "Called Zoë back; she confirmed the second address"
    client.post(reverse("workspace:note_add", args=[removal_request.id]), {"text": text})
    with connection.cursor() as cursor:
        cursor.execute("SELECT body_enc FROM removal_requestnote")
        (stored,) = cursor.fetchone()
    assert text.encode() not in bytes(stored)
    event = AuditEvent.objects.get(action="request.note_added")
    assert "Called" not in event.payload
    page_url = reverse("workspace:request", args=[removal_request.id])
    assert text not in client.get(page_url).content.decode()  # not before the window is open
    client.post(reverse("workspace:personal_data", args=[removal_request.id]), {"reason": "working"})
    assert text in client.get(page_url).content.decode()
    auditor = sign_in(type(client)(), make_staff(AUDITOR, "aud"))
    assert (
        auditor.post(reverse("workspace:note_add", args=[removal_request.id]), {"text": "x"}).status_code
        == 403
    )
    assert (
        client.post(reverse("workspace:note_add", args=[removal_request.id]), {"text": "  "}).status_code
        == 302
    )
    assert AuditEvent.objects.filter(action="request.note_added").count() == 1


def test_staff_send_the_subject_an_update_from_the_templates_in_the_subjects_language(
    client: Any,
    make_staff: Any,
    make_request: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    rita = make_staff(REVIEWER, "rita")
    request = make_request(language="fr").request
    services.removal_request_assign(request=request, assignee=rita, actor=services.Actor.staff(rita))
    sign_in(client, rita)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("workspace:message", args=[request.id]), {"update": "photos_under_review"})
    [mail] = mailoutbox
    assert "Nous avons trouvé des photos" in mail.body and request.reference in mail.subject
    event = AuditEvent.objects.get(action="request.subject_messaged")
    assert '"update":"photos_under_review"' in event.payload and "zoe" not in event.payload
    client.post(reverse("workspace:message", args=[request.id]), {"update": "anything I like"})
    assert AuditEvent.objects.filter(action="request.subject_messaged").count() == 1


def test_a_reviewer_logs_a_letter_with_the_moment_it_arrived_and_an_auditor_cannot(
    client: Any, make_staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rita = make_staff(REVIEWER, "rita")
    sign_in(client, rita)
    url = reverse("workspace:log_request")
    page = client.get(url).content.decode()
    assert "Right the subject exercises" in page and "What do you want us to do?" not in page
    data = {
        "name": "Jean Dupont",
        "email": "jean@example.org",
        "right": "erasure",
        "jurisdictions": ["EU"],
        "channel": "post",
        "received_at": "2026-12-01T09:30",
        "language": "fr",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)
    request = RemovalRequest.objects.get()
    assert response["Location"] == reverse("workspace:request", args=[request.id])
    assert request.channel == "post" and request.logged_by == rita and request.received_at.day == 1
    assert client.post(url, {**data, "email": "not an address"}).status_code == 200
    assert RemovalRequest.objects.count() == 1
    auditor = sign_in(type(client)(), make_staff(AUDITOR, "aud"))
    assert auditor.get(url).status_code == 403


def test_requests_with_a_failed_purge_job_have_their_view_and_count(
    client: Any, lead: Any, make_request: Any
) -> None:
    from removal.models import PurgeJob

    stuck, fine = (
        make_request(email="stuck@example.org").request,
        make_request(email="fine@example.org").request,
    )
    RemovalRequest.objects.filter(id__in=[stuck.id, fine.id]).update(status=Status.PURGING)
    PurgeJob.objects.create(
        request=stuck, target="photo_files", category="photos", status="failed", attempt_limit=8
    )
    PurgeJob.objects.create(
        request=fine, target="photo_files", category="photos", status="running", attempt_limit=8
    )
    sign_in(client, lead)
    page = client.get(reverse("workspace:queue"), {"view": "purge_failed"})
    assert [row.reference for row in page.context["page"].object_list] == [stuck.reference]
    assert dict((name, count) for name, _label, count in page.context["views"])["purge_failed"] == 1
    assert "purge job failed" in page.content.decode()


def test_the_deadline_panel_says_when_identity_was_asked_for_and_received(
    client: Any, lead: Any, removal_request: RemovalRequest
) -> None:
    sign_in(client, lead)
    services.removal_request_transition(
        request=removal_request, move="ask_subject", actor=services.Actor.staff(lead), ask="identity"
    )
    page = client.get(reverse("workspace:request", args=[removal_request.id])).content.decode()
    assert "Identity information asked for on" in page and "Not received yet" in page
    removal_request.refresh_from_db()
    services.removal_request_record_identity_received(
        request=removal_request, actor=services.Actor.staff(lead)
    )
    page = client.get(reverse("workspace:request", args=[removal_request.id])).content.decode()
    assert "Received on" in page and "count from that day" in page


def test_a_bulk_confirmation_decides_the_unflagged_photos_and_leaves_the_look_alikes_to_a_person(
    client: Any, lead: Any, gallery: Any, verified_request: RemovalRequest, make_request: Any
) -> None:
    from removal.models import Candidate
    from removal.services.discovery import removal_request_discover

    removal_request_discover(request_id=verified_request.id)
    flagged = Candidate.objects.filter(request=verified_request).order_by("-distance").first()
    assert flagged is not None
    Candidate.objects.filter(id=flagged.id).update(lookalike=True)
    not_reviewing = make_request(email="other@example.org").request
    sign_in(client, lead)
    page = _bulk(client, [verified_request, not_reviewing], action="confirm_unflagged").content.decode()
    assert "Done for 1 request." in page and not_reviewing.reference in page
    decisions = dict(Candidate.objects.filter(request=verified_request).values_list("id", "decision"))
    assert decisions.pop(flagged.id) == "pending" and set(decisions.values()) == {"confirmed"}
    assert AuditEvent.objects.filter(action="request.candidates_decided").count() == 1
