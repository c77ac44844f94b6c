"""Checking the whole stored log: every leaf against its columns, the tree against every checkpoint.

`ledger_verify` reads the events once in leaf order and grows the tree as it goes, so it runs in
bounded memory at any size. It catches an edited column or payload (leaf hash or column mismatch),
a deleted, moved or inserted event (gap, or a root that differs from a signed checkpoint), a cut-off
tail (a checkpoint bigger than the log), forged checkpoints (signatures), and, given checkpoints a
reader saved earlier, a log rewritten wholesale.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger import merkle, verify_bundle
from ledger.checkpoints import log_origin, tree_head_signature_input
from ledger.entries import MalformedLeaf, leaf_content
from ledger.models import AuditEvent, Checkpoint
from ledger.tiles import TileStore, tiles_from_leaves
from vault import signing

_MAX_PROBLEMS = 200  # past this many the report says "and more": one broken table is enough to know


@dataclass
class LogReport:
    entries: int = 0
    checkpoints: int = 0
    waiting: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)
        elif len(self.problems) == _MAX_PROBLEMS:
            self.problems.append("… and more problems (only the first ones are listed)")

    def summary(self) -> str:
        if self.ok:
            return (
                f"Log intact: {self.entries} entries under {self.checkpoints} signed checkpoint(s), "
                f"{self.waiting} waiting to be sequenced"
            )
        return f"Log NOT intact: {len(self.problems)} problem(s)"


def _event_problems(row: AuditEvent) -> list[str]:
    where = f"entry {row.leaf_index}"
    payload = row.payload.encode()
    problems = []
    if merkle.leaf_hash(payload) != bytes(row.leaf_hash):
        problems.append(f"{where}: content does not match its leaf hash (edited)")
    try:
        content = leaf_content(row.payload)
    except MalformedLeaf as exc:
        return [*problems, f"{where}: {exc}"]
    columns = {
        "occurred_at": (row.occurred_at, content.occurred_at),
        "actor": (row.actor, content.actor),
        "action": (row.action, content.action),
        "object_type": (row.object_type, content.object_type),
        "object_id": (row.object_id, content.object_id),
        "outcome": (row.outcome, content.outcome),
    }
    if content.event_id is not None:
        columns["event_id"] = (row.event_id, content.event_id)
    if content.seq is not None:
        columns["position"] = (row.leaf_index, content.seq - 1)
    for name, (stored, hashed) in columns.items():
        if stored != hashed:
            problems.append(f"{where}: column {name} differs from the hashed event")
    return problems


def ledger_verify(*, saved_checkpoints: Iterable[str] = ()) -> LogReport:
    """Check the stored log; `saved_checkpoints` are notes a reader kept from earlier (text)."""
    report = LogReport()
    public_keys = signing.configured_public_keys()
    origin = log_origin()
    checkpoints = list(Checkpoint.objects.order_by("tree_size"))
    report.checkpoints = len(checkpoints)
    expected: dict[int, list[tuple[str, bytes]]] = {}
    for checkpoint in checkpoints:
        expected.setdefault(checkpoint.tree_size, []).append(
            (f"checkpoint {checkpoint.tree_size}", bytes(checkpoint.root_hash))
        )
        _checkpoint_problems(checkpoint, public_keys, origin, report)
    for position, note in enumerate(saved_checkpoints, start=1):
        try:
            saved = verify_bundle.open_checkpoint(note, public_keys, origin=origin)
        except verify_bundle.VerificationError as exc:
            report.add(f"saved checkpoint #{position}: {exc}")
            continue
        expected.setdefault(saved.size, []).append((f"saved checkpoint of size {saved.size}", saved.root))

    tree = merkle.CompactRange()
    for row in (
        AuditEvent.objects.filter(leaf_index__isnull=False).order_by("leaf_index").iterator(chunk_size=5000)
    ):
        if row.leaf_index != tree.size:
            report.add(f"entry {tree.size} is missing (the next stored entry is {row.leaf_index})")
            break
        for problem in _event_problems(row):
            report.add(problem)
        tree.append(merkle.leaf_hash(row.payload.encode()))
        for name, root in expected.pop(tree.size, []):
            if tree.root() != root:
                report.add(f"{name}: the stored entries 0 to {tree.size - 1} do not hash to its root")
    report.entries = tree.size
    for size, names in sorted(expected.items()):
        for name, _ in names:
            report.add(
                f"{name}: the log holds only {tree.size} entries, fewer than the {size} it signed "
                "(entries were removed or the log cut off)"
            )
    report.waiting = AuditEvent.objects.filter(leaf_index__isnull=True).count()
    if tree.size and report.ok:
        try:
            if merkle.root_hash(TileStore(tree.size), tree.size) != tree.root():
                report.add("the stored tiles do not match the entries (run ledger_verify --rebuild-tiles)")
        except (LookupError, ValueError):
            report.add("the stored tiles are incomplete (run ledger_verify --rebuild-tiles)")
    return report


def _checkpoint_problems(
    checkpoint: Checkpoint, public_keys: signing.PublicKeyRing, origin: str, report: LogReport
) -> None:
    name = f"checkpoint {checkpoint.tree_size}"
    try:
        opened = verify_bundle.open_checkpoint(checkpoint.note, public_keys, origin=origin)
    except verify_bundle.VerificationError as exc:
        report.add(f"{name}: {exc}")
        return
    if (opened.size, opened.root, opened.timestamp_ms) != (
        checkpoint.tree_size,
        bytes(checkpoint.root_hash),
        checkpoint.timestamp_ms,
    ):
        report.add(f"{name}: the signed note differs from the stored columns")
    try:
        blob = base64.b64decode(checkpoint.tree_head_signature, validate=True)
        signing.verify(
            tree_head_signature_input(
                checkpoint.tree_size, bytes(checkpoint.root_hash), checkpoint.timestamp_ms
            ),
            key_id=checkpoint.key_id,
            signature=blob[4:],
            public_keys=public_keys,
        )
    except (ValueError, signing.SignatureError) as exc:
        report.add(f"{name}: its RFC 6962 tree head signature does not verify ({exc})")


def tiles_rebuild() -> int:
    """Recompute every tile from the sequenced entries; returns the tree size they now cover."""
    rows = AuditEvent.objects.filter(leaf_index__isnull=False).order_by("leaf_index")
    return tiles_from_leaves(
        bytes(h) for h in rows.values_list("leaf_hash", flat=True).iterator(chunk_size=20000)
    )
