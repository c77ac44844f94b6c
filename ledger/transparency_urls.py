from __future__ import annotations

from django.urls import path

from ledger import transparency

app_name = "transparency"

urlpatterns = [
    path("<int:year>/", transparency.report, name="report"),
    path("<int:year>.pdf", transparency.report_pdf, name="report_pdf"),
    path("<int:year>.json", transparency.report_json, name="report_json"),
    path("<int:year>/charts/<slug:name>.svg", transparency.chart, name="chart"),
]
