"""The API's rate limits, counted per client as `config.client_ip` names it (the same rule as the pages')."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from config.client_ip import client_key


class IntakeRateThrottle(SimpleRateThrottle):
    """`API_INTAKE_RATE` submissions per client. DRF's own throttles key on whatever
    `X-Forwarded-For` the client sends, so a made-up address per post would reset the count."""

    scope = "intake"

    def get_rate(self) -> str:
        return str(settings.API_INTAKE_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_key(request)}
