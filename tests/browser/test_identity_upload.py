"""A person proves who they are from the status link, in a real browser: the form, its errors, the result.

Headless Debian chromium driven by Playwright against pytest-django's live server, which runs in this
process: the settings fixture, the locmem cache (rate limits) and the in-memory storage are shared with it.
Full-page screenshots land in var/screenshots/ (identity-*.png) for a human to look at.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import FilePayload, Page, expect

from identity.models import HeadshotProbe, VerificationRecord
from removal import services
from removal.models import Channel, RemovalRequest, Status
from tests.browser.conftest import PAGE_BACKGROUND, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADSHOT_LABEL = "A photo of your face"
DOCUMENT_LABEL = "A photo of your identity document"
PDF_MESSAGE = "This file is a PDF, not a JPEG or PNG photo. Send the photo as a JPEG or PNG."


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # The upload limits count in the cache, which the live server shares with this process.
    cache.clear()


def _confirmed_subject() -> services.IntakeResult:
    result = services.removal_request_create(
        name="Barack Hussein Obama",
        email="barack@example.org",
        right="erasure",
        jurisdictions=["EU"],
        channel=Channel.WEB,
        actor=services.SUBJECT,
    )
    RemovalRequest.objects.filter(id=result.request.id).update(email_confirmed_at=timezone.now())
    return result


def _status_url(site: str, token: str) -> str:
    return f"{site}{reverse('removal:status')}?t={token}"


def _fits_the_screen(page: Page) -> None:
    """No sideways scrolling, and the stylesheet was served."""
    viewport = page.viewport_size
    assert viewport is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width}px wide on a {viewport['width']}px screen"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PAGE_BACKGROUND


def _file(name: str, content: bytes, mime_type: str = "image/jpeg") -> FilePayload:
    return {"name": name, "mimeType": mime_type, "buffer": content}


def _nothing_stored(request: RemovalRequest) -> None:
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert not VerificationRecord.objects.exists() and not HeadshotProbe.objects.exists()


def test_a_person_on_a_phone_sends_a_face_photo_and_is_verified(
    site: str, phone_page: Page, photos: dict[str, bytes], face_models: Any
) -> None:
    page = phone_page
    subject = _confirmed_subject()
    request = subject.request

    page.goto(_status_url(site, subject.status_token))
    expect(page.locator(".status-badge")).to_have_text("Received")
    expect(page.get_by_role("heading", name="Confirm who you are")).to_be_visible()
    _fits_the_screen(page)
    screenshot(page, "identity-1-status")

    page.get_by_role("link", name="Send my photos").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm who you are")
    headshot = page.get_by_label(HEADSHOT_LABEL)
    expect(headshot).to_have_attribute("type", "file")
    expect(headshot).to_have_attribute("accept", "image/jpeg,image/png,image/webp")
    # Data minimisation: where the policy needs no document, nothing of one is asked.
    form = page.locator("form[enctype='multipart/form-data']")
    expect(form.locator("input[type=file]")).to_have_count(1)
    expect(page.get_by_label(DOCUMENT_LABEL)).to_have_count(0)
    expect(form).not_to_contain_text("identity document")
    expect(page.get_by_text("You have 3 attempts left.")).to_be_visible()
    _fits_the_screen(page)
    screenshot(page, "identity-2-form")

    # Sent empty: the form again, the problem named in the summary and beside the field.
    page.get_by_role("button", name="Send my photos").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please correct the following")
    expect(page).to_have_title(re.compile(r"^Error:"))
    expect(summary.get_by_role("link", name="Add a photo of your face.")).to_have_attribute(
        "href", "#id_headshot"
    )
    headshot = page.get_by_label(HEADSHOT_LABEL)
    expect(headshot).to_have_attribute("aria-invalid", "true")
    expect(headshot).to_have_accessible_description(re.compile(re.escape("Add a photo of your face.")))
    expect(page.locator("#id_headshot_error")).to_have_text("Add a photo of your face.")
    _nothing_stored(request)
    _fits_the_screen(page)
    screenshot(page, "identity-2-form-errors")

    headshot.set_input_files(_file("obama.jpg", photos["obama.jpg"]))
    page.get_by_role("button", name="Send my photos").click()
    # A face and a confirmed address: a photo checked, never "your identity is confirmed".
    expect(page.get_by_role("status")).to_have_text("Thank you: your photo is checked.")
    # Verified, and (Celery is eager here) discovery already searched the empty face index: the
    # request waits for staff to review what was found, and the page says what was checked and found.
    expect(page.locator(".status-badge")).to_have_text("Matches under review")
    expect(page.get_by_text("What we checked: your photo shows one face")).to_be_visible()
    expect(page.get_by_text("found none of you")).to_be_visible()
    expect(page.get_by_text("checks the search before your request is closed")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(request.reference)
    expect(page.get_by_role("link", name="Send my photos")).to_have_count(0)
    assert page.url == _status_url(site, subject.status_token)
    request.refresh_from_db()
    assert request.status == Status.AWAITING_REVIEW
    record = VerificationRecord.objects.get()
    assert (record.method, record.outcome) == ("headshot_and_email", "verified")
    assert HeadshotProbe.objects.count() == 1
    _fits_the_screen(page)
    screenshot(page, "identity-3-verified")


def test_on_a_desktop_a_pdf_named_like_a_photo_is_refused_where_a_document_is_required(
    site: str, desktop_page: Page, photos: dict[str, bytes], settings: Any
) -> None:
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    page = desktop_page
    subject = _confirmed_subject()

    page.goto(_status_url(site, subject.status_token))
    page.get_by_role("link", name="Send my photos").click()
    expect(page.locator("form[enctype='multipart/form-data'] input[type=file]")).to_have_count(2)
    headshot = page.get_by_label(HEADSHOT_LABEL)
    document = page.get_by_label(DOCUMENT_LABEL)
    expect(headshot).to_be_visible()
    expect(document).to_be_visible()
    _fits_the_screen(page)
    screenshot(page, "identity-4-desktop-form")

    headshot.set_input_files(_file("photo.jpg", b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\ntrailer\n%%EOF\n"))
    document.set_input_files(_file("passport.jpg", photos["obama3.jpg"]))
    page.get_by_role("button", name="Send my photos").click()
    summary = page.get_by_role("alert")
    expect(summary.get_by_role("link", name=PDF_MESSAGE)).to_have_attribute("href", "#id_headshot")
    expect(page.locator("#id_headshot_error")).to_have_text(PDF_MESSAGE)
    expect(page.get_by_label(HEADSHOT_LABEL)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_document_error")).to_have_count(0)  # the document was fine, as far as we know
    expect(page.get_by_text("You have 3 attempts left.")).to_be_visible()  # a wrong file costs no attempt
    _nothing_stored(subject.request)
    _fits_the_screen(page)
    screenshot(page, "identity-5-desktop-pdf-refused")

    page.goto(_status_url(site, subject.status_token))
    expect(page.locator(".status-badge")).to_have_text("Received")
    expect(page.get_by_role("link", name="Send my photos")).to_be_visible()
    screenshot(page, "identity-6-desktop-still-received")
