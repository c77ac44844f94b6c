"""A regulator signs in with a second factor and downloads its export and the verifier, in a browser."""

from __future__ import annotations

import zipfile
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ledger.models import AuditEvent, Regulator, RegulatorAccount
from tests.browser.conftest import axe_violations, screenshot, staff_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long regulator password"


def test_a_regulator_exports_its_part_of_the_log(
    desktop_page: Page, site: str, django_user_model: Any, make_request: Any, tmp_path: Any
) -> None:
    regulator = Regulator.objects.create(name="Garante", jurisdictions=["EU", "IT"])
    inspector = django_user_model.objects.create_user("ispettore", password=PASSWORD)
    RegulatorAccount.objects.create(user=inspector, regulator=regulator)
    make_request()
    page = desktop_page
    staff_sign_in(page, site, inspector, PASSWORD, next_path="/regulator/")
    expect(page.get_by_role("heading", name="Garante")).to_be_visible()
    expect(page.get_by_text("You read the request log for: EU, IT.", exact=False)).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "regulator-1-home")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the export (zip)").click()
    archive = tmp_path / "export.zip"
    download_info.value.save_as(archive)
    assert "request-log/requests.csv" in zipfile.ZipFile(archive).namelist()
    assert AuditEvent.objects.filter(action="regulator.export").count() == 1
    assert AuditEvent.objects.filter(action="account.logged_in", object_id=str(inspector.pk)).exists()
