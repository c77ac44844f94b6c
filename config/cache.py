"""The Redis cache, open when Redis is not: losing Redis delays work and loses none, and the public
can still file a request (issue 12).

Everything this service keeps in the cache can be lost: rate-limit counters, cached public pages. So
while Redis cannot be reached a read finds nothing, a write is dropped, and a counter cannot be
counted (django-ratelimit then lets the request through: RATELIMIT_FAIL_OPEN). Each failure is logged
by its kind only, and `/healthz/ready` says the cache is down.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _down(operation: str, exc: Exception) -> None:
    logger.warning("cache unreachable (%s): %s", operation, type(exc).__name__)


class FailOpenRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            _down("get", exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except RedisError as exc:
            _down("get_many", exc)
            return {}

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            _down("set", exc)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return bool(super().add(key, value, timeout, version))
        except RedisError as exc:
            _down("add", exc)
            return False

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return int(super().incr(key, delta, version))
        except RedisError as exc:
            _down("incr", exc)
            raise ValueError("cache unreachable") from exc  # what counters treat as "not counted"

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return bool(super().delete(key, version))
        except RedisError as exc:
            _down("delete", exc)
            return False

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return bool(super().touch(key, timeout, version))
        except RedisError as exc:
            _down("touch", exc)
            return False
