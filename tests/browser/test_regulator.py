"""A regulator, in a browser: saves a checkpoint, signs in with a second factor, exports a period of its
jurisdictions, downloads the verifier, and the verifier (run as the regulator runs it) accepts the bundle
and refuses an altered copy. The screenshots are the ones docs/regulators.md shows."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ledger.models import AuditEvent, Regulator, RegulatorAccount
from ledger.services import ledger_sequence
from tests.browser.conftest import axe_violations, screenshot, staff_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long regulator password"


def _verify(verifier: Path, bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(verifier), str(bundle), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=bundle.parent,  # the regulator's own folder, not the project: the file runs on its own
    )


def test_a_regulator_exports_its_part_of_the_log_and_verifies_it_offline(
    desktop_page: Page, site: str, django_user_model: Any, make_request: Any, tmp_path: Path
) -> None:
    regulator = Regulator.objects.create(name="Garante", jurisdictions=["EU"])
    inspector = django_user_model.objects.create_user("ispettore", password=PASSWORD)
    RegulatorAccount.objects.create(user=inspector, regulator=regulator)
    make_request()
    make_request(email="other@example.org", jurisdictions=["US-CA"])  # not the regulator's to read
    ledger_sequence()
    # Step 1 of the guide: the regulator saves a checkpoint before the period it will ask about ends.
    saved = tmp_path / "saved-checkpoint.txt"
    saved.write_bytes(desktop_page.request.get(f"{site}/ledger/checkpoint").body())
    make_request(email="third@example.org", jurisdictions=["EU", "GB"])
    ledger_sequence()

    page = desktop_page
    staff_sign_in(page, site, inspector, PASSWORD, next_path="/regulator/")
    expect(page.get_by_role("heading", name="Garante")).to_be_visible()
    expect(page.get_by_text("You read the request log for: EU.", exact=False)).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "regulator-1-home")

    today = date.today()
    page.get_by_label("First day").fill(today.replace(month=1, day=1).isoformat())
    page.get_by_label("Last day").fill(today.isoformat())
    page.get_by_label("EU").check()
    screenshot(page, "regulator-2-export")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the export (zip)").click()
    archive = tmp_path / "export.zip"
    download_info.value.save_as(archive)
    with page.expect_download() as verifier_info:
        page.get_by_role("link", name="Download the verifier").click()
    verifier = tmp_path / "verify_bundle.py"
    verifier_info.value.save_as(verifier)

    zipfile.ZipFile(archive).extractall(tmp_path)
    bundle = tmp_path / "request-log"
    keys = f"{site}/ledger/public-keys.json"
    result = _verify(verifier, bundle, "--public-keys", keys, "--checkpoint", str(saved), "--log", site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("VALID: 2 request(s)")
    assert "consistent with your saved checkpoint" in result.stdout
    # The regulator's jurisdictions only: the Californian request is not in the rows.
    rows = (bundle / "requests.csv").read_text().splitlines()
    assert len(rows) == 3 and not any("US-CA" in row for row in rows)

    # One changed byte in a row, and the same verifier says so.
    csv_file = bundle / "requests.csv"
    csv_file.write_text(csv_file.read_text().replace("erasure", "opt_out", 1))
    altered = _verify(verifier, bundle, "--public-keys", keys)
    assert altered.returncode == 1 and "requests.csv" in altered.stderr

    assert AuditEvent.objects.filter(action="regulator.export").count() == 1
    assert AuditEvent.objects.filter(action="account.logged_in", object_id=str(inspector.pk)).exists()
