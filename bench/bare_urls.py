"""The service's URLs plus `POST /bench/bare/`: parse the JSON body and insert one row, nothing else.

bench/intake.py serves it with the same gunicorn, middleware and PostgreSQL as the intake and prints
the intake's throughput as a ratio to it: what the service does per submission, against the floor of
any Django view that writes.
"""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as service_urlpatterns

_CREATE = "CREATE TABLE IF NOT EXISTS bench_bare_rows (id bigserial PRIMARY KEY, email text, at timestamptz)"


@csrf_exempt
@require_POST
def bare_insert(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare_rows (email, at) VALUES (%s, now())", [body["email"]])
    return JsonResponse({"status": "received"}, status=202)


def create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(_CREATE)


urlpatterns = [path("bench/bare/", bare_insert), *service_urlpatterns]
