"""With Redis unreachable the public still files requests, and /healthz/ready says what is down
(issue 12, Found: losing Redis stopped intake with a 500 while /healthz stayed green)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from removal.models import RemovalRequest
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once the probe closes


@pytest.fixture
def redis_down(settings: Any) -> str:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    return url


def test_the_form_and_the_api_take_requests_while_the_cache_is_down(
    client: Any, redis_down: str, django_capture_on_commit_callbacks: Any
) -> None:
    form = {"name": SUBJECT_NAME, "email": SUBJECT_EMAIL, "right": "erasure", "jurisdictions": ["EU"]}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("removal:request_form"), form)
    assert response.status_code in (200, 302)
    body = {"name": "Ana Lima", "email": "ana@example.org", "right": "erasure", "jurisdictions": ["GB"]}
    with django_capture_on_commit_callbacks(execute=True):
        answer = APIClient().post(reverse("removal:api_intake"), body, format="json")
    assert answer.status_code == 202
    assert RemovalRequest.objects.count() == 2


def test_readiness_says_the_cache_and_the_broker_are_down_and_stays_serving(
    client: Any, redis_down: str, settings: Any
) -> None:
    settings.REDIS_URL = redis_down
    settings.CELERY_BROKER_URL = redis_down
    answer = client.get("/healthz/ready", HTTP_HOST="10.0.0.5")
    assert answer.status_code == 200
    assert answer.json() == {"status": "degraded", "database": "up", "cache": "down", "broker": "down"}
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readiness_when_everything_is_up(client: Any) -> None:
    answer = client.get("/healthz/ready", HTTP_HOST="10.0.0.5").json()
    assert answer["status"] == "ready" and answer["database"] == "up"
