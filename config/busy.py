"""A database that is too busy to answer in time: 503 and "try again", never a 500.

PostgreSQL cancels a statement that ran past `statement_timeout` or waited past `lock_timeout`
(config/settings.py, DATABASE_*_TIMEOUT_MS). The atomic block around the change has rolled back by the
time the exception reaches this middleware, so the answer can say truthfully that nothing was saved.
Pages get a short page in the reader's language, the API a problem-details JSON body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg.errors
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from config.problems import MEDIA_TYPE, problem_body

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30
_TIMED_OUT = (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)


def timed_out(exc: BaseException) -> bool:
    """Whether `exc` is PostgreSQL cancelling a statement for a lock or statement timeout."""
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, _TIMED_OUT)


class DatabaseBusyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not timed_out(exc):
            return None
        # Which timeout, never the statement (it may hold values): the path is enough to find it.
        logger.warning(
            "database timeout (%s) on %s %s", type(exc.__cause__).__name__, request.method, request.path
        )
        message = _("The service is busy and nothing was saved. Please try again in a minute.")
        response: HttpResponse
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            response = JsonResponse(problem_body(503, message), status=503, content_type=MEDIA_TYPE)
        else:
            response = render(request, "busy.html", {"message": message}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
