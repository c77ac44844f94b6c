"""Reading the log: checkpoints, entries, proofs, an object's events. Only sequenced events are cited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ledger import merkle
from ledger.entries import LeafContent, leaf_content
from ledger.models import AuditEvent, Checkpoint, Regulator, RegulatorAccount
from ledger.tiles import TileStore


class NotInLog(LookupError):
    """The asked-for size, entry or hash is not (yet) in the signed log."""


def checkpoint_latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


def checkpoint_for_size(size: int) -> Checkpoint:
    checkpoint = Checkpoint.objects.filter(tree_size=size).first()
    if checkpoint is None:
        raise NotInLog(f"no signed checkpoint of tree size {size}")
    return checkpoint


def current_size() -> int:
    """The size of the latest signed tree: what the public may be told exists."""
    latest = checkpoint_latest()
    return latest.tree_size if latest else 0


def _check_size(size: int) -> None:
    if not 0 < size <= current_size():
        raise NotInLog(f"tree size {size} is not a signed size of this log (latest {current_size()})")


def entries(start: int, end: int) -> list[AuditEvent]:
    """Sequenced events with leaf indexes start…end inclusive (RFC 6962 get-entries)."""
    return list(AuditEvent.objects.filter(leaf_index__gte=start, leaf_index__lte=end).order_by("leaf_index"))


def entries_iter(start: int = 0, end: int | None = None, *, chunk: int = 5000) -> Iterator[AuditEvent]:
    """Every sequenced event in leaf order, read in chunks (bounded memory)."""
    position = start
    while end is None or position < end:
        stop = position + chunk if end is None else min(position + chunk, end)
        rows = list(
            AuditEvent.objects.filter(leaf_index__gte=position, leaf_index__lt=stop).order_by("leaf_index")
        )
        if not rows:
            return
        yield from rows
        position = stop


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]


def inclusion_proofs(leaf_indexes: Sequence[int], tree_size: int) -> list[InclusionProof]:
    """Proofs for many leaves of one signed tree, reading each tile once."""
    _check_size(tree_size)
    store = TileStore(tree_size)
    proofs = []
    for index in leaf_indexes:
        if not 0 <= index < tree_size:
            raise NotInLog(f"leaf {index} is not in the tree of size {tree_size}")
        level0 = store.node(0, index)
        proofs.append(
            InclusionProof(index, tree_size, level0, merkle.inclusion_proof(store, index, tree_size))
        )
    return proofs


def inclusion_by_hash(leaf_hash: bytes, tree_size: int) -> InclusionProof:
    _check_size(tree_size)
    index = (
        AuditEvent.objects.filter(leaf_hash=leaf_hash, leaf_index__lt=tree_size)
        .values_list("leaf_index", flat=True)
        .first()
    )
    if index is None:
        raise NotInLog(f"no entry with this leaf hash in the tree of size {tree_size}")
    return inclusion_proofs([index], tree_size)[0]


def event_inclusion(event: AuditEvent) -> InclusionProof | None:
    """The event's proof in the latest signed tree; None while it waits for the sequencer."""
    size = current_size()
    if event.leaf_index is None or event.leaf_index >= size:
        return None
    return inclusion_proofs([event.leaf_index], size)[0]


def consistency(first: int, second: int) -> list[bytes]:
    """RFC 6962 consistency proof between two signed sizes."""
    if not 0 < first <= second:
        raise NotInLog(f"no consistency proof from size {first} to size {second}")
    _check_size(second)
    return merkle.consistency_proof(TileStore(second), first, second)


def events_for_object(object_type: str, object_id: object) -> list[tuple[AuditEvent, LeafContent]]:
    """An object's events in the order they happened, each with its hashed content."""
    rows = AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("id")
    return [(row, leaf_content(row.payload)) for row in rows]


def leaf_index_of(entry: str) -> int:
    """A leaf index given as a number or as an event's UUID; NotInLog when it has no position yet."""
    if entry.isdigit():
        return int(entry)
    try:
        event_id = uuid.UUID(entry)
    except ValueError as exc:
        raise NotInLog(f"{entry!r} is neither a leaf index nor an event id") from exc
    index = AuditEvent.objects.filter(event_id=event_id).values_list("leaf_index", flat=True).first()
    if index is None:
        raise NotInLog(f"event {entry} is not in the log yet")
    return index


def regulator_of(user: object) -> Regulator | None:
    """The regulator a signed-in account belongs to, if it is a regulator account."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return None
    account = RegulatorAccount.objects.select_related("regulator").filter(user_id=pk).first()
    return account.regulator if account else None
