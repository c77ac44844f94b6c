"""The public transparency report: a year's request figures as a page, a PDF, JSON and SVG charts.

Public, no personal data (figures only), cached (TRANSPARENCY_CACHE_SECONDS) because a year of a million
requests takes a while to count. Charts are drawn by pygal as SVG documents of their own, served as
images: no script, no CDN, and they print. The PDF (ledger/transparency_pdf.py) is drawn on demand,
cached like the figures, and rate-limited because drawing one costs a second of CPU.
"""

from __future__ import annotations

import logging
from typing import Any
from xml.etree import ElementTree

import pygal
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django_ratelimit.decorators import ratelimit

from ledger.metrics import yearly_metrics
from ledger.transparency_pdf import PdfUnavailable, report_pdf_bytes

FIRST_YEAR = 2020
logger = logging.getLogger(__name__)


def _figures(year: int) -> dict[str, Any]:
    if not FIRST_YEAR <= year <= timezone.now().year:
        raise Http404("no report for that year")
    key = f"ledger:transparency:{year}"
    figures = cache.get(key)
    if figures is None:
        figures = yearly_metrics(year)
        cache.set(key, figures, settings.TRANSPARENCY_CACHE_SECONDS)
    return figures


def _context(year: int, figures: dict[str, Any]) -> dict[str, Any]:
    """What the page and the PDF show."""
    rights = [
        (_("Erasure") if right == "erasure" else _("Opt-out of sale or sharing"), data)
        for right, data in figures["rights"].items()
    ]
    answered = figures["answered_on_time"] + figures["answered_late"]
    return {
        "year": year,
        "figures": figures,
        "rights": rights,
        "on_time_percent": round(100 * figures["answered_on_time"] / answered) if answered else None,
    }


@require_GET
def report(request: HttpRequest, year: int) -> HttpResponse:
    context = _context(year, _figures(year))
    context["years"] = range(timezone.now().year, FIRST_YEAR - 1, -1)
    return render(request, "ledger/transparency.html", context)


@require_GET
@ratelimit(
    key="ip",
    group="transparency-pdf",
    rate=lambda group, request: str(settings.TRANSPARENCY_PDF_RATE),
    block=False,
)
def report_pdf(request: HttpRequest, year: int) -> HttpResponse:
    figures = _figures(year)
    language = get_language() or settings.LANGUAGE_CODE
    # One drawing per year, language and log size: the figures' cache decides when it is redrawn.
    key = f"ledger:transparency:{year}:{language}:{figures['tree_size']}:pdf"
    pdf = cache.get(key)
    if pdf is None:
        if getattr(request, "limited", False):
            response = HttpResponse(
                _("Too many reports drawn from your address; try again in a minute."),
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = "60"
            return response
        context = _context(year, figures)
        context["generated_at"] = timezone.now().strftime("%Y-%m-%d %H:%M")
        context["page_url"] = settings.PUBLIC_BASE_URL + reverse("transparency:report", args=[year])
        charts = {name: chart_svg(figures, name) for name in CHARTS}
        try:
            pdf = report_pdf_bytes(context, charts)
        except PdfUnavailable:
            logger.exception("the transparency PDF cannot be drawn on this server")
            return HttpResponse(
                _("The PDF cannot be drawn at the moment; the page itself prints."),
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        cache.set(key, pdf, settings.TRANSPARENCY_CACHE_SECONDS)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="transparency-report-{year}-{language}.pdf"'
    response["Cache-Control"] = f"public, max-age={settings.TRANSPARENCY_CACHE_SECONDS}"
    response["Content-Language"] = language
    return response


@require_GET
def report_json(request: HttpRequest, year: int) -> JsonResponse:
    response = JsonResponse(_figures(year))
    response["Access-Control-Allow-Origin"] = "*"
    return response


_CHART_STYLE = pygal.style.Style(
    background="white", plot_background="white", foreground="#1f2328", colors=("#1f5fa8", "#b35900")
)


CHARTS = ("monthly", "on-time", "days")


def chart_svg(figures: dict[str, Any], name: str) -> bytes:
    """One of the CHARTS of a year's figures, as an SVG document without script."""
    config: dict[str, Any] = {
        "style": _CHART_STYLE,
        "js": [],
        "width": 640,
        "height": 320,
        "legend_at_bottom": True,
    }
    if name == "monthly":
        drawing = pygal.Bar(title=_("Requests received per month"), show_legend=False, **config)
        drawing.x_labels = [str(month) for month in range(1, 13)]
        drawing.add(_("Requests"), figures["monthly_received"])
    elif name == "on-time":
        drawing = pygal.Pie(title=_("Answers on time"), inner_radius=0.5, **config)
        drawing.add(_("On time"), figures["answered_on_time"])
        drawing.add(_("Late"), figures["answered_late"])
    elif name == "days":
        drawing = pygal.Bar(title=_("Days to a substantive answer"), show_legend=False, **config)
        drawing.x_labels = [bucket["days"] for bucket in figures["days_to_response_histogram"]]
        drawing.add(_("Requests"), [bucket["requests"] for bucket in figures["days_to_response_histogram"]])
    else:
        raise Http404("no such chart")
    return svg_without_scripts(drawing)


@require_GET
def chart(request: HttpRequest, year: int, name: str) -> HttpResponse:
    response = HttpResponse(chart_svg(_figures(year), name), content_type="image/svg+xml; charset=utf-8")
    # Opened on its own, the drawing may style itself and nothing else.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["Cache-Control"] = f"public, max-age={settings.TRANSPARENCY_CACHE_SECONDS}"
    response["Content-Language"] = get_language() or "en"
    return response


def svg_without_scripts(drawing: Any) -> bytes:
    """The SVG without pygal's tooltip script: the charts are pictures, and print as such."""
    tree = drawing.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return ElementTree.tostring(tree, encoding="unicode").encode()
