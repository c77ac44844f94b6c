"""404 for an address that matches no URL: problem details under /api/ (what an API client reads), the site's
page elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found

from config.problems import MEDIA_TYPE, problem_body


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(problem_body(404, "Not found."), status=404, content_type=MEDIA_TYPE)
    return page_not_found(request, exception)
