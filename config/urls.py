from __future__ import annotations

from csp import constants as csp_constants
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

handler404 = "config.not_found.not_found"

admin.site.site_header = "Removal requests: staff"
admin.site.site_title = "Removal requests"

urlpatterns = [
    path(settings.ADMIN_URL_PATH, admin.site.urls),
    # Passkeys' ceremonies, under the namespace django-otp-webauthn's scripts reverse ("otp_webauthn").
    path(f"{settings.STAFF_URL_PATH}passkeys/", include("workspace.passkeys")),
    path(settings.STAFF_URL_PATH, include("workspace.urls")),
    path("regulator/", include("workspace.regulator_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # ReDoc starts from one inline script: that page alone may run it.
    path(
        "api/redoc/",
        csp_update({"script-src": [csp_constants.UNSAFE_INLINE]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="api-redoc",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("ledger/", include("ledger.urls")),
    path("transparency/", include("ledger.transparency_urls")),
    path("", include("removal.urls")),
]
