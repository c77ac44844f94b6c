"""schemathesis over the whole API schema (every operation, bounded): no server error, and every answer
as the schema says (status code, content type, body, headers), for the public and for signed-in staff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from tests.conftest import sign_in

pytestmark = pytest.mark.django_db
EXAMPLES = 30


def _api_schema() -> Any:
    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.app = get_wsgi_application()
    return loaded


@pytest.fixture(autouse=True)
def _connection_kept_open() -> Iterator[None]:
    """The real WSGI handler closes the database connection around each request; the test's
    transaction lives on it (Django's own test client disconnects the same handlers)."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def staff_session(make_request: Any, make_staff: Any) -> dict[str, Any]:
    """Cookies and headers of a privacy lead signed in with a second factor, with a CSRF pair."""
    make_request()  # something to list and to act on
    client = Client()
    sign_in(client, make_staff("Privacy lead", "fuzz.lead"))
    csrf = get_random_string(32)
    return {
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
        "headers": {"X-CSRFToken": csrf},
    }


schema = _api_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI is reproducible
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_answer_is_what_the_schema_says(case: Any, staff_session: dict[str, Any]) -> None:
    cache.clear()  # the rate limits are documented; here every example starts with a fresh budget
    cookies = case.meta.components.get(ParameterLocation.COOKIE) if case.meta else None
    # A staff call carries the signed-in session, unless this case is about a missing or broken one.
    staff = "/staff/" in case.path and not (cookies and cookies.mode == GenerationMode.NEGATIVE)
    case.call_and_validate(
        cookies=staff_session["cookies"] if staff else None,
        headers=staff_session["headers"] if staff else None,
        environ_base={"REMOTE_ADDR": "192.0.2.10"},  # as a server sets it (the rate limits key on it)
        # Staff calls carry a real session, which outranks the made-up credentials this check sends;
        # that the staff API refuses the public is tests/removal/test_api.py's.
        excluded_checks=[schemathesis.checks.ignored_auth] if staff else None,
    )
