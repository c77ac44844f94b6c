"""The dashboard: the team's figures as text and as charts (pygal SVG drawn here, no script, no CDN)."""

from __future__ import annotations

from typing import Any

import pygal
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from ledger.transparency import svg_without_scripts
from removal.dashboard import dashboard_figures
from removal.models import Right
from workspace.access import staff_page
from workspace.queue_views import may_see_queue

_STYLE = pygal.style.Style(
    background="white",
    plot_background="white",
    foreground="#1b1f24",
    colors=("#1d4ed8", "#b35900", "#166534", "#7c3aed"),
)


@staff_page
def dashboard_view(request: HttpRequest) -> HttpResponse:
    may_see_queue(request)
    figures = dashboard_figures()
    on_time_rate = round(100 * figures.on_time / figures.closed) if figures.closed else None
    per_week_rows = [
        (monday, [figures.per_week[right][i] for right in Right.values])
        for i, monday in enumerate(figures.weeks)
    ]
    context = {
        "figures": figures,
        "on_time_rate": on_time_rate,
        "rights": [label for _value, label in Right.choices],
        "per_week_rows": per_week_rows,
    }
    return render(request, "workspace/dashboard.html", context)


@staff_page
def chart_view(request: HttpRequest, name: str) -> HttpResponse:
    may_see_queue(request)
    figures = dashboard_figures()
    config: dict[str, Any] = {
        "style": _STYLE,
        "js": [],
        "width": 640,
        "height": 320,
        "legend_at_bottom": True,
    }
    drawing: Any
    if name == "per-week":
        drawing = pygal.StackedBar(title=_("Requests received per week, by right"), **config)
        drawing.x_labels = [monday.strftime("%d.%m") for monday in figures.weeks]
        for value, label in Right.choices:
            drawing.add(str(label), figures.per_week[value])
    elif name == "open-by-state":
        drawing = pygal.HorizontalBar(title=_("Open requests by state"), show_legend=False, **config)
        drawing.x_labels = [label for label, _count in figures.open_by_state]
        drawing.add(_("Requests"), [count for _label, count in figures.open_by_state])
    elif name == "on-time":
        drawing = pygal.Pie(title=_("Answered on time (last 12 weeks)"), inner_radius=0.5, **config)
        drawing.add(_("On time"), figures.on_time)
        drawing.add(_("Late"), figures.closed - figures.on_time)
    else:
        raise Http404
    response = HttpResponse(svg_without_scripts(drawing), content_type="image/svg+xml; charset=utf-8")
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["Cache-Control"] = "no-store, private"
    return response
