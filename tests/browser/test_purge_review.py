"""A reviewer decides discovery's candidates beside the headshot and approves the purge, in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ledger.models import AuditEvent
from removal.models import Candidate, Photo, RemovalRequest, Status
from removal.selectors import hash_status_token
from removal.services.common import SYSTEM
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.purge import purge_approve
from tests.browser.conftest import screenshot, staff_sign_in
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long reviewer password"


def test_a_reviewer_confirms_the_subjects_photos_and_approves_the_purge(
    desktop_page: Page,
    site: str,
    gallery: Gallery,
    verified_request: RemovalRequest,
    django_user_model: Any,
) -> None:
    rita = django_user_model.objects.create_superuser("rita", "rita@privacy.example", PASSWORD)
    removal_request_discover(request_id=verified_request.id)
    # One candidate is flagged, as if it sat in someone else's cluster: the page must say so.
    flagged = Candidate.objects.filter(request=verified_request).order_by("-distance").first()
    assert flagged is not None
    Candidate.objects.filter(id=flagged.id).update(lookalike=True, lookalike_distance=0.12)
    page = desktop_page
    staff_sign_in(page, site, rita, PASSWORD, next_path="/staff-admin/")

    page.goto(f"{site}/staff-admin/removal/removalrequest/{verified_request.id}/change/")
    page.get_by_role("link", name="Review candidates and approve the purge").click()
    undecided = "5 candidate faces: 0 the subject, 0 someone else, 5 not decided"
    expect(page.get_by_text(undecided)).to_be_visible()
    expect(page.get_by_text("1 flagged as look-alike")).to_be_visible()
    # The photos stay hidden until the reviewer says why they look (one audit event for the visit).
    page.get_by_role("button", name="Show the photos").click()
    expect(page.get_by_text("Look-alike: 0.120 from other faces")).to_be_visible()
    headshot = page.get_by_alt_text("The subject's headshot")
    expect(headshot).to_be_visible()
    # The thumbnails load lazily: bring the first into view and wait until it has decoded.
    first_thumbnail = page.locator(".candidate img").first
    first_thumbnail.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const img = document.querySelector('.candidate img');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    expect(page.get_by_text("Decide every candidate first (5 not decided).")).to_be_visible()
    screenshot(page, "review-1-candidates")

    page.get_by_role("button", name="Confirm all not flagged").click()
    expect(page.get_by_text("4 decision(s) recorded.")).to_be_visible()
    # The flagged one is looked at twice, and is the subject after all: decided by hand.
    page.locator(f"input[name='c-{flagged.id}'][value='confirmed']").check()
    page.get_by_role("button", name="Save decisions on this page").click()
    decided = "5 candidate faces: 5 the subject, 0 someone else, 0 not decided"
    expect(page.get_by_text(decided)).to_be_visible()
    screenshot(page, "review-2-decided")

    page.get_by_role("button", name="Approve the purge").click()
    # Irreversible: the browser will not send it before the confirmation is ticked.
    expect(page.get_by_text("purge approved")).to_have_count(0)
    page.get_by_label("I have checked the 5 confirmed photos").check()
    page.get_by_role("button", name="Approve the purge").click()
    expect(page.get_by_text("purge approved")).to_be_visible()
    expect(page.get_by_text("Status: Completed")).to_be_visible()
    expect(page.get_by_role("cell", name="photo_files")).to_be_visible()
    screenshot(page, "review-3-purged")

    verified_request.refresh_from_db()
    assert verified_request.status == Status.COMPLETED
    assert set(Photo.objects.all()) == set(gallery.others)
    events = AuditEvent.objects.filter(object_id=str(verified_request.id))
    actions = list(events.values_list("action", flat=True))
    assert actions.count("request.candidates_decided") == 2
    assert actions.count("request.personal_data_viewed") == 1 and "request.approve_purge" in actions


def test_the_subject_sees_the_receipt_on_a_phone_and_checks_it(
    phone_page: Page,
    site: str,
    gallery: Gallery,
    verified_request: RemovalRequest,
    django_capture_on_commit_callbacks: Any,
    tmp_path: Path,
) -> None:
    token = "the-subjects-status-link-secret"
    RemovalRequest.objects.filter(id=verified_request.id).update(status_token_hash=hash_status_token(token))
    removal_request_discover(request_id=verified_request.id)
    ids = Candidate.objects.filter(request=verified_request).values_list("id", flat=True)
    candidates_decide(request=verified_request, actor=SYSTEM, decisions=dict.fromkeys(ids, "confirmed"))
    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=verified_request, actor=SYSTEM)
    page = phone_page

    page.goto(f"{site}/status/?t={token}")
    expect(page.locator(".status-badge")).to_have_text("Completed")
    expect(page.get_by_role("heading", name="Your deletion receipt")).to_be_visible()
    expect(page.get_by_text("Photos: 5")).to_be_visible()
    document = page.get_by_label("Or copy its text (all of it)").input_value()
    screenshot(page, "receipt-1-status-page")
    # The file the e-mail and the check page speak of: downloaded, it is the same signed text.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download the receipt (.json file)").click()
    download = downloading.value
    assert download.suggested_filename == f"deletion-receipt-{verified_request.reference}.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_text() == document

    page.get_by_role("link", name="Check a receipt").click()
    page.get_by_label("Or choose the receipt file").set_input_files(str(saved))
    page.get_by_role("button", name="Check the receipt").click()
    expect(page.get_by_role("status")).to_contain_text("Valid: signed by")
    screenshot(page, "receipt-2-checked")
    page.get_by_label("Paste the receipt").fill(document)
    page.get_by_role("button", name="Check the receipt").click()
    expect(page.get_by_role("status")).to_contain_text("Valid: signed by")
