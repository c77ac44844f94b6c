from __future__ import annotations

from django.urls import path

from workspace import regulator_views

app_name = "regulator"

urlpatterns = [
    path("", regulator_views.home_view, name="home"),
    path("export/", regulator_views.export_view, name="export"),
    path("verify_bundle.py", regulator_views.verifier_view, name="verifier"),
]
