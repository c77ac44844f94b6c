"""Headless Debian chromium, driven by Playwright against pytest-django's live server.

Never a browser that a tool downloads: only the chromium that scripts/install_system_packages.sh
installs. Screenshots land in var/screenshots/ for a human to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.conftest import CHROMIUM, REQUIRE_SERVICES

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_BACKGROUND = "rgb(247, 248, 250)"  # --bg in site.css: proves the stylesheet was served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped, so it runs before the per-test marker check: check for chromium here as well.
    if not os.path.exists(CHROMIUM):
        reason = "needs Debian's chromium package (scripts/install_system_packages.sh installs it)"
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses ORM
        # calls (ours, and pytest-django's flush) from such a thread unless told they are synchronous.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def site(live_server: Any, settings: Any) -> str:
    # The e-mailed links must lead back to this server.
    settings.PUBLIC_BASE_URL = live_server.url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(live_server.url)


def _new_page(browser: Browser, viewport: ViewportSize, *, phone: bool) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        viewport=viewport, is_mobile=phone, has_touch=phone, locale="en-GB", device_scale_factor=1
    )
    context.set_default_timeout(10_000)
    return context, context.new_page()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    context, page = _new_page(browser, PHONE, phone=True)
    yield page
    context.close()


@pytest.fixture
def desktop_page(browser: Browser) -> Iterator[Page]:
    context, page = _new_page(browser, DESKTOP, phone=False)
    yield page
    context.close()


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def totp_code(device: Any) -> str:
    """The code an authenticator app shows now for this device."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def staff_sign_in(page: Page, site: str, user: Any, password: str, *, next_path: str = "/staff/") -> None:
    """Sign in through the real pages: password, then a code from the user's authenticator (one is
    set up for them first if they have none)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="phone", confirmed=True
    )
    page.goto(f"{site}/staff/login/?next={next_path}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}{next_path}")


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the page now shown, of these impacts, as readable lines."""
    # Evaluated through DevTools, not added as a <script>: the site's policy refuses inline scripts.
    page.evaluate("source => { (0, eval)(source); }", AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in impacts
    ]
