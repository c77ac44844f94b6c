"""The old hash chain's events move into the log: same bytes, same order, nothing lost; a broken
chain is refused rather than signed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ledger import merkle
from ledger.models import AuditEvent, Checkpoint
from ledger.services import ledger_sequence
from ledger.verification import ledger_verify
from vault.canonical import canonical_json

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
OLD_REMOVAL = ("removal", "0010_face_index_deletions")
BEFORE: list[tuple[str, str | None]] = [OLD_REMOVAL, ("ledger", None)]


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


@pytest.fixture
def old_schema() -> Iterator[Any]:
    executor = _executor()
    executor.migrate(BEFORE)
    yield executor.loader.project_state(OLD_REMOVAL).apps
    _executor().migrate(_executor().loader.graph.leaf_nodes())


def _old_chain(apps: Any, count: int) -> list[str]:
    Old = apps.get_model("removal", "AuditEvent")
    prev, payloads = "0" * 64, []
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for seq in range(1, count + 1):
        occurred = start + timedelta(hours=seq)
        payload = canonical_json(
            {
                "seq": seq,
                "occurred_at": occurred.isoformat(),
                "actor": "system",
                "action": "request.received",
                "object": {"type": "removal_request", "id": f"req-{seq}"},
                "outcome": "ok",
                "details": {},
            }
        )
        digest = hashlib.sha256(f"{prev}\n{payload}".encode()).hexdigest()
        Old.objects.create(
            seq=seq,
            occurred_at=occurred,
            actor="system",
            action="request.received",
            object_type="removal_request",
            object_id=f"req-{seq}",
            payload=payload,
            prev_hash=prev,
            hash=digest,
        )
        prev = digest
        payloads.append(payload)
    return payloads


def test_the_chain_moves_into_the_log_unchanged_and_verifies(old_schema: Any) -> None:
    payloads = _old_chain(old_schema, 300)  # more than one tile
    _executor().migrate(_executor().loader.graph.leaf_nodes())
    events = list(AuditEvent.objects.order_by("leaf_index"))
    assert [e.payload for e in events] == payloads
    assert [e.leaf_index for e in events] == list(range(300))
    assert events[41].occurred_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(hours=42)
    assert json.loads(events[41].payload)["seq"] == 42
    assert ledger_sequence().tree_size == 300  # the first checkpoint is signed by the sequencer
    expected_root = merkle.MemoryTree([merkle.leaf_hash(p.encode()) for p in payloads]).root()
    assert bytes(Checkpoint.objects.get().root_hash) == expected_root
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.entries == 300


def test_a_broken_chain_stops_the_migration(old_schema: Any) -> None:
    _old_chain(old_schema, 5)
    old_schema.get_model("removal", "AuditEvent").objects.filter(seq=3).update(actor="staff:1", payload="{}")
    with pytest.raises(RuntimeError, match="audit event #3 does not match its hash chain"):
        _executor().migrate(_executor().loader.graph.leaf_nodes())
    old_schema.get_model("removal", "AuditEvent").objects.all().delete()
