"""The request log a regulator asks for: one row per request of a period, backed by signed leaves.

`request_log_export` writes a bundle directory that ledger/verify_bundle.py checks offline:

    requests.csv      one row per request (RFC 4180, header first), the fields of verify_bundle.ROW_FIELDS
    requests.jsonl    the same rows as JSON Lines
    index.jsonl       per row: its number, reference and the leaf indexes of the events behind it
    entries.jsonl     every such event: {"leaf_index", "leaf_input"} (base64 of the exact bytes hashed)
    proofs.jsonl      per event: {"leaf_index", "audit_path"}: its inclusion in the checkpoint's tree
    consistency.json  {earlier size: consistency proof to the checkpoint}, for sizes asked for
    checkpoint.txt    the signed checkpoint the bundle was cut at (C2SP signed note)
    public-keys.json  the service's public keys
    manifest.json     what the bundle is: period, jurisdictions, checkpoint, every file's SHA-256
    manifest.sig      {"key_id", "signature"}: Ed25519 over manifest.json's bytes

Rows come from the events alone (request.received, transitions, extensions), never from removal's
tables, and only from sequenced events inside the checkpoint: no name, e-mail, address or photo can be
in a bundle because none is in the log. Requests are read in chunks, so memory stays flat for a year
of a million requests.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from ledger import merkle, verify_bundle
from ledger.checkpoints import log_origin
from ledger.models import AuditEvent, Checkpoint
from ledger.tiles import TileStore
from vault import signing
from vault.canonical import canonical_json

BUNDLE_FORMAT = "removal-request-log/1"
_CHUNK = 1000


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    rows: int
    entries: int
    tree_size: int


class _HashedFile:
    """A file written once, whose SHA-256 is known when it is closed."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._hash = hashlib.sha256()

    def write(self, text: str) -> int:
        self._hash.update(text.encode())
        return self._file.write(text)

    def close(self) -> str:
        self._file.close()
        return self._hash.hexdigest()


def _csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def csv_value(field: str, value: object) -> str:
    return (
        " ".join(str(i) for i in value) if field == "leaf_indexes" and isinstance(value, list) else str(value)
    )


def _received_events(since: datetime, size: int) -> Iterator[list[AuditEvent]]:
    """request.received events logged since `since` (a request is logged when or after it arrives),
    in leaf order, in chunks."""
    position = -1
    while True:
        chunk = list(
            AuditEvent.objects.filter(
                action="request.received",
                object_type="removal_request",
                occurred_at__gte=since,
                leaf_index__gt=position,
                leaf_index__lt=size,
            ).order_by("leaf_index")[:_CHUNK]
        )
        if not chunk:
            return
        yield chunk
        position = chunk[-1].leaf_index or 0


def export_period(first_day: str, last_day: str) -> tuple[datetime, datetime]:
    """From the start of `first_day` to the end of `last_day` (YYYY-MM-DD, UTC, both included)."""
    days = []
    for text in (first_day, last_day):
        try:
            days.append(datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC))
        except ValueError as exc:
            raise ExportError(f"{text!r} is not a date (YYYY-MM-DD)") from exc
    since, until = days[0], days[1] + timedelta(days=1)
    if since >= until:
        raise ExportError("the period is empty: the first day is after the last")
    return since, until


def request_rows(
    *, since: datetime, until: datetime, jurisdictions: set[str], size: int
) -> Iterator[tuple[dict[str, object], list[AuditEvent]]]:
    """Each request received in [since, until) for any of `jurisdictions` (all if empty), as its
    request-log row and the events it is computed from, in the order the requests reached the log."""
    for chunk in _received_events(since, size):
        by_request: dict[str, list[AuditEvent]] = defaultdict(list)
        related = AuditEvent.objects.filter(
            object_type="removal_request",
            object_id__in=[event.object_id for event in chunk],
            leaf_index__lt=size,
        )
        for event in related.order_by("leaf_index"):
            by_request[event.object_id].append(event)
        for received in chunk:
            events = by_request[received.object_id]
            row = verify_bundle.request_row([(e.leaf_index or 0, json.loads(e.payload)) for e in events])
            received_at = datetime.fromisoformat(str(row["received_at"]))
            if since <= received_at < until and (
                not jurisdictions or jurisdictions & set(str(row["jurisdictions"]).split())
            ):
                yield row, events


