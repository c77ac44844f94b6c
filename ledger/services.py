"""Writing to the log: append an event (in the caller's transaction), sequence, push to witnesses.

Appending takes no lock: an event is a row with no position yet. The sequencer (`ledger_sequence`,
run in a loop by `manage.py ledger_sequencer`) takes the waiting events in batches, gives them
consecutive leaf indexes in commit order of their ids, extends the tree's tiles and signs a checkpoint:
the separation of queueing from sequencing that transparency logs such as Trillian use.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from ledger import merkle
from ledger.checkpoints import tree_head_sign, tree_head_signature
from ledger.entries import JsonValue, leaf_payload
from ledger.models import AuditEvent, Checkpoint, WitnessPush
from ledger.tiles import TileStore, tiles_append

logger = logging.getLogger(__name__)

# Any constant: one sequencer at a time, across processes and hosts (PostgreSQL advisory lock).
_SEQUENCER_LOCK_ID = 0x4C45444745  # "LEDGE"


def event_append(
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    outcome: str = "ok",
    details: Mapping[str, JsonValue] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Record one event. Must run inside the transaction that made the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written in the transaction of the change they record")
    # Every column is also in the hashed leaf: one set of values for both.
    columns: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "occurred_at": occurred_at or timezone.now(),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "outcome": outcome,
    }
    payload = leaf_payload(**columns, details=details or {})
    return AuditEvent.objects.create(**columns, payload=payload, leaf_hash=merkle.leaf_hash(payload.encode()))


def sequenced_size() -> int:
    last = AuditEvent.objects.aggregate(last=Max("leaf_index"))["last"]
    return 0 if last is None else last + 1


def signed_size() -> int:
    last = Checkpoint.objects.aggregate(last=Max("tree_size"))["last"]
    return last or 0


@dataclass(frozen=True)
class SequenceResult:
    sequenced: int
    tree_size: int
    checkpoint: Checkpoint | None


def _sequencer_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: the write transaction already serialises writers
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEQUENCER_LOCK_ID])
        return bool(cursor.fetchone()[0])


def ledger_sequence(*, max_batch: int | None = None) -> SequenceResult:
    """Give waiting events their positions, extend the tree and sign its new head; one transaction.

    Returns quietly (sequenced 0) when another sequencer holds the lock. A checkpoint is signed whenever
    the sequenced tree is bigger than the latest signed one (after an import, too).
    """
    batch = max_batch or settings.LEDGER_SEQUENCE_BATCH
    with transaction.atomic():
        if not _sequencer_lock():
            return SequenceResult(0, signed_size(), None)
        start = sequenced_size()
        waiting = list(
            AuditEvent.objects.filter(leaf_index__isnull=True)
            .order_by("id")
            .values_list("id", "leaf_hash")[:batch]
        )
        now = timezone.now()
        if waiting:
            ids = [row_id for row_id, _ in waiting]
            _assign_positions(ids, start, now)
            tiles_append(start, [bytes(value) for _, value in waiting])
        size = start + len(waiting)
        if size == 0 or size <= signed_size():
            return SequenceResult(len(waiting), size, None)
        root = merkle.root_hash(TileStore(size), size)
        timestamp_ms = int(now.timestamp() * 1000)
        head = tree_head_sign(size, root, timestamp_ms)
        _, tree_head_sig = tree_head_signature(size, root, timestamp_ms)
        checkpoint = Checkpoint.objects.create(
            tree_size=size,
            root_hash=root,
            timestamp_ms=timestamp_ms,
            key_id=head.key_id,
            note=head.note,
            tree_head_signature=tree_head_sig,
        )
    return SequenceResult(len(waiting), size, checkpoint)


def _assign_positions(ids: list[int], start: int, now: datetime) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ledger_auditevent AS e SET leaf_index = p.position, sequenced_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS p(id, position) "
                "WHERE e.id = p.id AND e.leaf_index IS NULL",
                [now, ids, list(range(start, start + len(ids)))],
            )
            if cursor.rowcount != len(ids):
                raise RuntimeError("events changed while they were being sequenced")
        return
    for offset, row_id in enumerate(ids):
        AuditEvent.objects.filter(id=row_id, leaf_index__isnull=True).update(
            leaf_index=start + offset, sequenced_at=now
        )


def ledger_sequencer_run(
    *, interval: float | None = None, stop: threading.Event | None = None, max_rounds: int | None = None
) -> None:
    """Sequence every `interval` seconds until `stop` is set: the loop of `manage.py ledger_sequencer`.

    A failed round is logged and retried on the next one; the delay from an event's commit to its
    signed checkpoint is at most about one interval (LEDGER_SEQUENCE_INTERVAL_SECONDS).
    """
    pause = settings.LEDGER_SEQUENCE_INTERVAL_SECONDS if interval is None else interval
    stop = stop or threading.Event()
    rounds = 0
    while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
        rounds += 1
        started = time.monotonic()
        try:
            result = ledger_sequence()
            while result.sequenced == settings.LEDGER_SEQUENCE_BATCH and not stop.is_set():
                result = ledger_sequence()  # a backlog: keep going without waiting
        except Exception:
            logger.exception("ledger: sequencing round failed; retrying")
        finally:
            connection.close_if_unusable_or_obsolete()
        stop.wait(max(0.0, pause - (time.monotonic() - started)))


# --- Witnesses ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Witness:
    name: str
    url: str
    secret: str


def configured_witnesses() -> list[Witness]:
    """LEDGER_WITNESSES: a JSON list of {"name", "url", "secret"} (checked by ledger.checks)."""
    return [Witness(str(w["name"]), str(w["url"]), str(w["secret"])) for w in settings.LEDGER_WITNESSES]


def witness_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def witnesses_push() -> dict[str, str]:
    """POST the latest checkpoint note to every witness that has not accepted it; name → outcome."""
    latest = Checkpoint.objects.order_by("-tree_size").first()
    outcomes: dict[str, str] = {}
    if latest is None:
        return outcomes
    for witness in configured_witnesses():
        state, _ = WitnessPush.objects.get_or_create(witness=witness.name)
        if state.tree_size >= latest.tree_size:
            outcomes[witness.name] = "up to date"
            continue
        body = latest.note.encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Removal-Timestamp": stamp,
            "X-Removal-Signature": witness_signature(witness.secret, stamp, body),
        }
        try:
            response = requests.post(
                witness.url, data=body, headers=headers, timeout=settings.LEDGER_WITNESS_TIMEOUT_SECONDS
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            reason = type(exc).__name__
            if isinstance(exc, requests.HTTPError) and exc.response is not None:
                reason = f"HTTP {exc.response.status_code}"
            WitnessPush.objects.filter(pk=state.pk).update(last_error=reason[:200])
            logger.warning(
                "ledger: witness %s refused checkpoint %s: %s", witness.name, latest.tree_size, reason
            )
            outcomes[witness.name] = f"failed: {reason}"
            continue
        WitnessPush.objects.filter(pk=state.pk).update(
            tree_size=latest.tree_size, pushed_at=timezone.now(), last_error=""
        )
        outcomes[witness.name] = f"pushed size {latest.tree_size}"
    return outcomes
