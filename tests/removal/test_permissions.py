"""Roles and object-level checks: what each role may do to which request, at every door (services,
admin, staff API), and that a staff account without a role can do nothing at all."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ledger.entries import leaf_content
from ledger.models import AuditEvent
from removal import services
from removal.models import Candidate, RemovalRequest, Status
from removal.permissions import Action, NotAllowed, allowed
from removal.roles import ADMINISTRATOR, AUDITOR, PRIVACY_LEAD, REVIEWER, ROLES
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.purge import purge_approve
from tests.conftest import open_personal_data, sign_in

pytestmark = pytest.mark.django_db

MINE, OTHERS, NOBODYS = "assigned to them", "assigned to someone else", "unassigned"

# The table in docs/staff-roles.md, per action and whose request it is. "no role": staff, no group.
ALLOWED: dict[str, dict[Action, set[str]]] = {
    REVIEWER: {
        Action.VIEW: {MINE, OTHERS, NOBODYS},
        Action.VIEW_PERSONAL_DATA: {MINE},
        Action.LOG_REQUEST: {MINE, OTHERS, NOBODYS},
        Action.WORK: {MINE},
        Action.CLAIM: {NOBODYS},
    },
    PRIVACY_LEAD: {
        action: {MINE, OTHERS, NOBODYS}
        for action in Action
        if action not in (Action.MANAGE_TARGETS, Action.DELETE_SUPPRESSION)
    }
    | {Action.CLAIM: {NOBODYS}},
    AUDITOR: {Action.VIEW: {MINE, OTHERS, NOBODYS}, Action.VIEW_PERSONAL_DATA: {MINE, OTHERS, NOBODYS}},
    ADMINISTRATOR: {
        Action.VIEW: {MINE, OTHERS, NOBODYS},
        Action.MANAGE_TARGETS: {MINE, OTHERS, NOBODYS},
        Action.DELETE_SUPPRESSION: {MINE, OTHERS, NOBODYS},
    },
    "no role": {},
}


@pytest.fixture
def staff(make_staff: Any) -> dict[str, Any]:
    return {role: make_staff(None if role == "no role" else role) for role in ALLOWED}


def test_the_four_roles_exist_after_migrate_with_the_permissions_named_in_removal_roles() -> None:
    from django.contrib.auth.models import Group

    for name, permissions in ROLES.items():
        group = Group.objects.get(name=name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == set(permissions)


def test_every_role_may_do_exactly_what_the_table_says(
    staff: dict[str, Any], make_request: Any, make_staff: Any
) -> None:
    colleague = make_staff(REVIEWER, username="colleague")
    for role, user in staff.items():
        requests: dict[str, RemovalRequest] = {}
        for whose, assignee in ((MINE, user), (OTHERS, colleague), (NOBODYS, None)):
            request = make_request(email=f"{role.replace(' ', '')}-{len(requests)}@example.org").request
            RemovalRequest.objects.filter(id=request.id).update(assignee=assignee)
            requests[whose] = RemovalRequest.objects.get(id=request.id)
        for action in Action:
            for whose, request in requests.items():
                expected = whose in ALLOWED[role].get(action, set())
                assert allowed(user, action, request) is expected, (role, action, whose)


def test_a_staff_account_without_a_role_can_read_change_and_erase_nothing(
    client: Any, make_staff: Any, removal_request: RemovalRequest, make_request: Any
) -> None:
    """The probe of the finding: no permission at all, yet it read the e-mail, withdrew a request,
    shredded its data key and moved another one through the API."""
    probe = make_staff(None, username="probe")
    sign_in(client, probe)
    change = reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    assert client.get(reverse("admin:removal_removalrequest_changelist")).status_code == 403
    assert client.get(change).status_code == 403
    assert "zoe.quintero" not in client.get(change).content.decode()
    for move in ("withdraw", "shred_personal_data", "start_verification"):
        assert client.post(reverse("admin:removal_move", args=[removal_request.id, move])).status_code == 403
    assert client.get(reverse("admin:removal_headshot", args=[removal_request.id])).status_code == 403
    response = client.post(
        reverse("admin:removal_personal_data", args=[removal_request.id]), {"reason": "audit"}
    )
    assert response.status_code == 302 and not AuditEvent.objects.filter(
        action="request.personal_data_viewed"
    )

    other = make_request(email="another@example.org").request
    api = reverse("removal:api_staff_transition", args=[other.id])
    assert (
        client.post(api, {"move": "start_verification"}, content_type="application/json").status_code == 403
    )
    assert client.get(reverse("removal:api_staff_requests")).status_code == 403
    assert client.get(reverse("removal:api_staff_request", args=[other.id])).status_code == 403

    actor = services.Actor.staff(probe)
    with pytest.raises(NotAllowed):
        services.removal_request_withdraw(request=removal_request, actor=actor)
    with pytest.raises(NotAllowed):
        services.removal_request_shred_personal_data(request=removal_request, actor=actor)
    for request in (removal_request, other):
        request.refresh_from_db()
        assert request.status == Status.RECEIVED and not request.data_key.is_shredded


def test_a_reviewer_works_their_own_requests_and_no_one_elses(
    client: Any, make_staff: Any, make_request: Any
) -> None:
    reviewer = make_staff(REVIEWER, username="rev")
    mine = make_request(email="mine@example.org").request
    theirs = make_request(email="theirs@example.org").request
    services.removal_request_assign(request=mine, assignee=reviewer, actor=services.Actor.staff(reviewer))
    sign_in(client, reviewer)

    def move(request: RemovalRequest, name: str) -> int:
        url = reverse("removal:api_staff_transition", args=[request.id])
        return int(client.post(url, {"move": name}, content_type="application/json").status_code)

    assert move(theirs, "start_verification") == 403
    assert move(mine, "deny") == 403  # a denial is the lead's
    assert move(mine, "start_verification") == 200
    theirs.refresh_from_db()
    assert theirs.status == Status.RECEIVED
    # The admin shows them only the buttons their role allows.
    page = client.get(reverse("admin:removal_removalrequest_change", args=[mine.id])).content.decode()
    assert reverse("admin:removal_move", args=[mine.id, "ask_subject"]) in page
    assert reverse("admin:removal_move", args=[mine.id, "deny"]) not in page
    assert client.post(reverse("admin:removal_move", args=[mine.id, "deny"])).status_code == 403


def test_assignment_is_the_leads_except_taking_a_free_request_and_every_change_is_audited(
    make_staff: Any, make_request: Any, outsider: Any
) -> None:
    lead, rita, sam = (
        make_staff(PRIVACY_LEAD, "lead"),
        make_staff(REVIEWER, "rita"),
        make_staff(REVIEWER, "sam"),
    )
    request = make_request().request
    assert services.removal_request_assign(request=request, assignee=rita, actor=services.Actor.staff(rita))
    with pytest.raises(NotAllowed):  # taking someone else's
        services.removal_request_assign(request=request, assignee=sam, actor=services.Actor.staff(sam))
    with pytest.raises(NotAllowed):  # giving one away to a colleague
        services.removal_request_assign(request=request, assignee=sam, actor=services.Actor.staff(rita))
    assert services.removal_request_assign(request=request, assignee=sam, actor=services.Actor.staff(lead))
    with pytest.raises(services.InvalidRequest):  # only accounts that may work requests
        services.removal_request_assign(request=request, assignee=outsider, actor=services.Actor.staff(lead))
    assert services.removal_request_assign(request=request, assignee=None, actor=services.Actor.staff(sam))
    request.refresh_from_db()
    assert request.assignee is None
    trail = [
        leaf_content(e.payload).details
        for e in AuditEvent.objects.filter(action="request.assigned", object_id=request.id)
    ]
    assert trail == [
        {"from": None, "to": str(rita.pk)},
        {"from": str(rita.pk), "to": str(sam.pk)},
        {"from": str(sam.pk), "to": None},
    ]


def test_an_auditor_reads_without_changing_and_sees_personal_data_only_with_a_reason(
    client: Any, make_staff: Any, removal_request: RemovalRequest
) -> None:
    auditor = make_staff(AUDITOR, "aud")
    sign_in(client, auditor)
    change = reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    page = client.get(change).content.decode()
    assert "zoe.quintero" not in page and "request.received" in page
    assert reverse("admin:removal_move", args=[removal_request.id, "withdraw"]) not in page
    assert (
        client.post(reverse("admin:removal_move", args=[removal_request.id, "withdraw"])).status_code == 403
    )
    open_personal_data(client, removal_request, reason="audit")
    assert "zoe.quintero" in client.get(change).content.decode()
    event = AuditEvent.objects.get(action="request.personal_data_viewed")
    assert event.actor == f"staff:{auditor.pk}" and leaf_content(event.payload).details == {"reason": "audit"}


def test_a_viewing_window_needs_a_reason_from_the_list(
    staff_client: Any, removal_request: RemovalRequest
) -> None:
    url = reverse("admin:removal_personal_data", args=[removal_request.id])
    for reason in ("", "curiosity"):
        staff_client.post(url, {"reason": reason})
    change = reverse("admin:removal_removalrequest_change", args=[removal_request.id])
    assert "zoe.quintero" not in staff_client.get(change).content.decode()
    assert not AuditEvent.objects.filter(action="request.personal_data_viewed").exists()


def test_a_closed_window_hides_the_data_again_when_the_request_is_reassigned(
    client: Any, make_staff: Any, make_request: Any
) -> None:
    lead, rita = make_staff(PRIVACY_LEAD, "lead"), make_staff(REVIEWER, "rita")
    request = make_request().request
    services.removal_request_assign(request=request, assignee=rita, actor=services.Actor.staff(lead))
    sign_in(client, rita)
    open_personal_data(client, request)
    change = reverse("admin:removal_removalrequest_change", args=[request.id])
    assert "zoe.quintero" in client.get(change).content.decode()
    services.removal_request_assign(request=request, assignee=None, actor=services.Actor.staff(lead))
    assert "zoe.quintero" not in client.get(change).content.decode()


# --- Approving a purge ------------------------------------------------------------------------------


@pytest.fixture
def awaiting_review(gallery: Any, verified_request: RemovalRequest, reviewer: Any) -> RemovalRequest:
    removal_request_discover(request_id=verified_request.id)
    ids = Candidate.objects.filter(request=verified_request).values_list("id", flat=True)
    candidates_decide(
        request=verified_request,
        actor=services.Actor.staff(reviewer),
        decisions=dict.fromkeys(ids, "confirmed"),
        user=reviewer,
    )
    verified_request.refresh_from_db()
    return verified_request


def test_a_large_purge_needs_a_second_privacy_lead(
    settings: Any, make_staff: Any, awaiting_review: RemovalRequest, reviewer: Any
) -> None:
    settings.PURGE_SECOND_APPROVER_FROM = 1
    first, second = make_staff(PRIVACY_LEAD, "lead-one"), make_staff(PRIVACY_LEAD, "lead-two")
    rita = make_staff(REVIEWER, "rita")
    with pytest.raises(NotAllowed):
        purge_approve(request=awaiting_review, actor=services.Actor.staff(rita))
    assert purge_approve(request=awaiting_review, actor=services.Actor.staff(first)) == []
    awaiting_review.refresh_from_db()
    assert awaiting_review.status == Status.AWAITING_REVIEW and awaiting_review.purge_first_approver == first
    with pytest.raises(services.InvalidRequest, match="second privacy lead"):
        purge_approve(request=awaiting_review, actor=services.Actor.staff(first))

    # A changed decision cancels the first approval: the new set needs two approvals afresh.
    candidate = Candidate.objects.filter(request=awaiting_review).first()
    assert candidate is not None
    candidates_decide(
        request=awaiting_review,
        actor=services.Actor.staff(reviewer),
        decisions={candidate.id: "rejected"},
        user=reviewer,
    )
    awaiting_review.refresh_from_db()
    assert awaiting_review.purge_first_approver is None
    purge_approve(request=awaiting_review, actor=services.Actor.staff(first))
    assert purge_approve(request=awaiting_review, actor=services.Actor.staff(second))
    awaiting_review.refresh_from_db()
    assert awaiting_review.status == Status.PURGING
    actions = list(
        AuditEvent.objects.filter(
            object_id=awaiting_review.id, action__startswith="request.purge_first"
        ).values_list("action", flat=True)
    )
    assert actions == [
        "request.purge_first_approval",
        "request.purge_first_approval_cancelled",
        "request.purge_first_approval",
    ]


def test_the_review_page_asks_for_a_confirmation_before_approving(
    staff_client: Any, awaiting_review: RemovalRequest
) -> None:
    url = reverse("admin:removal_review", args=[awaiting_review.id])
    page = staff_client.post(url, {"approve": "1"}, follow=True).content.decode()
    assert "Tick the box to confirm" in page
    awaiting_review.refresh_from_db()
    assert awaiting_review.status == Status.AWAITING_REVIEW
    staff_client.post(url, {"approve": "1", "confirm": "1"})
    awaiting_review.refresh_from_db()
    assert awaiting_review.status == Status.PURGING


def test_the_public_never_reaches_a_staff_door(client: Any, removal_request: RemovalRequest) -> None:
    for url in (
        reverse("admin:removal_removalrequest_change", args=[removal_request.id]),
        reverse("admin:removal_headshot", args=[removal_request.id]),
    ):
        assert Client().get(url).status_code == 302
    assert client.get(reverse("removal:api_staff_requests")).status_code == 403
