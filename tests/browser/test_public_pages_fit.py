"""Every public page, in English, French and German, on a 375 px phone: nothing scrolls sideways
(issue 14: the German status page was 415 px wide). Screenshots of the German status page and form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize

from removal import services
from removal.models import RemovalRequest
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NARROW: ViewportSize = {"width": 375, "height": 812}  # the narrowest phone in common use


def _pages(make_request: Any) -> dict[str, str]:
    """Each public page a subject can reach, with the secrets it needs (GET only: nothing changes)."""
    result = make_request(jurisdictions=["EU", "US-CA", "BR"])
    RemovalRequest.objects.filter(id=result.request.id).update(email_confirmed_at=timezone.now())
    token = result.status_token
    confirm = services.confirmation_url(result.request, status_token=token).split("/confirm/", 1)[1]
    return {
        "form": reverse("removal:request_form"),
        "submitted": reverse("removal:submitted"),
        "confirm": f"{reverse('removal:confirm_email')}{confirm}",
        "status": f"{reverse('removal:status')}?t={token}",
        "verify identity": f"{reverse('removal:verify_identity')}?t={token}",
        "receipt check": reverse("removal:receipt_verify"),
        "unknown link": f"{reverse('removal:status')}?t=no-such-link",
        "transparency": f"/transparency/{datetime.now(UTC).year}/",
    }


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_no_public_page_scrolls_sideways_on_a_phone(
    language: str, phone_page: Page, site: str, make_request: Any
) -> None:
    phone_page.set_viewport_size(NARROW)
    # The language a subject picks with the site's own switcher lives in this cookie.
    phone_page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": site}])
    too_wide = {}
    for name, path in _pages(make_request).items():
        phone_page.goto(f"{site}{path}")
        assert phone_page.evaluate("document.documentElement.lang") == language, name
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        if width > NARROW["width"]:
            too_wide[name] = width
        if language == "de" and name in ("status", "form"):
            screenshot(phone_page, f"fit-375-de-{name.replace(' ', '-')}")
    assert too_wide == {}, f"pages wider than {NARROW['width']} px in {language}: {too_wide}"
