"""Every page carries a Content-Security-Policy without inline scripts, and a Permissions-Policy
(issue 12, Found: no CSP or Permissions-Policy on any page; the Referrer-Policy the docs promise)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/", "/staff/login/", "/receipts/verify/", "/api/docs/", "/transparency/2025/", "/ledger/checkpoint"],
)
def test_pages_send_a_policy_without_inline_scripts_and_a_permissions_policy(client: Any, url: str) -> None:
    response = client.get(url)
    assert response.status_code in (200, 404), url
    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert (
        "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    )
    assert response["Referrer-Policy"] == "strict-origin"


def test_the_staff_pages_send_the_policy_too(staff_client: Any, removal_request: Any) -> None:
    for url in (reverse("workspace:queue"), reverse("workspace:request", args=[removal_request.id])):
        assert "script-src 'self'" in staff_client.get(url)["Content-Security-Policy"]


def test_no_template_of_ours_has_an_inline_script() -> None:
    """An inline <script> would be refused by the policy: every script is a file of its own."""
    roots = [
        Path(settings.BASE_DIR) / name for name in ("templates", "removal", "workspace", "ledger", "identity")
    ]
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
    found = [
        str(path.relative_to(settings.BASE_DIR))
        for root in roots
        for path in root.rglob("*.html")
        if inline.search(path.read_text())
    ]
    assert found == []


def test_the_public_schema_does_not_list_the_staff_endpoints(staff_client: Any) -> None:
    """Finding: /api/schema/ was public and listed the staff endpoints."""
    public = Client().get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "/api/v1/requests/" in public and not [path for path in public if "/staff/" in path]
    staff = staff_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "/api/v1/staff/requests/" in staff
