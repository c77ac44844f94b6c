#!/usr/bin/env python3
"""Check the service's request log without trusting the service: proofs, checkpoints, signatures.

This file stands alone (Python's standard library and `cryptography`), so a regulator can read it
whole and run it on their own machine. It implements:

* RFC 9162 §2.1.3.2 (root from an inclusion proof) and §2.1.4.2 (consistency between two sizes),
  with the RFC 6962 hashes: leaf SHA-256(0x00 ‖ data), node SHA-256(0x01 ‖ left ‖ right);
* checkpoints in the C2SP signed-note format (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint):
  an origin line, the tree size, the base64 root hash and a `timestamp <ms>` extension line, then an
  Ed25519 signature line whose 4-byte key hash is SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4].
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HASH_SIZE = 32
ED25519_ALGORITHM = b"\x01"  # the signed-note signature type of Ed25519
SIGNATURE_DASH = "\u2014"  # "—", which starts every signature line of a note


class VerificationError(Exception):
    """The thing checked is not valid; the message says what is wrong."""


# --- Hashes and proofs (RFC 6962 / RFC 9162) --------------------------------------------------------


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from leaf `index` of a tree of `size` leaves."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, leaf
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
        if sn == 0:
            raise VerificationError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationError(f"leaf {index} is not in the tree of size {size} with this root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise unless the tree of size1 with root1 is a prefix of the tree of size2 with root2."""
    if not 0 <= size1 <= size2:
        raise VerificationError(f"a tree of size {size2} cannot extend one of size {size1}")
    if size1 == size2:
        if proof:
            raise VerificationError("two checkpoints of one size need an empty consistency proof")
        if root1 != root2:
            raise VerificationError(f"two different roots for tree size {size1}: the log has forked")
        return
    if size1 == 0:
        if proof:
            raise VerificationError("consistency with the empty tree needs an empty proof")
        return
    if not proof:
        raise VerificationError("the consistency proof is empty")
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("the consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the consistency proof is shorter than needed")
    if fr != root1 or sr != root2:
        raise VerificationError(
            f"the log of size {size2} is not an extension of the log of size {size1}: "
            "entries were changed or removed, or the log forked"
        )


# --- Signed notes and checkpoints (C2SP) -------------------------------------------------------------


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def note_key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + raw_public_key(key)).digest()[:4]


