"""Shared fixtures: personas, service detection and the outbox.

Service-backed tests carry a marker (`postgres`, `redis`, `browser`) and are skipped with a reason
where the service is absent. CI sets REQUIRE_SERVICES=1, which turns those skips into failures so a
missing service can never pass silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.db.backends.signals import connection_created
from django.urls import reverse
from django.utils import translation
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from removal import services
from removal.models import Channel, RemovalRequest
from removal.search import NumpyExactBackend

pytest_plugins = [
    # Face photos, synthetic identity documents and the dlib models (tests/identity, the removal flow).
    "tests.support.identity_fixtures",
    # Tests that start real Celery workers: SMTP inbox, broker key prefix, worker processes.
    "tests.support.workers",
    # A face-index gallery of the subject among others, a verified request with its headshot probe.
    "tests.support.gallery",
    # Chaos tests of the purge: storage shared with workers, the deletion journal, a private Redis.
    "tests.support.chaos",
]


# The longest tests, which mostly wait on other processes, run first: with `make test`'s two processes
# one of them runs these while the other goes through the rest, so the suite takes about as long as
# its work divided by two, not that plus a soak at the end.
_FIRST = ("tests/soak/",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_FIRST))


REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _allow_truncating_the_log(sender: Any, connection: Any, **kwargs: Any) -> None:
    # Between transactional tests Django empties every table with TRUNCATE, which the log's
    # triggers refuse (ledger migration 0002) unless the session opens this door. Only the suite does.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET ledger.allow_truncate = 'on'")


connection_created.connect(_allow_truncating_the_log)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def redis_available() -> str | None:
    url = getattr(settings, "TEST_REDIS_URL", "")
    if not url:
        return "REDIS_URL is not set (set it to a Redis database number reserved for tests)"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis at REDIS_URL is not reachable ({type(exc).__name__})"
    return None


@pytest.fixture(autouse=True)
def _service_markers(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and settings.DATABASES["default"]["ENGINE"] != (
        "django.db.backends.postgresql"
    ):
        _unavailable("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("redis") and (reason := redis_available()):
        _unavailable(reason)
    if request.node.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        _unavailable("needs Debian's chromium package (scripts/install_system_packages.sh installs it)")


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    # A test that switches the language must not leave it switched for the tests after it.
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _forget_face_search_copy() -> None:
    # Each test's database is rolled back, face index counters included: a copy of the index loaded
    # in memory by one test would look current to the next.
    NumpyExactBackend().refresh()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- Personas -------------------------------------------------------------------------------------

SUBJECT_NAME = "Zoë Quintero-Haddad"
SUBJECT_EMAIL = "zoe.quintero@example.org"


@pytest.fixture
def subject_details() -> dict[str, Any]:
    return {
        "name": SUBJECT_NAME,
        "email": SUBJECT_EMAIL,
        "right": "erasure",
        "jurisdictions": ["EU"],
    }


@pytest.fixture
def make_request(db: None, django_capture_on_commit_callbacks: Any) -> Any:
    """Submit a request as the subject would, running the after-commit work (e-mails) too."""

    def make(**overrides: Any) -> services.IntakeResult:
        fields: dict[str, Any] = {
            "name": SUBJECT_NAME,
            "email": SUBJECT_EMAIL,
            "right": "erasure",
            "jurisdictions": ["EU"],
            "channel": Channel.WEB,
            "actor": services.SUBJECT,
            **overrides,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return services.removal_request_create(**fields)

    return make


@pytest.fixture
def removal_request(make_request: Any) -> RemovalRequest:
    return make_request().request


@pytest.fixture
def reviewer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        username="rita.reviewer",
        email="rita@privacy.example",
        password="correct horse battery",
        is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def outsider(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="otto.outsider", password="another long password")


def sign_in(client: Any, user: Any) -> Any:
    """Sign a test client in as `user` with a second factor, as the staff login leaves a session
    (the browser tests go through the real pages)."""
    device = TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def staff_client(client: Any, reviewer: Any) -> Any:
    return sign_in(client, reviewer)


@pytest.fixture
def make_staff(django_user_model: Any) -> Any:
    """A staff account in one of the roles (removal.roles), or in none (role=None)."""

    def make(role: str | None, username: str = "") -> Any:
        user = django_user_model.objects.create_user(
            username=username or (role or "no-role").lower().replace(" ", "-"),
            email=f"{username or 'staff'}@privacy.example",
            password="a long staff password",
            is_staff=True,
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


def open_personal_data(client: Any, request: RemovalRequest, reason: str = "working") -> None:
    """Open a viewing window on the request's personal data, as staff do on its admin page."""
    response = client.post(reverse("admin:removal_personal_data", args=[request.pk]), {"reason": reason})
    assert response.status_code == 302, response


@pytest.fixture
def mail_links(mailoutbox: list[Any]) -> Any:
    """Find the status and confirmation links in what was e-mailed."""
    import re

    def links(kind: str) -> list[str]:
        pattern = {
            "status": r"https?://\S+/status/\?t=[\w-]+",
            "confirm": r"https?://\S+/confirm/\?t=[\w:.-]+(?:&s=[\w-]+)?",
        }[kind]
        return [m for message in mailoutbox for m in re.findall(pattern, message.body)]

    return links


def error_fields(response: Any) -> set[str]:
    """The fields a 400 names, from its problem details (config/problems.py): top-level names only
    ("jurisdictions.0" counts as "jurisdictions"). Fails unless the body is problem details."""
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == response.status_code
    return {name.split(".")[0] for name in body.get("errors", {})}
