"""No serious or critical accessibility violation (axe-core, vendored) on any workspace page, and
the queue works from the keyboard alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from removal.models import RemovalRequest
from removal.roles import PRIVACY_LEAD
from removal.services.discovery import removal_request_discover
from tests.browser.conftest import axe_violations, staff_sign_in
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long staff password"


def test_every_workspace_page_has_no_serious_accessibility_violation(
    desktop_page: Page, site: str, django_user_model: Any, gallery: Gallery, verified_request: RemovalRequest
) -> None:
    lead = django_user_model.objects.create_user("lena", "lena@privacy.example", PASSWORD, is_staff=True)
    lead.groups.add(Group.objects.get(name=PRIVACY_LEAD))
    removal_request_discover(request_id=verified_request.id)
    page = desktop_page
    page.goto(f"{site}/staff/login/")
    assert axe_violations(page) == [], "sign-in"
    staff_sign_in(page, site, lead, PASSWORD)
    pages = {
        "home": "/staff/",
        "queue": "/staff/queue/?view=open",
        "request": f"/staff/requests/{verified_request.id}/",
        "action": f"/staff/requests/{verified_request.id}/do/deny/",
        "review": f"/staff/requests/{verified_request.id}/review/",
        "dashboard": "/staff/dashboard/",
        "account": "/staff/account/",
        "add a factor": "/staff/login/set-up/",
    }
    found = {}
    for name, path in pages.items():
        page.goto(f"{site}{path}")
        found[name] = axe_violations(page)
    # With the photos shown (the viewing window open), the review page once more.
    page.goto(f"{site}/staff/requests/{verified_request.id}/review/")
    page.get_by_role("button", name="Show the photos").click()
    found["review with photos"] = axe_violations(page)
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_the_queue_and_a_request_work_from_the_keyboard(
    desktop_page: Page, site: str, django_user_model: Any, make_request: Any
) -> None:
    lead = django_user_model.objects.create_user("lena", "lena@privacy.example", PASSWORD, is_staff=True)
    lead.groups.add(Group.objects.get(name=PRIVACY_LEAD))
    request = make_request().request
    page = desktop_page
    staff_sign_in(page, site, lead, PASSWORD, next_path="/staff/queue/?view=open")
    # Tab to the request's link and open it with Enter, no mouse.
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == request.reference:
            break
    else:
        pytest.fail("the request's link is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=request.reference)).to_be_visible()


def test_the_checker_itself_finds_a_known_violation(desktop_page: Page) -> None:
    desktop_page.set_content("<html lang='en'><title>t</title><main><img src='data:,'></main></html>")
    assert any(line.startswith("image-alt") for line in axe_violations(desktop_page, impacts=("critical",)))