def note_verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The verifier key string of the signed-note format: name+hex key hash+base64(type ‖ key)."""
    encoded = base64.b64encode(ED25519_ALGORITHM + raw_public_key(key)).decode()
    return f"{name}+{note_key_hash(name, key).hex()}+{encoded}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    timestamp_ms: int
    body: str  # the signed text, exactly
    key_id: str  # which of the given public keys signed it


def checkpoint_body(origin: str, size: int, root: bytes, timestamp_ms: int) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntimestamp {timestamp_ms}\n"


def note_signature_line(name: str, key_hash: bytes, signature: bytes) -> str:
    return f"{SIGNATURE_DASH} {name} {base64.b64encode(key_hash + signature).decode()}\n"


def _parse_body(body: str) -> tuple[str, int, bytes, int]:
    lines = body.split("\n")
    if len(lines) < 5 or lines[-1] != "":
        raise VerificationError("a checkpoint has an origin, a size, a root and a timestamp line")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise VerificationError("the checkpoint's origin or tree size line is malformed")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("the checkpoint's root hash is not base64") from exc
    _check_hash(root, "the checkpoint's root hash")
    stamps = [line.removeprefix("timestamp ") for line in extensions if line.startswith("timestamp ")]
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise VerificationError("the checkpoint needs exactly one 'timestamp <milliseconds>' line")
    return origin, int(size_text), root, int(stamps[0])


def open_checkpoint(
    note: str, public_keys: Mapping[str, Ed25519PublicKey], *, origin: str | None = None
) -> Checkpoint:
    """Parse a signed checkpoint and check its signature; raises VerificationError naming the problem.

    `public_keys` maps key ids to keys (the service's /receipts/public-keys.json); the note names
    its signer by the origin and a 4-byte key hash, which must match one of them.
    """
    body, separator, signatures = note.partition("\n\n")
    if not separator or not signatures:
        raise VerificationError("not a signed note: no blank line before the signature lines")
    body += "\n"
    name, size, root, timestamp_ms = _parse_body(body)
    if origin is not None and name != origin:
        raise VerificationError(f"the checkpoint is for log {name!r}, not {origin!r}")
    unknown = False
    for line in signatures.rstrip("\n").split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            raise VerificationError("a signature line of the note is malformed")
        if parts[1] != name:
            continue  # a witness's cosignature: not ours to check here
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError("a signature of the note is not base64") from exc
        if len(blob) != 4 + 64:
            raise VerificationError("a signature of the note has the wrong length for Ed25519")
        for key_id, key in public_keys.items():
            if note_key_hash(name, key) == blob[:4]:
                try:
                    key.verify(blob[4:], body.encode())
                except InvalidSignature as exc:
                    raise VerificationError(
                        f"the checkpoint of size {size} is not signed by key {key_id!r}: "
                        "the signature does not match"
                    ) from exc
                return Checkpoint(name, size, root, timestamp_ms, body, key_id)
        unknown = True
    if unknown:
        raise VerificationError(
            f"the checkpoint of size {size} is signed by a key that is not among the public keys"
        )
    raise VerificationError(f"the checkpoint carries no signature by {name!r}")


# --- Request-log rows, derived from the events alone -------------------------------------------------

ROW_FIELDS = (
    "reference",
    "received_at",
    "right",
    "channel",
    "jurisdictions",
    "response",
    "responded_at",
    "denial_basis",
    "extended",
    "extension_reason",
    "respond_by",
    "on_time",
    "leaf_indexes",
)
CLOSING = {"completed": "complied", "denied": "denied", "withdrawn": "withdrawn"}


def request_row(events: Sequence[tuple[int, Mapping[str, object]]]) -> dict[str, object]:
    """One row of the request log (CCPA regs §7101, GDPR Art. 30) from one request's events.

    `events` are (leaf index, parsed leaf) in leaf order. Every value comes from an event, so a
    reader can recompute the row from the entries the bundle carries: that is what the verifier does.
    """
    row: dict[str, object] = {field: "" for field in ROW_FIELDS}
    row.update(extended="no", on_time="open", leaf_indexes=[index for index, _ in events])
    for _, event in events:
        action, details = str(event.get("action", "")), event.get("details")
        if not isinstance(details, Mapping):
            details = {}
        if action == "request.received":
            row.update(
                reference=details.get("reference", ""),
                received_at=details.get("received_at") or event.get("occurred_at", ""),
                right=details.get("right", ""),
                channel=details.get("channel", ""),
                jurisdictions=" ".join(str(code) for code in details.get("jurisdictions") or []),
                respond_by=details.get("respond_by") or "",
            )
        elif action == "request.identity_received" and details.get("respond_by"):
            row["respond_by"] = details["respond_by"]
        elif action == "request.extended":
            row.update(
                extended="yes",
                extension_reason=details.get("reason", ""),
                respond_by=details.get("respond_by_extended") or row["respond_by"],
            )
        elif details.get("to") in CLOSING and not row["response"]:
            row.update(response=CLOSING[str(details["to"])], responded_at=event.get("occurred_at", ""))
            row["denial_basis"] = details.get("basis", "") if details["to"] == "denied" else ""
    if row["response"] == "withdrawn":
        row["on_time"] = "n/a"  # the subject ended it: no answer was owed
    elif row["responded_at"] and row["respond_by"]:
        answered = datetime.fromisoformat(str(row["responded_at"]))
        row["on_time"] = "yes" if answered <= datetime.fromisoformat(str(row["respond_by"])) else "no"
    return row


# --- Checking an export bundle ---------------------------------------------------------------------

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
_MAX_KEYS_BYTES = 256 * 1024


class Unreadable(Exception):
    """The bundle, a key file or a saved checkpoint cannot be read at all (exit status 2)."""


def public_keys_from_mapping(data: object) -> dict[str, Ed25519PublicKey]:
    if not isinstance(data, dict) or not data:
        raise Unreadable("the public keys are not a JSON object of key id to base64 key")
    keys = {}
    for key_id, encoded in data.items():
        try:
            raw = base64.b64decode(str(encoded), validate=True)
            keys[str(key_id)] = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise Unreadable(f"public key {key_id!r} is not a base64 Ed25519 key") from exc
    return keys


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"cannot read {path}: {exc}") from exc


def _fetch(url: str) -> bytes:
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise Unreadable(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (scheme checked above)
            return bytes(response.read(_MAX_KEYS_BYTES + 1))[: _MAX_KEYS_BYTES + 1]
    except OSError as exc:
        raise Unreadable(f"cannot fetch {url}: {exc}") from exc


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise VerificationError(f"{what} is not valid JSON") from exc


def _json_lines(text: str, what: str) -> list[Any]:
    return [_json(line, f"{what} line {n}") for n, line in enumerate(text.splitlines(), start=1) if line]


def bundle_verify(
    bundle: Path,
    *,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    saved_checkpoint: str | None = None,
    log_url: str | None = None,
) -> list[str]:
    """Every problem found in the bundle, as sentences; an empty list means valid.

    Raises Unreadable when the bundle cannot be checked at all (no manifest, unreadable keys).
    """
    if not (bundle / "manifest.json").is_file():
        raise Unreadable(f"{bundle} holds no manifest.json: not an export bundle")
    manifest_text = _read_text(bundle / "manifest.json")
    keys = public_keys or public_keys_from_mapping(
        _json(_read_text(bundle / "public-keys.json"), "public-keys.json")
    )
    problems: list[str] = []
    try:
        sig = _json(_read_text(bundle / "manifest.sig"), "manifest.sig")
        key = keys.get(str(sig.get("key_id")))
        if key is None:
            raise VerificationError(
                f"the manifest is signed by key {sig.get('key_id')!r}, which is not among the public keys"
            )
        try:
            key.verify(base64.b64decode(str(sig.get("signature")), validate=True), manifest_text.encode())
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise VerificationError(
                "the manifest's signature does not verify: it was changed or forged"
            ) from exc
        manifest = _json(manifest_text, "manifest.json")
    except (VerificationError, Unreadable, AttributeError) as exc:
        return [str(exc)]

    for name, digest in sorted(manifest.get("files", {}).items()):
        path = bundle / name
        if not path.is_file():
            problems.append(f"{name} is missing from the bundle")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name} was changed: its SHA-256 differs from the signed manifest's")

    try:
        checkpoint = open_checkpoint(_read_text(bundle / "checkpoint.txt"), keys, origin=manifest.get("log"))
    except VerificationError as exc:
        return [*problems, f"checkpoint.txt: {exc}"]
    signed = manifest.get("checkpoint", {})
    if (checkpoint.size, base64.b64encode(checkpoint.root).decode()) != (
        signed.get("tree_size"),
        signed.get("root_hash"),
    ):
        problems.append("checkpoint.txt is not the checkpoint the manifest names")

    problems += _rows_problems(bundle, checkpoint)
    if saved_checkpoint is not None:
        problems += _saved_checkpoint_problems(bundle, checkpoint, saved_checkpoint, keys, log_url)
    return problems


def _rows_problems(bundle: Path, checkpoint: Checkpoint) -> list[str]:
    problems: list[str] = []
    try:
        entries = {
            e["leaf_index"]: e["leaf_input"]
            for e in _json_lines(_read_text(bundle / "entries.jsonl"), "entries.jsonl")
        }
        proofs = {
            p["leaf_index"]: p["audit_path"]
            for p in _json_lines(_read_text(bundle / "proofs.jsonl"), "proofs.jsonl")
        }
        index = _json_lines(_read_text(bundle / "index.jsonl"), "index.jsonl")
        rows = _json_lines(_read_text(bundle / "requests.jsonl"), "requests.jsonl")
        with (bundle / "requests.csv").open(encoding="utf-8", newline="") as handle:
            table = list(csv.reader(handle))
    except (VerificationError, Unreadable, OSError, KeyError, TypeError) as exc:
        return [f"the bundle's files cannot be read as an export: {exc}"]

    # The index says which request each row is, in order: compare the rows against it first, so a
    # dropped, added or moved row is named as such.
    by_reference = {str(entry.get("reference")): n for n, entry in enumerate(index, start=1)}
    for n, row in enumerate(rows, start=1):
        reference = str(row.get("reference"))
        expected = str(index[n - 1].get("reference")) if n <= len(index) else None
        if reference == expected:
            continue
        if reference not in by_reference:
            problems.append(f"row {n} ({reference}) is not in the export's index: a row not in the log")
        else:
            problems.append(
                f"row {n} ({reference}) is out of order: the index has it as row {by_reference[reference]}"
            )
    present = {str(row.get("reference")) for row in rows}
    for n, entry in enumerate(index, start=1):
        if str(entry.get("reference")) not in present:
            problems.append(f"row {n} ({entry.get('reference')}) was dropped from requests.jsonl")

    verified: set[int] = set()
    for n, row in enumerate(rows, start=1):
        reference = row.get("reference")
        leaf_indexes = row.get("leaf_indexes") or []
        events = []
        for leaf_index in leaf_indexes:
            if leaf_index not in entries:
                problems.append(f"row {n} ({reference}): entry {leaf_index} is not in the bundle")
                continue
            leaf_input = base64.b64decode(entries[leaf_index])
            if leaf_index not in verified:
                try:
                    path = [base64.b64decode(h) for h in proofs.get(leaf_index, [])]
                    verify_inclusion(
                        leaf_index, checkpoint.size, leaf_hash(leaf_input), path, checkpoint.root
                    )
                except (VerificationError, binascii.Error, ValueError):
                    problems.append(
                        f"row {n} ({reference}): entry {leaf_index} is not in the log "
                        f"of size {checkpoint.size}"
                    )
                    continue
                verified.add(leaf_index)
            events.append((leaf_index, _json(leaf_input.decode(), f"entry {leaf_index}")))
        if not events:
            problems.append(f"row {n} ({reference}) has no entry in the log behind it: a row not in the log")
            continue
        if request_row(events) != row:
            problems.append(f"row {n} ({reference}) differs from what its log entries say")

    if not table or tuple(table[0]) != ROW_FIELDS:
        problems.append("requests.csv does not start with the expected header")
    else:
        for n, (line, row) in enumerate(zip(table[1:], rows, strict=False), start=1):
            if line != [csv_text(f, row.get(f, "")) for f in ROW_FIELDS]:
                problems.append(f"requests.csv row {n} differs from requests.jsonl row {n}")
        if len(table) - 1 != len(rows):
            problems.append(f"requests.csv has {len(table) - 1} rows, requests.jsonl {len(rows)}")
    return problems


def csv_text(field: str, value: object) -> str:
    return (
        " ".join(str(i) for i in value) if field == "leaf_indexes" and isinstance(value, list) else str(value)
    )


def _saved_checkpoint_problems(
    bundle: Path,
    checkpoint: Checkpoint,
    saved_text: str,
    keys: Mapping[str, Ed25519PublicKey],
    log_url: str | None,
) -> list[str]:
    try:
        saved = open_checkpoint(saved_text, keys, origin=checkpoint.origin)
    except VerificationError as exc:
        return [f"the saved checkpoint: {exc}"]
    if saved.size > checkpoint.size:
        return [
            f"the bundle's log has {checkpoint.size} entries, fewer than the {saved.size} of the checkpoint "
            "you saved: entries were removed (the log was cut off)"
        ]
    first, second = saved, checkpoint
    if first.size == second.size:
        proof: list[bytes] = []
    else:
        carried = _json(_read_text(bundle / "consistency.json"), "consistency.json")
        encoded = carried.get(str(first.size))
        if encoded is None:
            if log_url is None:
                raise Unreadable(
                    f"the bundle carries no consistency proof between sizes {first.size} and {second.size}: "
                    "pass --log URL (the service's address) to fetch one"
                )
            url = (
                f"{log_url.rstrip('/')}/ledger/v1/get-sth-consistency?first={first.size}&second={second.size}"
            )
            encoded = _json(_fetch(url).decode(), "the fetched consistency proof").get("consistency", [])
        proof = [base64.b64decode(h) for h in encoded]
    try:
        verify_consistency(first.size, second.size, proof, first.root, second.root)
    except VerificationError as exc:
        return [
            f"the saved checkpoint of size {saved.size} and the bundle's of size {checkpoint.size}: {exc}"
        ]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Check a request-log export bundle offline. Exit 0 valid, 1 invalid, 2 unreadable."
    )
    parser.add_argument("bundle", type=Path, help="the bundle directory written by export_request_log")
    parser.add_argument(
        "--checkpoint", type=Path, help="a checkpoint you saved earlier (catches truncation and forks)"
    )
    parser.add_argument(
        "--public-keys", help="the service's public keys (a file or an https URL); default: the bundle's"
    )
    parser.add_argument("--log", help="the service's base URL, to fetch a consistency proof the bundle lacks")
    args = parser.parse_args(argv)
    try:
        keys = None
        if args.public_keys:
            source = args.public_keys
            raw = _fetch(source) if source.startswith(("https://", "http://")) else Path(source).read_bytes()
            keys = public_keys_from_mapping(json.loads(raw))
        saved = _read_text(args.checkpoint) if args.checkpoint else None
        problems = bundle_verify(args.bundle, public_keys=keys, saved_checkpoint=saved, log_url=args.log)
    except (Unreadable, OSError, ValueError) as exc:
        print(f"cannot check: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if problems:
        for problem in problems:
            print(f"INVALID: {problem}", file=sys.stderr)
        return EXIT_INVALID
    manifest = json.loads((args.bundle / "manifest.json").read_text(encoding="utf-8"))
    print(
        f"VALID: {manifest['rows']} request(s), {manifest['entries']} log entries, each in the signed "
        f"checkpoint of size {manifest['checkpoint']['tree_size']} of {manifest['log']}"
        + (", consistent with your saved checkpoint" if args.checkpoint else "")
    )
    return EXIT_VALID


if __name__ == "__main__":
    sys.exit(main())
