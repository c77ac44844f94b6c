"""Regulators' machine exports: scoped, expiring tokens, their jurisdictions only, every use audited."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from ledger.models import AuditEvent, Regulator, RegulatorToken
from ledger.regulators import regulator_token_issue
from ledger.services import ledger_sequence
from tests.ledger.test_export_bundle import verify

pytestmark = pytest.mark.django_db
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()


@pytest.fixture
def cnil() -> Regulator:
    return Regulator.objects.create(name="CNIL", jurisdictions=["EU"])


@pytest.fixture
def token(cnil: Regulator) -> str:
    return regulator_token_issue(regulator=cnil, days=30, actor="staff:1").token


@pytest.fixture
def seeded(make_request: Any) -> list[Any]:
    made = [
        make_request(email="eu@example.org", jurisdictions=["EU"]).request,
        make_request(email="ca@example.org", jurisdictions=["US-CA"]).request,
    ]
    ledger_sequence()
    return made


def _export(client: Client, token: str | None, **query: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(
        "/ledger/regulator/export", {"since": "2020-01-01", "until": TODAY, **query}, headers=headers
    )


def test_a_regulator_downloads_its_jurisdictions_bundle_and_it_verifies(
    client: Client, token: str, seeded: list[Any], tmp_path: Path, cnil: Regulator
) -> None:
    response = _export(client, token)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"].startswith('attachment; filename="request-log-2020-01-01-')
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        archive.extractall(tmp_path)
    bundle = tmp_path / "request-log"
    result = verify(bundle)
    assert result.returncode == 0, result.stderr
    assert "VALID: 1 request(s)" in result.stdout  # the EU one only
    assert seeded[0].reference in (bundle / "requests.csv").read_text()
    assert seeded[1].reference not in (bundle / "requests.csv").read_text()
    event = AuditEvent.objects.filter(action="regulator.export").get()
    assert event.actor == f"regulator:{cnil.pk}" and '"jurisdictions":["EU"]' in event.payload


def test_jurisdictions_not_granted_are_refused(client: Client, token: str, seeded: list[Any]) -> None:
    response = _export(client, token, jurisdiction="US-CA")
    assert response.status_code == 403 and response.json()["detail"] == "not granted: US-CA"


@pytest.mark.parametrize("case", ["missing", "unknown", "expired", "revoked"])
def test_bad_tokens_are_refused_and_audited(client: Client, token: str, cnil: Regulator, case: str) -> None:
    record = RegulatorToken.objects.get()
    if case == "expired":
        RegulatorToken.objects.filter(pk=record.pk).update(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
    if case == "revoked":
        call_command("regulator_token", "revoke", record.prefix, stdout=StringIO())
    sent = {"missing": None, "unknown": "rlt_not-a-token"}.get(case, token)
    response = _export(client, sent)
    assert response.status_code == (401 if case == "missing" else 403)
    if case != "missing":
        refused = AuditEvent.objects.filter(action="regulator.token_refused").latest("id")
        assert f'"reason":"{case}"' in refused.payload and token not in refused.payload


def test_bad_dates_are_a_clear_error(client: Client, token: str) -> None:
    response = _export(client, token, since="last year")
    assert response.status_code == 400 and "YYYY-MM-DD" in response.json()["detail"]
    response = _export(client, token, since="2026-05-02", until="2026-05-01")
    assert response.status_code == 400


def test_the_command_issues_a_token_shown_once_and_stores_only_its_hash() -> None:
    out = StringIO()
    call_command(
        "regulator_token", "issue", "--regulator", "ICO", "--jurisdiction", "gb", "--days", "7", stdout=out
    )
    token = out.getvalue().strip().splitlines()[-1]
    record = RegulatorToken.objects.get(regulator__name="ICO")
    assert token.startswith("rlt_") and record.token_hash != token and token not in str(record.__dict__)
    assert Regulator.objects.get(name="ICO").jurisdictions == ["GB"]
    assert AuditEvent.objects.filter(action="regulator.token_issued").exists()
