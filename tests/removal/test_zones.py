"""A deadline's time zone reads as a zone, never as a bare offset like Brazil's "-03"."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from removal.templatetags.zones import zone

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("America/Sao_Paulo", "UTC-03:00"),
        ("Asia/Kolkata", "IST"),
        ("Asia/Kathmandu", "UTC+05:45"),
        ("Europe/Paris", "CET"),
        ("America/Los_Angeles", "PST"),
        ("UTC", "UTC"),
    ],
)
def test_a_zone_is_named_or_given_as_its_offset_from_utc(name: str, expected: str) -> None:
    assert zone(datetime(2026, 12, 22, 23, 59, tzinfo=ZoneInfo(name))) == expected


def test_the_status_page_shows_brazils_deadline_with_its_offset(client: Any, make_request: Any) -> None:
    result = make_request(jurisdictions=["BR"])
    page = client.get(f"{reverse('removal:status')}?t={result.status_token}").content.decode()
    assert "(UTC-03:00)" in page and "(-03)" not in page


def test_the_staff_request_page_shows_the_same_zone(client: Any, make_request: Any, make_staff: Any) -> None:
    from removal.roles import REVIEWER
    from tests.conftest import sign_in

    result = make_request(jurisdictions=["BR"])
    sign_in(client, make_staff(REVIEWER, "rita"))
    page = client.get(reverse("workspace:request", args=[result.request.id])).content.decode()
    assert "(UTC-03:00), set by" in page and "(-03)" not in page
