"""Signing in as staff in a real browser: the first sign-in sets up an authenticator (QR code, key,
recovery codes); a later one asks for the code; repeated wrong passwords lock the account."""

from __future__ import annotations

import re
from base64 import b32decode
from typing import Any

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from ledger.models import AuditEvent
from removal.roles import REVIEWER
from tests.browser.conftest import screenshot, staff_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long reviewer password"


def _code_for_key(key_text: str) -> str:
    """What an authenticator app shows for the key printed on the set-up page."""
    import time

    text = key_text.replace(" ", "")
    totp = TOTP(b32decode(text + "=" * (-len(text) % 8)))
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.fixture
def rita(django_user_model: Any) -> Any:
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("rita", "rita@privacy.example", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=REVIEWER))
    return user


def test_a_first_sign_in_sets_up_an_authenticator_then_the_code_is_asked_for(
    desktop_page: Page, site: str, rita: Any
) -> None:
    page = desktop_page
    page.goto(f"{site}/staff/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "sign-in-1-password")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    screenshot(page, "sign-in-2-set-up")
    key = page.locator("code.secret").inner_text()
    page.get_by_label("Code shown by the app").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code does not match")).to_be_visible()
    page.get_by_label("Code shown by the app").fill(_code_for_key(key))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("ul.recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{8}", code) for code in codes)
    screenshot(page, "sign-in-3-recovery-codes")
    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page.get_by_role("heading", name="Signed in as rita")).to_be_visible()
    expect(page.get_by_text("Your role: Reviewer.")).to_be_visible()
    screenshot(page, "sign-in-4-home")

    # Signed out, the next sign-in asks for the code; a recovery code also works, once.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    screenshot(page, "sign-in-5-code")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You used a recovery code: 9 left.")).to_be_visible()

    actions = list(AuditEvent.objects.filter(object_type="account").values_list("action", flat=True))
    assert actions == [
        "account.password_accepted",
        "account.factor_enrolled",
        "account.logged_in",
        "account.logged_out",
        "account.password_accepted",
        "account.logged_in",
    ]


def test_wrong_passwords_lock_the_account_in_the_browser(
    desktop_page: Page, site: str, rita: Any, settings: Any
) -> None:
    page = desktop_page
    page.goto(f"{site}/staff/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        page.get_by_label("Username").fill("rita")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Account locked for now")).to_be_visible()
    screenshot(page, "sign-in-6-locked")
    # The right password does not get in now either.
    page.goto(f"{site}/staff/login/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Account locked for now")).to_be_visible()
    assert AuditEvent.objects.filter(action="account.locked_out").exists()


def test_a_signed_in_reviewer_reaches_the_admin_without_a_second_login(
    desktop_page: Page, site: str, rita: Any
) -> None:
    staff_sign_in(desktop_page, site, rita, PASSWORD, next_path="/staff-admin/")
    expect(desktop_page.get_by_role("link", name="Removal requests").first).to_be_visible()


def _virtual_authenticator(page: Page) -> Any:
    """Chromium's virtual authenticator (DevTools WebAuthn domain): a platform authenticator with
    user verification that answers at once, as a laptop's fingerprint reader would."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_a_first_sign_in_creates_a_passkey_and_the_next_one_uses_it(
    desktop_page: Page, site: str, rita: Any, settings: Any
) -> None:
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [site]
    page = desktop_page
    cdp, authenticator = _virtual_authenticator(page)
    page.goto(f"{site}/staff/login/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="A passkey (recommended)")).to_be_visible()
    screenshot(page, "sign-in-7-passkey-offer")
    page.get_by_role("button", name="Create a passkey").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert page.locator("ul.recovery-codes li").count() == 10
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"
    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page.get_by_role("heading", name="Signed in as rita")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    screenshot(page, "sign-in-8-passkey-or-code")
    page.get_by_role("button", name="Use your passkey").click()
    expect(page.get_by_role("heading", name="Signed in as rita")).to_be_visible()

    logged_in = [
        event.payload
        for event in AuditEvent.objects.filter(action__in=["account.logged_in", "account.factor_enrolled"])
    ]
    assert len(logged_in) == 3 and all('"factor":"passkey"' in payload for payload in logged_in)
