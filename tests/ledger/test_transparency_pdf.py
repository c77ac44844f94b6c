"""The transparency report as a PDF: the page's figures on paper, drawn without reaching out."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pypdfium2
import pytest
from django.core.cache import cache
from django.test import override_settings

from ledger.metrics import yearly_metrics
from ledger.transparency_pdf import report_pdf_bytes
from tests.ledger.test_metrics import seed_this_year

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> tuple[int, str]:
    """The number of pages and the text of every page."""
    document = pypdfium2.PdfDocument(data)
    try:
        pages = [document[i] for i in range(len(document))]
        return len(pages), "\n".join(page.get_textpage().get_text_range() for page in pages)
    finally:
        document.close()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def test_the_pdf_holds_the_pages_figures_in_the_readers_language(client: Any) -> None:
    year = seed_this_year(60, seed=7)
    figures = yearly_metrics(year)
    response = client.get(f"/transparency/{year}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="transparency-report-{year}-en.pdf"'
    pages, text = pdf_text(response.content)
    words = " ".join(text.split())
    assert pages >= 2  # the tables, then the charts on a page of their own
    assert f"Removal requests in {year}" in text and "Per authority" in text
    assert f"entries up to {figures['tree_size']}" in text
    erasure = figures["rights"]["erasure"]
    assert f"Erasure {erasure['received']} {erasure['complied_in_whole_or_in_part']}" in words
    for code, data in figures["authorities"].items():
        assert f"{code} {data['received']} " in words
    # The charts are drawn in, as vector pictures with their titles.
    assert "Requests received per month" in text and "Days to a substantive answer" in text

    german = client.get(f"/transparency/{year}.pdf", HTTP_ACCEPT_LANGUAGE="de")
    assert german["Content-Language"] == "de"
    _, text = pdf_text(german.content)
    assert f"Löschanträge {year}" in text and "Erstellt am" in text
    assert "Removal requests in" not in text


def test_the_page_links_to_its_pdf(client: Any) -> None:
    year = seed_this_year(5, seed=3)
    html = client.get(f"/transparency/{year}/").content.decode()
    assert f'href="/transparency/{year}.pdf"' in html


@override_settings(TRANSPARENCY_PDF_RATE="1/m")
def test_drawing_is_rate_limited_but_a_drawn_report_is_served_from_the_cache(client: Any) -> None:
    year = seed_this_year(5, seed=4)
    first = client.get(f"/transparency/{year}.pdf")
    assert first.status_code == 200
    # The same report again: from the cache, not drawn, not counted.
    again = client.get(f"/transparency/{year}.pdf")
    assert again.status_code == 200 and again.content == first.content
    # Another drawing (another language) from the same address: refused for a minute.
    refused = client.get(f"/transparency/{year}.pdf", HTTP_ACCEPT_LANGUAGE="fr")
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert client.get(f"/transparency/{year - 30}.pdf").status_code == 404


def test_drawing_a_report_fetches_nothing(tmp_path: Any) -> None:
    """A picture or stylesheet naming an address (an SVG can) is not fetched: no network, no files."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "secret.svg"
    secret.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text y="20">file contents</text></svg>')
    base = f"http://127.0.0.1:{server.server_port}"
    hostile = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" '
        f'height="10"><image xlink:href="{base}/image.png" width="10" height="10"/>'
        f'<image href="file://{secret}" width="10" height="10"/>'
        f'<style>@import url("{base}/style.css");</style></svg>'
    ).encode()
    try:
        year = seed_this_year(3, seed=5)
        figures = yearly_metrics(year)
        context = {"year": year, "figures": figures, "rights": [], "on_time_percent": None}
        pdf = report_pdf_bytes(context, {"monthly": hostile, "on-time": hostile, "days": hostile})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert pdf.startswith(b"%PDF-")
    assert hits == []
    assert "file contents" not in pdf_text(pdf)[1]
