"""The audit trail: an append-only, SHA-256-linked chain of events without raw personal data.

Event *n* stores `hash = SHA-256(prev_hash + "\\n" + payload)` where `payload` is canonical JSON
(keys sorted, no spaces, UTF-8) that includes its own sequence number. Editing a payload breaks its
hash; deleting or reordering events breaks the sequence and the links. Cutting off the newest events
is caught only against a signed checkpoint of the head (see docs/audit.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from removal.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any constant; all appenders take the same PostgreSQL advisory lock so sequence numbers stay gapless.
_CHAIN_LOCK_ID = 0x52454D4F56414C  # "REMOVAL"

JsonValue = str | int | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_hash(prev_hash: str, payload: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    seq: int
    payload: str
    prev_hash: str
    hash: str


@dataclass
class ChainReport:
    checked: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    links: Iterable[ChainLink], *, start_hash: str = GENESIS_HASH, start_seq: int = 1
) -> ChainReport:
    """Check links in `seq` order. Pure: the regulator's verifier applies the same rules offline."""
    report = ChainReport(head_hash=start_hash)
    expected_seq = start_seq
    for link in links:
        report.checked += 1
        if link.seq != expected_seq:
            report.problems.append(
                f"event #{link.seq}: expected #{expected_seq} (an event is missing or moved)"
            )
        if link.prev_hash != report.head_hash:
            report.problems.append(f"event #{link.seq}: does not link to the event before it")
        if event_hash(link.prev_hash, link.payload) != link.hash:
            report.problems.append(f"event #{link.seq}: content does not match its hash (edited)")
        try:
            payload_seq = json.loads(link.payload).get("seq")
        except (ValueError, AttributeError):
            payload_seq = None
        if payload_seq != link.seq:
            report.problems.append(f"event #{link.seq}: sequence number differs from the hashed one")
        report.head_hash = link.hash
        expected_seq = link.seq + 1
    return report


def audit_event_append(
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    outcome: str = "ok",
    details: Mapping[str, JsonValue] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction that made the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written in the transaction of the change they record")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
    # On SQLite the IMMEDIATE transaction mode already serialises writers.
    last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    seq = last["seq"] + 1 if last else 1
    prev_hash = last["hash"] if last else GENESIS_HASH
    occurred_at = occurred_at or timezone.now()
    payload = canonical_json(
        {
            "seq": seq,
            "occurred_at": occurred_at.isoformat(),
            "actor": actor,
            "action": action,
            "object": {"type": object_type, "id": str(object_id)},
            "outcome": outcome,
            "details": dict(details or {}),
        }
    )
    return AuditEvent.objects.create(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        payload=payload,
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, payload),
    )


def audit_chain_verify() -> ChainReport:
    """Verify the whole stored chain, and that the query columns agree with the hashed payloads."""
    rows = AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)
    mismatched: list[str] = []

    def links() -> Iterable[ChainLink]:
        for row in rows:
            data = json.loads(row.payload)
            if (data.get("actor"), data.get("action"), data.get("object", {}).get("id")) != (
                row.actor,
                row.action,
                row.object_id,
            ):
                mismatched.append(f"event #{row.seq}: columns differ from the hashed payload")
            yield ChainLink(seq=row.seq, payload=row.payload, prev_hash=row.prev_hash, hash=row.hash)

    report = verify_chain(links())
    report.problems.extend(mismatched)
    return report
