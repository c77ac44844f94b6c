"""The public transparency report as a reader sees it, on a desktop and on a phone."""

from __future__ import annotations

from pathlib import Path

import pypdfium2
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, screenshot
from tests.ledger.test_metrics import seed_this_year
from tests.ledger.test_transparency_pdf import pdf_text

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


def test_a_reader_downloads_the_report_as_a_pdf(desktop_page: Page, site: str) -> None:
    year = seed_this_year(120, seed=2027)
    desktop_page.goto(f"{site}/transparency/{year}/")
    with desktop_page.expect_download() as download_info:
        desktop_page.get_by_role("link", name="the report as a PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"transparency-report-{year}-en.pdf"
    data = Path(download.path()).read_bytes()
    pages, text = pdf_text(data)
    assert f"Removal requests in {year}" in text and "Requests received per month" in text
    assert pages == 2  # the tables on one page, the three charts on the next
    # What the reader sees on paper: each page as a picture beside the page's screenshots.
    document = pypdfium2.PdfDocument(data)
    try:
        for number in range(pages):
            picture = document[number].render(scale=1.5).to_pil()
            picture.save(SCREENSHOTS / f"transparency-pdf-page-{number + 1}.png")
            # A page is not blank: the figures and charts are drawn on it.
            assert picture.convert("L").getextrema()[0] < 100
    finally:
        document.close()
