"""From the queue to an approved purge in the workspace: the assigned reviewer decides the photos
(partly with the keyboard), a privacy lead approves after ticking the confirmation, the purge runs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, Page, expect

from ledger.models import AuditEvent
from removal.models import Candidate, Photo, RemovalRequest, Status
from removal.roles import PRIVACY_LEAD, REVIEWER
from removal.services.discovery import removal_request_discover
from tests.browser.conftest import DESKTOP, screenshot, staff_sign_in
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long staff password"


def _staff(django_user_model: Any, username: str, role: str) -> Any:
    user = django_user_model.objects.create_user(
        username, f"{username}@privacy.example", PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def test_a_reviewer_decides_the_photos_and_a_lead_approves_the_purge(
    desktop_page: Page,
    browser: Browser,
    site: str,
    gallery: Gallery,
    verified_request: RemovalRequest,
    django_user_model: Any,
) -> None:
    rita = _staff(django_user_model, "rita", REVIEWER)
    lena = _staff(django_user_model, "lena", PRIVACY_LEAD)
    removal_request_discover(request_id=verified_request.id)
    RemovalRequest.objects.filter(id=verified_request.id).update(assignee=rita)
    flagged = Candidate.objects.filter(request=verified_request).order_by("-distance").first()
    assert flagged is not None
    Candidate.objects.filter(id=flagged.id).update(lookalike=True, lookalike_distance=0.12)

    page = desktop_page
    staff_sign_in(page, site, rita, PASSWORD, next_path="/staff/queue/?view=candidates")
    page.get_by_role("link", name=verified_request.reference).click()
    page.get_by_role("link", name="Candidate photos and the purge's approval").click()
    page.get_by_role("button", name="Show the photos").click()
    expect(page.get_by_alt_text("The headshot the subject sent")).to_be_visible()
    expect(page.get_by_text("Look-alike: 0.120 from other faces")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.candidate img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "workspace-6-review")

    page.get_by_role("button", name="Confirm all not flagged").click()
    expect(page.get_by_text("4 decision(s) recorded.")).to_be_visible()
    # The flagged one, decided with the keyboard: focus it, Y for "the subject", then save.
    page.locator(".candidate.flagged").focus()
    page.keyboard.press("y")
    expect(page.locator(f"input[name='c-{flagged.id}'][value='confirmed']")).to_be_checked()
    page.get_by_role("button", name="Save the decisions on this page").click()
    expect(
        page.get_by_text("5 candidate faces: 5 the subject, 0 someone else, 0 not decided.")
    ).to_be_visible()
    expect(page.get_by_text("Approving a purge is for a privacy lead.")).to_be_visible()

    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    lead_page = context.new_page()
    try:
        staff_sign_in(
            lead_page, site, lena, PASSWORD, next_path=f"/staff/requests/{verified_request.id}/review/"
        )
        lead_page.get_by_role("button", name="Approve the purge").click()
        expect(lead_page.get_by_text("purge approved")).to_have_count(0)  # the box is not ticked
        lead_page.get_by_label("I have checked the 5 confirmed photos").check()
        screenshot(lead_page, "workspace-7-approve")
        lead_page.get_by_role("button", name="Approve the purge").click()
        expect(lead_page.get_by_text("purge approved; the jobs are running")).to_be_visible()
        expect(lead_page.get_by_text("Completed")).to_be_visible()
        screenshot(lead_page, "workspace-8-purged")
    finally:
        context.close()

    verified_request.refresh_from_db()
    assert verified_request.status == Status.COMPLETED
    assert set(Photo.objects.all()) == set(gallery.others)
    actions = list(
        AuditEvent.objects.filter(object_id=str(verified_request.id)).values_list("action", "actor")
    )
    assert ("request.approve_purge", f"staff:{lena.pk}") in actions
    assert ("request.personal_data_viewed", f"staff:{rita.pk}") in actions
