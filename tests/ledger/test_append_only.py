"""On PostgreSQL the log's tables refuse every change but an event's one-time sequencing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, transaction

from ledger.models import AuditEvent, Checkpoint
from ledger.services import ledger_sequence
from tests.ledger.conftest import execute, write_events

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _refused(sql: str, params: list[Any] | None = None) -> None:
    with pytest.raises(DatabaseError, match=r"append-only|never change"), transaction.atomic():
        execute(sql, params)


def test_events_cannot_be_edited_moved_deleted_or_renumbered() -> None:
    write_events(3)
    ledger_sequence()
    first = AuditEvent.objects.order_by("leaf_index").first()
    assert first is not None
    _refused(
        "UPDATE ledger_auditevent SET occurred_at = occurred_at - interval '30 days' WHERE id = %s",
        [first.id],
    )
    _refused("UPDATE ledger_auditevent SET object_type = 'other' WHERE id = %s", [first.id])
    _refused("UPDATE ledger_auditevent SET leaf_index = 7 WHERE id = %s", [first.id])
    _refused("DELETE FROM ledger_auditevent WHERE id = %s", [first.id])
    _refused("UPDATE ledger_checkpoint SET tree_size = 2")
    _refused("DELETE FROM ledger_checkpoint")
    assert AuditEvent.objects.count() == 3 and Checkpoint.objects.count() == 1


def test_a_waiting_event_may_only_receive_its_position() -> None:
    (event,) = write_events(1)
    _refused("UPDATE ledger_auditevent SET actor = 'staff:1' WHERE id = %s", [event.id])
    _refused(
        "UPDATE ledger_auditevent SET leaf_index = 0, actor = 'staff:1', sequenced_at = now() WHERE id = %s",
        [event.id],
    )
    with transaction.atomic():
        execute("UPDATE ledger_auditevent SET leaf_index = 0, sequenced_at = now() WHERE id = %s", [event.id])


def test_truncate_is_refused_unless_the_session_opens_the_door() -> None:
    write_events(2)
    ledger_sequence()
    with transaction.atomic():
        execute("SET LOCAL ledger.allow_truncate = 'off'")
        with (
            pytest.raises(DatabaseError, match=r"TRUNCATE of ledger_auditevent refused"),
            transaction.atomic(),
        ):
            execute("TRUNCATE ledger_auditevent")
        with (
            pytest.raises(DatabaseError, match=r"TRUNCATE of ledger_checkpoint refused"),
            transaction.atomic(),
        ):
            execute("TRUNCATE ledger_checkpoint")
    assert AuditEvent.objects.count() == 2
