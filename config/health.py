"""`/healthz` (alive: the process and its database) and `/healthz/ready` (what is down, each of
the database, the cache and the broker) for container health checks and load balancers.

Answered before host validation and the HTTPS redirect: a probe inside the container connects by
IP over plain HTTP. Only a database outage makes either answer 503: without Redis the service still
takes requests (the cache fails open, work waits in PostgreSQL for its sweepers), so the readiness
answer is 200 and says "degraded" with what is down.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection
from redis.exceptions import RedisError

HEALTH_PATH = "/healthz"
READY_PATH = "/healthz/ready"


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH:
            if not _database_up():
                return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
            return JsonResponse({"status": "ok"})
        if request.path == READY_PATH:
            return _readiness()
        return self.get_response(request)


def _database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def _cache_up() -> bool | None:
    """None when the cache is in this process's memory (nothing to be down)."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None
    try:
        RedisCache.get(cache, "healthz-ready")  # the plain read, not the fail-open one
    except RedisError:
        return False
    return True


def _broker_up() -> bool | None:
    """None for the embedded file-system broker; otherwise one quick connection attempt."""
    if not settings.REDIS_URL:
        return None
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except Exception:
        return False
    return True


def _readiness() -> JsonResponse:
    checks = {"database": _database_up(), "cache": _cache_up(), "broker": _broker_up()}
    parts = {name: ("up" if up else "down") for name, up in checks.items() if up is not None}
    down = [name for name, state in parts.items() if state == "down"]
    status = "ready" if not down else ("unavailable" if "database" in down else "degraded")
    return JsonResponse({"status": status, **parts}, status=503 if "database" in down else 200)