def request_log_export(
    *,
    since: datetime,
    until: datetime,
    jurisdictions: Iterable[str] = (),
    out_dir: Path,
    consistent_with: Iterable[int] = (),
) -> ExportResult:
    """Write the bundle of requests received in [since, until) for any of `jurisdictions` (all if empty)."""
    if since >= until:
        raise ExportError("the period is empty: --since must be before --until")
    wanted = {code.upper() for code in jurisdictions}
    checkpoint = Checkpoint.objects.order_by("-tree_size").first()
    if checkpoint is None:
        raise ExportError("the log has no signed checkpoint yet: run the sequencer first")
    size = checkpoint.tree_size
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} is not empty: export into a new directory")
    files = {
        name: _HashedFile(out_dir / name)
        for name in ("requests.csv", "requests.jsonl", "index.jsonl", "entries.jsonl", "proofs.jsonl")
    }
    files["requests.csv"].write(_csv_line(verify_bundle.ROW_FIELDS))
    store = TileStore(size)
    rows = entries = 0
    for row, events in request_rows(since=since, until=until, jurisdictions=wanted, size=size):
        rows += 1
        files["requests.csv"].write(
            _csv_line(verify_bundle.csv_text(f, row[f]) for f in verify_bundle.ROW_FIELDS)
        )
        files["requests.jsonl"].write(canonical_json(row) + "\n")
        index_line = {"row": rows, "reference": row["reference"], "leaf_indexes": row["leaf_indexes"]}
        files["index.jsonl"].write(canonical_json(index_line) + "\n")
        for event in events:
            index = event.leaf_index or 0
            files["entries.jsonl"].write(
                canonical_json({"leaf_index": index, "leaf_input": _b64(event.payload.encode())}) + "\n"
            )
            path = merkle.inclusion_proof(store, index, size)
            files["proofs.jsonl"].write(
                canonical_json({"leaf_index": index, "audit_path": [_b64(h) for h in path]}) + "\n"
            )
            entries += 1
    digests = {name: file.close() for name, file in files.items()}
    digests["consistency.json"] = _write(
        out_dir / "consistency.json", canonical_json(_consistency_proofs(consistent_with, store, size))
    )
    digests["checkpoint.txt"] = _write(out_dir / "checkpoint.txt", checkpoint.note)
    keys = signing.public_keys_to_json(signing.configured_public_keys())
    digests["public-keys.json"] = _write(out_dir / "public-keys.json", canonical_json(keys))
    manifest = canonical_json(
        {
            "format": BUNDLE_FORMAT,
            "log": log_origin(),
            "period": {"since": since.isoformat(), "until": until.isoformat()},
            "jurisdictions": sorted(wanted),
            "checkpoint": {"tree_size": size, "root_hash": _b64(bytes(checkpoint.root_hash))},
            "rows": rows,
            "entries": entries,
            "files": digests,
        }
    )
    _write(out_dir / "manifest.json", manifest)
    key_id, signature = signing.sign(manifest.encode())
    _write(out_dir / "manifest.sig", canonical_json({"key_id": key_id, "signature": _b64(signature)}))
    return ExportResult(out_dir, rows, entries, size)


def _consistency_proofs(sizes: Iterable[int], store: TileStore, size: int) -> dict[str, Any]:
    proofs = {}
    for earlier in sorted(set(sizes)):
        if not 0 < earlier <= size:
            raise ExportError(f"no consistency proof from size {earlier}: the checkpoint has {size} entries")
        proofs[str(earlier)] = [_b64(h) for h in merkle.consistency_proof(store, earlier, size)]
    return proofs


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8", newline="")
    return hashlib.sha256(text.encode()).hexdigest()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()
