"""Carry the events of the old hash chain (removal.AuditEvent) into the log, nothing lost or renumbered.

The chain is checked first, exactly as `audit_verify` checked it (links, sequence, hashes); a broken
chain stops the migration with the event that is wrong, so no damaged history is ever signed. Each
event keeps its payload bytes (leaf version 1, with "seq") and gets leaf index seq − 1; the tiles
are built here, and the sequencer signs the first checkpoint once it runs with the signing key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from django.db import migrations
from django.utils import timezone

from ledger.tiles import tiles_from_leaves

_GENESIS = "0" * 64
_BATCH = 5000


class BrokenChain(RuntimeError):
    pass


def forwards(apps: Any, schema_editor: Any) -> None:
    Old = apps.get_model("removal", "AuditEvent")
    New = apps.get_model("ledger", "AuditEvent")
    Tile = apps.get_model("ledger", "Tile")
    if New.objects.exists():
        raise BrokenChain("the request log already holds events: refusing to import the old chain into it")
    now = timezone.now()
    prev, expected, leaf_hashes = _GENESIS, 1, []
    batch = []
    for row in Old.objects.order_by("seq").iterator(chunk_size=_BATCH):
        if row.seq != expected:
            raise BrokenChain(f"audit event #{expected} is missing (found #{row.seq}): the old chain is broken")
        if row.prev_hash != prev or hashlib.sha256(f"{prev}\n{row.payload}".encode()).hexdigest() != row.hash:
            raise BrokenChain(f"audit event #{row.seq} does not match its hash chain: the old chain is broken")
        data = json.loads(row.payload)
        if data.get("seq") != row.seq:
            raise BrokenChain(f"audit event #{row.seq} hashes a different sequence number")
        payload = row.payload.encode()
        leaf = hashlib.sha256(b"\x00" + payload).digest()
        leaf_hashes.append(leaf)
        batch.append(
            New(
                event_id=uuid.uuid4(),
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
                actor=data["actor"],
                action=data["action"],
                object_type=data["object"]["type"],
                object_id=data["object"]["id"],
                outcome=data["outcome"],
                payload=row.payload,
                leaf_hash=leaf,
                leaf_index=row.seq - 1,
                sequenced_at=now,
            )
        )
        if len(batch) == _BATCH:
            New.objects.bulk_create(batch)
            batch = []
        prev, expected = row.hash, expected + 1
    New.objects.bulk_create(batch)
    tiles_from_leaves(leaf_hashes, model=Tile)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only"), ("removal", "0010_face_index_deletions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
