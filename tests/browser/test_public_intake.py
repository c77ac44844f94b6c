"""A person asks for removal in a real browser: the form, its errors, the e-mailed links, the status page.

Headless Debian chromium driven by Playwright against pytest-django's live server. Celery runs eagerly
and e-mail goes to the locmem outbox, so the links the person "receives" are read from `mailoutbox`.
Full-page screenshots land in var/screenshots/ for a human to look at.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from removal.models import RemovalRequest, Status
from removal.selectors import mask_email
from tests.browser.conftest import PAGE_BACKGROUND, screenshot
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _assert_fits_the_screen(page: Page) -> None:
    """Nothing forces sideways scrolling, and the stylesheet is in effect."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"  # type: ignore[index]
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PAGE_BACKGROUND


def _fill_in_the_form(page: Page) -> None:
    page.get_by_label("Your full name").fill(SUBJECT_NAME)
    page.get_by_label("Your e-mail address").fill(SUBJECT_EMAIL)
    page.get_by_label("Erasure").check()
    page.get_by_label("European Union (GDPR)").check()
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your e-mail")


def _only_link(links: list[str], site: str) -> str:
    assert len(links) == 1, links
    assert links[0].startswith(f"{site}/")
    return links[0]


def test_a_person_on_a_phone_submits_confirms_and_follows_a_request(
    site: str, phone_page: Page, mailoutbox: list[Any], mail_links: Any
) -> None:
    page = phone_page
    page.goto(f"{site}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask us to remove your photos")
    expect(page.get_by_label("Erasure")).to_be_checked()  # the usual choice is preselected
    _assert_fits_the_screen(page)
    screenshot(page, "phone-1-form")

    # Sending the form empty: back to the form, every problem named, nothing stored.
    page.get_by_role("button", name="Send my request").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please correct the following")
    expect(summary).to_be_focused()  # a keyboard or screen-reader user starts at the problems
    expect(page).to_have_title(re.compile(r"^Error:"))
    for label, anchor, message in [
        ("Your full name", "#id_name", "Enter your name."),
        ("Your e-mail address", "#id_email", "Enter your e-mail address."),
    ]:
        expect(summary.get_by_role("link", name=message)).to_have_attribute("href", anchor)
        field = page.get_by_label(label)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    places = page.get_by_role("group", name="Where do you live?")
    expect(places).to_have_accessible_description(re.compile("Choose at least one place"))
    # The link leads to the first choice itself, so the focus moves there, not to the fieldset.
    place_link = summary.get_by_role("link", name=re.compile("Choose at least one place"))
    expect(place_link).to_have_attribute("href", "#id_jurisdictions_0")
    place_link.click()
    expect(page.locator("#id_jurisdictions_0")).to_be_focused()
    assert RemovalRequest.objects.count() == 0
    assert mailoutbox == []
    _assert_fits_the_screen(page)
    screenshot(page, "phone-2-form-with-errors")

    _fill_in_the_form(page)
    # (The browser carries the in-page #fragment across the redirect; the page is the same.)
    assert page.url.split("#")[0] == f"{site}/submitted/"
    _assert_fits_the_screen(page)
    screenshot(page, "phone-3-check-your-email")

    request = RemovalRequest.objects.get()
    assert len(mailoutbox) == 2
    status_link = _only_link(mail_links("status"), site)
    confirm_link = _only_link(mail_links("confirm"), site)

    page.goto(status_link)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Your request {request.reference}")
    expect(page.locator(".status-badge")).to_have_text("Received")
    expect(page.get_by_text(mask_email(SUBJECT_EMAIL))).to_contain_text("(not yet confirmed)")
    html = page.content()
    assert SUBJECT_EMAIL not in html
    assert "quintero" not in html.lower(), "neither the name nor the address is shown back"
    assert SUBJECT_NAME.split()[0] not in html
    expect(page.get_by_role("heading", name="Our deadlines")).to_be_visible()
    deadlines = page.get_by_role("table")
    expect(deadlines.get_by_role("columnheader")).to_have_text(["What", "By the end of", "Set by"])
    expect(deadlines.get_by_role("row").filter(has_text="Response due")).to_contain_text("EU")
    _assert_fits_the_screen(page)
    screenshot(page, "phone-4-status")

    page.goto(confirm_link)
    assert RemovalRequest.objects.get().email_confirmed_at is None, "opening the link alone confirms nothing"
    page.get_by_role("button", name="Confirm my e-mail address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("E-mail address confirmed")
    expect(page.get_by_text(request.reference)).to_be_visible()
    _assert_fits_the_screen(page)
    screenshot(page, "phone-5-email-confirmed")

    # Not a dead end: the page leads on to the request itself.
    page.get_by_role("link", name="Open my request").click()
    assert page.url == status_link
    expect(page.get_by_text(mask_email(SUBJECT_EMAIL))).to_contain_text("(confirmed)")
    expect(page.get_by_text("not yet confirmed")).to_have_count(0)
    assert RemovalRequest.objects.get().email_confirmed_at is not None
    screenshot(page, "phone-6-status-confirmed")


def test_a_person_on_a_desktop_withdraws_from_the_status_page(
    site: str, desktop_page: Page, mailoutbox: list[Any], mail_links: Any
) -> None:
    page = desktop_page
    page.goto(f"{site}/")
    _assert_fits_the_screen(page)
    screenshot(page, "desktop-1-form")
    _fill_in_the_form(page)

    page.goto(_only_link(mail_links("status"), site))
    withdraw = page.get_by_role("button", name="Withdraw my request")
    expect(withdraw).to_be_visible()
    _assert_fits_the_screen(page)
    screenshot(page, "desktop-2-status")

    withdraw.click()
    # Irreversible, so asked once more; keeping it leads back unchanged.
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw your request?")
    screenshot(page, "desktop-3-withdraw-confirm")
    page.get_by_role("link", name="Keep my request").click()
    expect(page.locator(".status-badge")).not_to_have_text("Withdrawn")
    page.get_by_role("button", name="Withdraw my request").click()
    page.get_by_role("button", name="Yes, withdraw my request").click()
    expect(page.get_by_role("status")).to_have_text("Your request is withdrawn.")
    expect(page.locator(".status-badge")).to_have_text("Withdrawn")
    expect(page.get_by_text("You withdrew this request.")).to_be_visible()
    expect(page.get_by_role("button", name="Withdraw my request")).to_have_count(0)
    assert RemovalRequest.objects.get().status == Status.WITHDRAWN
    screenshot(page, "desktop-4-withdrawn")

    # The notice was a one-off; the page itself still says withdrawn.
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)
    expect(page.locator(".status-badge")).to_have_text("Withdrawn")
