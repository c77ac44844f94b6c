"""The public transparency report as a reader sees it, on a desktop and on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.ledger.test_metrics import seed_this_year

_LOADED = (
    "alt => { const i = document.querySelector(`img[alt='${alt}']`);"
    " return i.complete && i.naturalWidth > 0; }"
)
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("which", ["desktop", "phone"])
def test_a_reader_sees_the_years_figures_and_charts(
    which: str, desktop_page: Page, phone_page: Page, site: str
) -> None:
    page = desktop_page if which == "desktop" else phone_page
    year = seed_this_year(120, seed=2026)
    page.goto(f"{site}/transparency/{year}/")
    expect(page.get_by_role("heading", name=f"Removal requests in {year}")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Complied with in whole or in part")).to_be_visible()
    for alt in ("Requests received per month", "Answers on time and late", "Days to a substantive answer"):
        chart = page.get_by_alt_text(alt)
        chart.scroll_into_view_if_needed()
        page.wait_for_function(_LOADED, arg=alt)
    # The page itself never scrolls sideways; wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"transparency-{which}")
    page.emulate_media(media="print")
    screenshot(page, f"transparency-{which}-print")
