"""The transparency report as a PDF: the same figures and charts as the page, laid out for paper.

WeasyPrint draws it from a template of its own (ledger/transparency_pdf.html, sharing the page's
tables). The charts are inlined as SVG data and the URL fetcher allows `data:` alone, so drawing a
report never reaches the network or the file system, whatever a template says.
"""

from __future__ import annotations

import base64
from typing import Any

from django.template.loader import render_to_string
from PIL import ImageFile


class PdfUnavailable(RuntimeError):
    """WeasyPrint cannot load Pango here (Debian: libpango-1.0-0 libpangoft2-1.0-0)."""


def _data_url(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def report_pdf_bytes(context: dict[str, Any], charts: dict[str, bytes]) -> bytes:
    """The PDF of one year's report: `context` as the page's, `charts` as SVG documents by name."""
    html = render_to_string(
        "ledger/transparency_pdf.html",
        {**context, "charts": {name.replace("-", "_"): _data_url(svg) for name, svg in charts.items()}},
    )
    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        # Imported here: WeasyPrint loads Pango when imported, and the rest of the service runs without it.
        import weasyprint
        from weasyprint.urls import URLFetcher
    except OSError as exc:
        raise PdfUnavailable("the PDF needs Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0") from exc
    finally:
        # WeasyPrint's import sets Pillow's process-wide LOAD_TRUNCATED_IMAGES; the identity checks must
        # keep refusing truncated photos (identity.images), so the setting goes back at once.
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    pdf = document.write_pdf(pdf_variant="pdf/ua-1")
    assert pdf is not None  # no target given: the bytes are returned
    return bytes(pdf)
