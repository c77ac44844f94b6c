"""Every workspace door by every role (and anonymous, and a password-only session): allowed or
refused as docs/staff-roles.md says. "ok" is the page or the redirect after the change; a refused
change changes nothing (the services refuse it too: tests/removal/test_permissions.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from removal.models import RemovalRequest
from removal.roles import ADMINISTRATOR, AUDITOR, PRIVACY_LEAD, REVIEWER
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

ROLES = [REVIEWER, PRIVACY_LEAD, AUDITOR, ADMINISTRATOR, "no role"]
STAFF = set(ROLES)
SEE = {REVIEWER, PRIVACY_LEAD, AUDITOR, ADMINISTRATOR}
WORK_OWN = {REVIEWER, PRIVACY_LEAD}
LEAD = {PRIVACY_LEAD}


@dataclass(frozen=True)
class Door:
    name: str
    method: str
    url: str  # with {own} (assigned to the reviewer), {free} (unassigned) or {other} (a colleague's)
    allowed: set[str]
    data: dict[str, str] | None = None


DOORS = [
    Door("home", "get", "/staff/", STAFF),
    Door("account", "get", "/staff/account/", STAFF),
    Door("queue", "get", "/staff/queue/?view=open", SEE),
    Door("dashboard", "get", "/staff/dashboard/", SEE),
    Door("dashboard chart", "get", "/staff/dashboard/per-week.svg", SEE),
    Door("bulk action", "post", "/staff/queue/bulk/", SEE, {"bulk-action": "assign", "selected": "{free}"}),
    Door("candidate review", "get", "/staff/requests/{own}/review/", SEE),
    Door("save a view", "post", "/staff/queue/saved/", SEE, {"name": "mine", "query": "view=mine"}),
    Door("request page", "get", "/staff/requests/{own}/", SEE),
    Door("log a request", "get", "/staff/requests/new/", WORK_OWN),
    Door(
        "open personal data (own)",
        "post",
        "/staff/requests/{own}/personal-data/",
        {REVIEWER, PRIVACY_LEAD, AUDITOR},
        {"reason": "working"},
    ),
    Door(
        "open personal data (other's)",
        "post",
        "/staff/requests/{other}/personal-data/",
        {PRIVACY_LEAD, AUDITOR},
        {"reason": "working"},
    ),
    Door("take a free request", "post", "/staff/requests/{free}/assign/", WORK_OWN, {"assignee": "me"}),
    Door("start verification (own)", "get", "/staff/requests/{own}/do/start_verification/", WORK_OWN),
    Door("start verification (other's)", "get", "/staff/requests/{other}/do/start_verification/", LEAD),
    Door("ask the subject (own)", "get", "/staff/requests/{own}/do/ask_subject/", WORK_OWN),
    Door("deny", "get", "/staff/requests/{own}/do/deny/", LEAD),
    Door("withdraw for the subject", "get", "/staff/requests/{own}/do/withdraw/", LEAD),
    Door("extend", "get", "/staff/requests/{own}/do/extend/", LEAD),
    Door("erase personal data", "get", "/staff/requests/{own}/do/shred_personal_data/", LEAD),
    Door("admin: request list", "get", "/staff-admin/removal/removalrequest/", SEE),
    Door("admin: users", "get", "/staff-admin/auth/user/", {ADMINISTRATOR}),
    Door(
        "admin: downstream recipients",
        "get",
        "/staff-admin/removal/downstreamrecipient/",
        {PRIVACY_LEAD, AUDITOR, ADMINISTRATOR},
    ),
    Door("admin: audit events", "get", "/staff-admin/ledger/auditevent/", {PRIVACY_LEAD, AUDITOR}),
]


@pytest.fixture
def world(make_staff: Any, make_request: Any) -> dict[str, Any]:
    users = {role: make_staff(None if role == "no role" else role) for role in ROLES}
    colleague = make_staff(REVIEWER, "colleague")
    own = make_request(email="own@example.org").request
    other = make_request(email="other@example.org").request
    free = make_request(email="free@example.org").request
    RemovalRequest.objects.filter(id=own.id).update(assignee=users[REVIEWER])
    RemovalRequest.objects.filter(id=other.id).update(assignee=colleague)
    return {"users": users, "ids": {"own": own.id, "other": other.id, "free": free.id}}


def _answer(client: Client, door: Door, ids: dict[str, Any]) -> Any:
    url = door.url.format(**ids)
    data = {name: value.format(**ids) for name, value in (door.data or {}).items()}
    return client.post(url, data) if door.method == "post" else client.get(url)


def _ok(response: Any) -> bool:
    return response.status_code == 200 or (
        response.status_code == 302 and "/login/" not in response["Location"]
    )


@pytest.mark.parametrize("door", DOORS, ids=[door.name for door in DOORS])
def test_each_role_is_allowed_exactly_what_the_table_says(door: Door, world: dict[str, Any]) -> None:
    for role, user in world["users"].items():
        response = _answer(sign_in(Client(), user), door, world["ids"])
        expected = role in door.allowed
        assert _ok(response) is expected, (role, response.status_code, response.get("Location"))
        if not expected:
            assert response.status_code == 403, (role, response.status_code)


@pytest.mark.parametrize("door", DOORS, ids=[door.name for door in DOORS])
def test_anonymous_and_password_only_sessions_are_sent_to_sign_in(door: Door, world: dict[str, Any]) -> None:
    anonymous = _answer(Client(), door, world["ids"])
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    password_only = Client()
    password_only.force_login(world["users"][PRIVACY_LEAD])
    response = _answer(password_only, door, world["ids"])
    assert response.status_code == 302 and "/login/" in response["Location"], response
