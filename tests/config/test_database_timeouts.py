"""No statement waits for ever: a lock held elsewhere makes an intake fail fast with 503, nothing saved,
while the health checks keep answering (issue 12: a transaction holding a lock froze every worker)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from removal.models import IntakeSubmission, RemovalRequest
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BODY = {"name": SUBJECT_NAME, "email": SUBJECT_EMAIL, "right": "erasure", "jurisdictions": ["GB"]}


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return str(cursor.fetchone()[0])


def test_every_connection_carries_the_configured_timeouts() -> None:
    connection.ensure_connection()
    assert settings.DATABASE_TIMEOUTS_MS == {
        "statement_timeout": 20_000,
        "lock_timeout": 5_000,
        "idle_in_transaction_session_timeout": 60_000,
    }
    assert _show("statement_timeout") == "20s"
    assert _show("lock_timeout") == "5s"
    assert _show("idle_in_transaction_session_timeout") == "1min"


@contextmanager
def table_locked_elsewhere() -> Iterator[None]:
    """Another session holds an exclusive lock on the table an intake writes before it answers (its
    submissions), as a stuck transaction would."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    holder = psycopg.connect(**params)
    try:
        holder.execute(f"LOCK TABLE {IntakeSubmission._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        holder.rollback()
        holder.close()


def test_an_intake_that_waits_for_a_lock_answers_503_fast_and_saves_nothing(
    client: Any, mailoutbox: list[Any]
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")  # the setting's 5 s, shortened for the test
    try:
        with table_locked_elsewhere():
            began = time.monotonic()
            response = APIClient().post(reverse("removal:api_intake"), BODY, format="json")
            waited = time.monotonic() - began
            page = client.post(
                reverse("removal:request_form"),
                {"name": SUBJECT_NAME, "email": SUBJECT_EMAIL, "right": "erasure", "jurisdictions": ["GB"]},
            )
            healthy = client.get("/healthz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "The service is busy and nothing was saved. Please try again in a minute."
    )
    assert waited < 5
    assert page.status_code == 503 and "nothing was saved" in page.content.decode()
    assert healthy.status_code == 200
    # Nothing was saved, nothing was sent; once the lock is gone the same intake goes through, once.
    assert RemovalRequest.objects.count() == IntakeSubmission.objects.count() == 0 and mailoutbox == []
    assert APIClient().post(reverse("removal:api_intake"), BODY, format="json").status_code == 202
    assert RemovalRequest.objects.count() == 1
