"""The workspace in a browser, as each role uses it: a reviewer takes a request from the queue and
works it; a lead extends a selection in one go; an auditor reads without changing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from ledger.models import AuditEvent
from removal.models import RemovalRequest, Status
from removal.roles import AUDITOR, PRIVACY_LEAD, REVIEWER
from tests.browser.conftest import screenshot, staff_sign_in
from tests.conftest import SUBJECT_EMAIL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long staff password"


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    def make(username: str, role: str) -> Any:
        user = django_user_model.objects.create_user(
            username, f"{username}@privacy.example", PASSWORD, is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def test_a_reviewer_takes_a_request_from_the_queue_and_works_it(
    desktop_page: Page, site: str, staff: Any, make_request: Any
) -> None:
    rita = staff("rita", REVIEWER)
    request = make_request().request
    make_request(email="someone.else@example.org", jurisdictions=["US-CA"])
    page = desktop_page
    staff_sign_in(page, site, rita, PASSWORD, next_path="/staff/queue/?view=unassigned")
    expect(page.get_by_role("heading", name="Unassigned 2")).to_be_visible()
    screenshot(page, "workspace-1-queue")

    page.get_by_role("link", name=request.reference).click()
    expect(page.get_by_text(SUBJECT_EMAIL)).to_have_count(0)
    page.get_by_role("button", name="Take this request").click()
    expect(page.get_by_text("Assignment changed.")).to_be_visible()
    page.get_by_label("Reason").select_option("working")
    page.get_by_role("button", name="Show personal data").click()
    expect(page.get_by_text(SUBJECT_EMAIL)).to_be_visible()
    screenshot(page, "workspace-2-request")

    page.get_by_role("link", name="Start verification").click()
    page.get_by_role("button", name="Confirm: start verification").click()
    expect(page.get_by_text(f"{request.reference}: done.")).to_be_visible()
    expect(page.get_by_text("Identity verification started")).to_be_visible()
    request.refresh_from_db()
    assert request.status == Status.VERIFYING and request.assignee == rita
    # Only a lead may deny: the reviewer's page offers no such button.
    expect(page.get_by_role("link", name="Deny")).to_have_count(0)

    page.get_by_role("link", name="Queue", exact=True).click()
    page.get_by_role("link", name="Log a request received by post, phone or e-mail").click()
    expect(page.get_by_role("group", name="Right the subject exercises")).to_be_visible()
    screenshot(page, "workspace-10-log-request")


def test_a_lead_extends_several_requests_at_once(
    desktop_page: Page, site: str, staff: Any, make_request: Any
) -> None:
    lead = staff("lena", PRIVACY_LEAD)
    chosen = [make_request(email=f"many-{i}@example.org").request for i in range(3)]
    page = desktop_page
    staff_sign_in(page, site, lead, PASSWORD, next_path="/staff/queue/?view=open")
    for request in chosen:
        page.get_by_label(f"Select {request.reference}").check()
    page.get_by_label("With the selected requests").select_option("extend")
    page.get_by_label("Why they need more time").select_option("volume_of_data")
    screenshot(page, "workspace-3-bulk-extend")
    page.get_by_role("button", name="Apply to the selected requests").click()
    expect(page.get_by_text("Done for 3 requests.")).to_be_visible()
    screenshot(page, "workspace-4-bulk-done")
    assert RemovalRequest.objects.filter(extended_at__isnull=False).count() == 3
    assert AuditEvent.objects.filter(action="request.extended").count() == 3
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.charts img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "workspace-9-dashboard")


def test_an_auditor_reads_a_request_and_its_data_only_with_a_reason(
    desktop_page: Page, site: str, staff: Any, make_request: Any
) -> None:
    auditor = staff("ada", AUDITOR)
    request = make_request().request
    page = desktop_page
    staff_sign_in(page, site, auditor, PASSWORD, next_path=f"/staff/requests/{request.id}/")
    expect(page.get_by_text("Nothing for your role to do on this request now.")).to_be_visible()
    expect(page.get_by_text("Only a privacy lead can change who works this request.")).to_be_visible()
    page.get_by_label("Reason").select_option("audit")
    page.get_by_role("button", name="Show personal data").click()
    expect(page.get_by_text(SUBJECT_EMAIL)).to_be_visible()
    screenshot(page, "workspace-5-auditor")
    viewed = AuditEvent.objects.get(action="request.personal_data_viewed")
    assert viewed.actor == f"staff:{auditor.pk}" and '"reason":"audit"' in viewed.payload


def test_the_staff_lists_fit_a_1440_px_screen(
    desktop_page: Page, site: str, staff: Any, make_request: Any
) -> None:
    """The request lists staff work from, the workspace queue and the admin's, scroll no page sideways
    at 1440 px with requests under every jurisdiction (the longest cells) (issue 14, item 12)."""
    lead = staff("lena", PRIVACY_LEAD)
    lead.is_superuser = True
    lead.save()
    for number in range(3):
        make_request(
            email=f"fit-{number}@example.org",
            jurisdictions=["EU", "GB", "US-CA", "US-VA", "US-CO", "US-CT", "BR", "CA", "CA-QC", "AU"][
                number:
            ],
        )
    page = desktop_page
    page.set_viewport_size({"width": 1440, "height": 900})
    staff_sign_in(page, site, lead, PASSWORD, next_path="/staff/queue/?view=open")
    for path in ("/staff/queue/?view=open", "/staff-admin/removal/removalrequest/"):
        page.goto(f"{site}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"staff-list-1440{path.replace('/', '-').split('?')[0]}")
        assert width <= 1440, f"{path} is {width}px wide at 1440 px"
        # One date format on every staff page: the language's, never ISO beside it (issue 14, item 5).
        table = page.inner_text("body")
        assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", table), table
