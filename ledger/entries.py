"""What a leaf of the log says, byte for byte, and reading it back.

A leaf's input is the canonical JSON (vault.canonical) of one event:

    {"action": …, "actor": …, "details": {…}, "event": "<uuid>", "object": {"id": …, "type": …},
     "occurred_at": "<ISO 8601>", "outcome": …, "v": 2}

Events carried over from the hash chain that preceded the log (migration 0003) keep their exact bytes:
version 1, which has "seq" (the chain's 1-based number, = leaf index + 1) in place of "event" and "v".
Nothing in a leaf names a person: actors are pseudonymous ("staff:7"), objects are ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from vault.canonical import canonical_json

LEAF_VERSION = 2
JsonValue = str | int | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def leaf_payload(
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str,
    details: Mapping[str, JsonValue],
) -> str:
    return canonical_json(
        {
            "v": LEAF_VERSION,
            "event": str(event_id),
            "occurred_at": occurred_at.isoformat(),
            "actor": actor,
            "action": action,
            "object": {"type": object_type, "id": object_id},
            "outcome": outcome,
            "details": dict(details),
        }
    )


class MalformedLeaf(ValueError):
    pass


@dataclass(frozen=True)
class LeafContent:
    version: int
    event_id: uuid.UUID | None  # None for version 1 leaves, which carry a sequence number instead
    seq: int | None
    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    details: dict[str, JsonValue]


def leaf_content(payload: str) -> LeafContent:
    """Parse a leaf; MalformedLeaf when it is not one this log writes."""
    try:
        data = json.loads(payload)
        version = data.get("v", 1)
        obj = data["object"]
        content = LeafContent(
            version=version,
            event_id=uuid.UUID(data["event"]) if version >= 2 else None,
            seq=data["seq"] if version == 1 else None,
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            actor=data["actor"],
            action=data["action"],
            object_type=obj["type"],
            object_id=obj["id"],
            outcome=data["outcome"],
            details=data["details"],
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedLeaf("the leaf is not an event of this log") from exc
    if version not in (1, LEAF_VERSION) or canonical_json(data) != payload:
        raise MalformedLeaf("the leaf is not in the log's canonical form")
    return content
