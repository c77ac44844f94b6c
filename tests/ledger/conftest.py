"""Writing events and reaching under the log's guards, for the ledger's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from ledger.models import AuditEvent
from ledger.services import event_append


def write_events(
    count: int, *, object_id: str = "req-1", action: str = "request.received"
) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            event_append(
                actor="system",
                action=action,
                object_type="removal_request",
                object_id=f"{object_id}-{i}" if count > 1 else object_id,
                details={"n": i},
            )
            for i in range(count)
        ]


@contextmanager
def triggers_off() -> Iterator[None]:
    """What an attacker with the database owner's rights can do: write past the triggers."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")


def execute(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
