"""The public transparency report: a year's request figures as a page, JSON and SVG charts.

Public, no personal data (figures only), cached (TRANSPARENCY_CACHE_SECONDS) because a year of a million
requests takes a while to count. Charts are drawn by pygal as SVG documents of their own, served as
images: no script, no CDN, and they print.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pygal
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ledger.metrics import yearly_metrics

FIRST_YEAR = 2020


def _figures(year: int) -> dict[str, Any]:
    if not FIRST_YEAR <= year <= timezone.now().year:
        raise Http404("no report for that year")
    key = f"ledger:transparency:{year}"
    figures = cache.get(key)
    if figures is None:
        figures = yearly_metrics(year)
        cache.set(key, figures, settings.TRANSPARENCY_CACHE_SECONDS)
    return figures


@require_GET
def report(request: HttpRequest, year: int) -> HttpResponse:
    figures = _figures(year)
    rights = [
        (_("Erasure") if right == "erasure" else _("Opt-out of sale or sharing"), data)
        for right, data in figures["rights"].items()
    ]
    answered = figures["answered_on_time"] + figures["answered_late"]
    context = {
        "year": year,
        "figures": figures,
        "rights": rights,
        "on_time_percent": round(100 * figures["answered_on_time"] / answered) if answered else None,
        "years": range(timezone.now().year, FIRST_YEAR - 1, -1),
    }
    return render(request, "ledger/transparency.html", context)


@require_GET
def report_json(request: HttpRequest, year: int) -> JsonResponse:
    response = JsonResponse(_figures(year))
    response["Access-Control-Allow-Origin"] = "*"
    return response


_CHART_STYLE = pygal.style.Style(
    background="white", plot_background="white", foreground="#1f2328", colors=("#1f5fa8", "#b35900")
)


@require_GET
def chart(request: HttpRequest, year: int, name: str) -> HttpResponse:
    figures = _figures(year)
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
    response = HttpResponse(svg_without_scripts(drawing), content_type="image/svg+xml; charset=utf-8")
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
