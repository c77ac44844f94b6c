"""Views used only by the upload tests (mounted with @pytest.mark.urls)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from identity.uploads import install_memory_only_handlers, memory_only_uploads

KIB = 1024
LIMITS: dict[str, Any] = {"max_file_bytes": 1024 * KIB, "max_total_bytes": 1536 * KIB, "max_files": 2}


def describe(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "files": {
                name: {
                    "size": files[0].size,
                    "class": type(files[0]).__name__,
                    "start": files[0].read(4).hex(),
                }
                for name, files in request.FILES.lists()
            },
            "fields": dict(request.POST.items()),
            "handlers": [type(h).__name__ for h in request.upload_handlers],
        }
    )


@memory_only_uploads(**LIMITS)
def upload(request: HttpRequest) -> HttpResponse:
    return describe(request)


@memory_only_uploads(**LIMITS)
@csrf_exempt
def upload_exempt(request: HttpRequest) -> HttpResponse:
    return describe(request)


@csrf_exempt
def installs_without_catching(request: HttpRequest) -> HttpResponse:
    install_memory_only_handlers(request, **LIMITS)
    return describe(request)


@csrf_exempt
def django_defaults(request: HttpRequest) -> HttpResponse:
    return describe(request)


def token(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_token(request))


urlpatterns = [
    path("upload/", upload),
    path("upload-exempt/", upload_exempt),
    path("manual/", installs_without_catching),
    path("defaults/", django_defaults),
    path("token/", token),
]
