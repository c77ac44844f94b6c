"""Regulator accounts: the shared sign-in with a second factor, their own pages only, exports for
their jurisdictions only, each export and sign-in in the log."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.models import AuditEvent, Regulator, RegulatorAccount
from removal.roles import PRIVACY_LEAD
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def cnil_user(django_user_model: Any) -> Any:
    regulator = Regulator.objects.create(name="CNIL", jurisdictions=["EU"])
    user = django_user_model.objects.create_user("inspector", password="a long regulator password")
    RegulatorAccount.objects.create(user=user, regulator=regulator)
    return user


def test_a_regulator_signs_in_and_lands_on_its_own_page(client: Client, cnil_user: Any) -> None:
    response = client.post(
        reverse("workspace:login"), {"username": "inspector", "password": "a long regulator password"}
    )
    assert response["Location"].startswith(reverse("workspace:enrol"))  # a second factor first
    sign_in(client, cnil_user)
    assert client.get(reverse("workspace:home"))["Location"] == reverse("regulator:home")
    page = client.get(reverse("regulator:home")).content.decode()
    assert "CNIL" in page and "You read the request log for: EU" in page
    # Its own sign-in is its own to look after, as for staff.
    assert client.get(reverse("workspace:account")).status_code == 200


def test_a_regulator_never_reaches_a_staff_page_nor_staff_the_regulator_pages(
    client: Client, cnil_user: Any, make_staff: Any, removal_request: Any
) -> None:
    sign_in(client, cnil_user)
    for url in (
        reverse("workspace:queue"),
        reverse("workspace:request", args=[removal_request.id]),
        reverse("removal:api_staff_requests"),
    ):
        assert client.get(url).status_code in (302, 403), url
        assert "zoe.quintero" not in client.get(url, follow=True).content.decode()
    assert client.get(reverse("admin:index"), follow=True).status_code == 403
    staff = sign_in(Client(), make_staff(PRIVACY_LEAD, "lead"))
    assert staff.get(reverse("regulator:home")).status_code == 403
    assert Client().get(reverse("regulator:home"))["Location"].startswith(reverse("workspace:login"))


def test_a_regulator_exports_its_jurisdictions_and_the_export_is_recorded(
    client: Client, cnil_user: Any, make_request: Any
) -> None:
    make_request()
    sign_in(client, cnil_user)
    today = timezone.localdate().isoformat()
    refused = client.post(
        reverse("regulator:export"), {"since": today, "until": today, "jurisdictions": ["GB"]}
    )
    assert refused.status_code == 400  # GB is not one of its choices
    response = client.post(reverse("regulator:export"), {"since": today, "until": today})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    names = zipfile.ZipFile(io.BytesIO(response.getvalue())).namelist()
    assert "request-log/manifest.json" in names
    event = AuditEvent.objects.get(action="regulator.export")
    assert f'"account":"{cnil_user.pk}"' in event.payload and '"jurisdictions":["EU"]' in event.payload
    verifier = client.get(reverse("regulator:verifier"))
    assert b"def main" in verifier.getvalue()
