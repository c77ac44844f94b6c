"""A reviewer works a request in the staff admin with a real browser: log in, filter, move, deny."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ledger.models import AuditEvent
from removal.models import RemovalRequest, Status
from tests.browser.conftest import screenshot, staff_sign_in
from tests.conftest import SUBJECT_EMAIL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long reviewer password"


def test_a_reviewer_finds_a_request_and_moves_it_along(
    desktop_page: Page, site: str, make_request: Any, django_user_model: Any
) -> None:
    reviewer = django_user_model.objects.create_superuser("rita", "rita@privacy.example", PASSWORD)
    request = make_request(jurisdictions=["US-CA"]).request
    make_request(email="someone.else@example.org", jurisdictions=["EU"])
    page = desktop_page
    staff_sign_in(page, site, reviewer, PASSWORD, next_path="/staff-admin/")

    page.get_by_role("link", name="Removal requests").last.click()
    page.get_by_role("link", name="California (CCPA)").click()
    expect(page.get_by_text("1 removal request")).to_be_visible()
    screenshot(page, "staff-1-list-filtered")

    page.get_by_role("link", name=request.reference).click()
    expect(page.get_by_text(SUBJECT_EMAIL)).to_have_count(0)  # hidden until a reason is given
    page.get_by_label("Reason").select_option("working")
    page.get_by_role("button", name="Show personal data").click()
    expect(page.get_by_text(SUBJECT_EMAIL)).to_be_visible()  # staff see who asked
    expect(page.get_by_text("Response due: end of")).to_be_visible()
    screenshot(page, "staff-2-request")

    page.get_by_role("link", name="Start verification → Verifying identity").click()
    page.get_by_role("button", name="Confirm: start verification").click()
    expect(page.get_by_text(f"{request.reference}: start verification done.")).to_be_visible()

    page.get_by_role("link", name="Deny → Denied").click()
    page.get_by_label("Legal basis").select_option("other_exemption")
    page.get_by_role("button", name="Confirm: deny").click()
    expect(page.get_by_text("Explain which exemption applies.")).to_be_visible()
    screenshot(page, "staff-3-deny-needs-note")
    page.get_by_label("Note (stored encrypted)").fill("Records under a litigation hold until 2027")
    page.get_by_role("button", name="Confirm: deny").click()
    expect(page.get_by_text("This request is closed; no further moves.")).to_be_visible()
    screenshot(page, "staff-4-denied")

    request.refresh_from_db()
    assert request.status == Status.DENIED and request.denial_basis == "other_exemption"
    actions = list(AuditEvent.objects.filter(object_id=str(request.id)).values_list("action", "actor"))
    assert actions == [
        ("request.received", "subject"),
        ("request.personal_data_viewed", f"staff:{reviewer.pk}"),
        ("request.start_verification", f"staff:{reviewer.pk}"),
        ("request.deny", f"staff:{reviewer.pk}"),
    ]
    assert RemovalRequest.objects.filter(status=Status.RECEIVED).count() == 1
