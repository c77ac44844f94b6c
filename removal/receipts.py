"""Deletion receipts: the subject's signed proof of what we deleted, checkable without trusting us.

A receipt is a small JSON document (format and verification rules: docs/receipts.md):

    {"type": "deletion-receipt", "version": 1, "issuer": "privacy.example.org", "reference": "RR-…",
     "received_at": "…Z", "completed_at": "…Z", "issued_at": "…Z",
     "categories": [{"category": "photos", "items": 12}, …], "key_id": "sk-…", "signature": "…"}

`signature` is Ed25519 (vault.signing) over the canonical JSON (vault.canonical.canonical_json, the request
log's encoding too) of every other field. It names no photo, embedding, URL, name or address: only the
request's reference, dates, category codes and counts, so it can be shown, forwarded and verified
after the request's personal data is shredded. Verification needs the document and the public keys
only: it never looks anything up, so checking a receipt cannot reveal whether a reference exists.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ledger.services import event_append
from removal.models import DeletionReceipt, ReceiptCategory, RemovalRequest, Status
from vault import signing
from vault.canonical import canonical_json

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = [
    "RECEIPT_MAX_BYTES",
    "RECEIPT_TYPE",
    "RECEIPT_VERSION",
    "ReceiptCheck",
    "ReceiptContents",
    "ReceiptNotIssuable",
    "ReceiptProblem",
    "category_label",
    "deletion_receipt_for",
    "deletion_receipt_issue",
    "receipt_verify",
]

RECEIPT_TYPE = "deletion-receipt"
RECEIPT_VERSION = 1
# A receipt is well under 2 KB; anything much bigger is not one, and is refused before parsing.
RECEIPT_MAX_BYTES = 16 * 1024

_FIELDS = frozenset(
    {
        "type",
        "version",
        "issuer",
        "reference",
        "received_at",
        "completed_at",
        "issued_at",
        "categories",
        "key_id",
        "signature",
    }
)
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
# Codes this version of the service does not know may still appear in a validly signed receipt from a
# newer one: they are shown as codes rather than refused.
_CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_ISSUER_MAX = 253  # a DNS name
_ECHO_MAX = 40  # how much of an unexpected value a reason quotes back


class ReceiptNotIssuable(Exception):
    """The request is not completed, or the categories are not ones a receipt can state."""


class ReceiptProblem(enum.StrEnum):
    MALFORMED = "malformed"
    WRONG_TYPE = "wrong_type"
    WRONG_VERSION = "wrong_version"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True)
class ReceiptContents:
    """What a valid receipt says, parsed, for display."""

    issuer: str
    reference: str
    key_id: str
    received_at: datetime
    completed_at: datetime
    issued_at: datetime
    categories: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ReceiptCheck:
    """The verdict on a receipt: `contents` when valid, else a `problem` code and a translated `reason`."""

    valid: bool
    contents: ReceiptContents | None = None
    problem: ReceiptProblem | None = None
    reason: str = ""

    @classmethod
    def refused(cls, problem: ReceiptProblem, reason: str) -> ReceiptCheck:
        return cls(valid=False, problem=problem, reason=reason)


def category_label(code: str) -> StrOrPromise:
    """The label of a category code, translated when shown (lazily: an e-mail is rendered in its
    reader's language, not the worker's); an unknown code (an operator's target) is shown as itself."""
    return ReceiptCategory(code).label if code in ReceiptCategory.values else code


def receipt_issuer() -> str:
    return settings.RECEIPT_ISSUER or urlsplit(settings.PUBLIC_BASE_URL).hostname or ""


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def _checked_categories(categories: Sequence[tuple[str, int]]) -> list[dict[str, str | int]]:
    """Well-formed codes, each once, with a non-negative count: ours in ReceiptCategory's order, then
    an operator's own targets' codes (docs/purge.md) in alphabetical order."""
    counts: dict[str, int] = {}
    for code, items in categories:
        if not isinstance(code, str) or not _CATEGORY_CODE.match(code):
            raise ReceiptNotIssuable(f"malformed receipt category {code!r}")
        if code in counts:
            raise ReceiptNotIssuable(f"receipt category {code!r} given twice")
        if isinstance(items, bool) or not isinstance(items, int) or items < 0:
            raise ReceiptNotIssuable(f"receipt category {code!r}: the count must be a whole number ≥ 0")
        counts[code] = items
    # A fixed order, so two receipts listing the same things read the same way.
    known = [code for code in ReceiptCategory.values if code in counts]
    extra = sorted(code for code in counts if code not in ReceiptCategory.values)
    return [{"category": code, "items": counts[code]} for code in known + extra]


def deletion_receipt_issue(
    *, request: RemovalRequest, categories: Sequence[tuple[str, int]], completed_at: datetime
) -> DeletionReceipt:
    """Sign and store the request's deletion receipt, and record it in the audit trail.

    Call it inside the transaction that completes the request, after the status update: the receipt
    and the completion then commit together or not at all. Idempotent: once a receipt exists it is
    returned unchanged, whatever the arguments (a receipt already handed out is never re-signed).
    Raises ReceiptNotIssuable for a request that is not completed or for categories it cannot state.
    """
    existing = deletion_receipt_for(request=request)
    if existing is not None:
        return existing
    if timezone.is_naive(completed_at):
        raise ReceiptNotIssuable("completed_at must carry a time zone")
    # The database, not the caller's copy: the completing UPDATE may not be reflected in `request` yet.
    current = RemovalRequest.objects.filter(id=request.id).values_list("status", flat=True).first()
    if current != Status.COMPLETED:
        raise ReceiptNotIssuable(f"{request.reference}: a receipt is issued for a completed request only")
    checked = _checked_categories(categories)
    ring = signing.configured_signing_keys()
    issued_at = timezone.now().replace(microsecond=0)
    unsigned: dict[str, Any] = {
        "type": RECEIPT_TYPE,
        "version": RECEIPT_VERSION,
        "issuer": receipt_issuer(),
        "reference": request.reference,
        "received_at": _timestamp(request.received_at),
        "completed_at": _timestamp(completed_at),
        "issued_at": _timestamp(issued_at),
        "categories": checked,
        "key_id": ring.active_id,
    }
    key_id, signature = signing.sign(canonical_json(unsigned).encode(), ring=ring)
    document = canonical_json({**unsigned, "signature": signing.b64url_encode(signature)})
    try:
        with transaction.atomic():
            receipt = DeletionReceipt.objects.create(
                request=request, document=document, key_id=key_id, issued_at=issued_at
            )
            event_append(
                actor="system",
                action="request.receipt_issued",
                object_type="removal_request",
                object_id=request.id,
                # The hash ties the receipt the subject holds to this event without copying it here.
                details={"key_id": key_id, "receipt_sha256": hashlib.sha256(document.encode()).hexdigest()},
                occurred_at=issued_at,
            )
    except IntegrityError:
        # A concurrent caller issued it first (the one-to-one constraint); theirs is the receipt.
        return DeletionReceipt.objects.get(request_id=request.id)
    return receipt


def deletion_receipt_for(*, request: RemovalRequest) -> DeletionReceipt | None:
    return DeletionReceipt.objects.filter(request_id=request.id).first()


# --- Verification: pure, no database ---------------------------------------------------------------


class _Malformed(ValueError):
    pass


def _echo(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _ECHO_MAX else text[: _ECHO_MAX - 1] + "…"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last of two equal keys: a reader could see one value, a check another.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Malformed(_("The field “%(name)s” appears twice.") % {"name": _echo(key)})
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise _Malformed(
        _("The receipt contains a value that JSON does not allow (%(value)s).") % {"value": name}
    )


def _parse(document: str | bytes) -> Any:
    size = len(document) if isinstance(document, bytes) else len(document.encode(errors="replace"))
    if size > RECEIPT_MAX_BYTES:
        raise _Malformed(_("This is too large to be a deletion receipt."))
    if isinstance(document, bytes):
        try:
            # utf-8-sig: some editors put a byte-order mark in front of a file they save.
            document = document.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _Malformed(_("The receipt is not UTF-8 text.")) from exc
    try:
        return json.loads(
            document.removeprefix("\ufeff"),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as exc:
        raise _Malformed(
            _("The receipt is not valid JSON (line %(line)s, column %(column)s).")
            % {"line": exc.lineno, "column": exc.colno}
        ) from exc
    except RecursionError as exc:
        raise _Malformed(_("The receipt is not valid JSON.")) from exc


def _field_error(name: str) -> _Malformed:
    return _Malformed(_("The field “%(name)s” is not in the expected format.") % {"name": name})


def _string(data: Mapping[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data[name]
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        raise _field_error(name)
    return value


def _moment(data: Mapping[str, Any], name: str) -> datetime:
    value = _string(data, name, _TIMESTAMP)
    try:
        return datetime.strptime(value, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise _field_error(name) from exc


def _categories(data: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    value = data["categories"]
    if not isinstance(value, list):
        raise _field_error("categories")
    seen: list[tuple[str, int]] = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"category", "items"}:
            raise _field_error("categories")
        code, items = entry["category"], entry["items"]
        if not isinstance(code, str) or not _CATEGORY_CODE.match(code) or code in dict(seen):
            raise _field_error("categories")
        if isinstance(items, bool) or not isinstance(items, int) or items < 0:
            raise _field_error("categories")
        seen.append((code, items))
    return tuple(seen)


def receipt_verify(document: str | bytes, *, public_keys: signing.PublicKeyRing) -> ReceiptCheck:
    """Check a receipt against a public key ring. Needs nothing else: no database, no private key.

    Reasons are translated into the active language and quote at most a few characters of the input.
    """
    try:
        data = _parse(document)
        if not isinstance(data, dict):
            raise _Malformed(_("A deletion receipt is a JSON object; this is not one."))
        if data.get("type") != RECEIPT_TYPE:
            return ReceiptCheck.refused(
                ReceiptProblem.WRONG_TYPE,
                _("This is not a deletion receipt (its type is %(type)s).")
                % {"type": _echo(data.get("type"))},
            )
        version = data.get("version")
        # 1.0 equals 1 in Python, but not in the signed text: only the integer is version 1.
        if isinstance(version, bool) or not isinstance(version, int) or version != RECEIPT_VERSION:
            return ReceiptCheck.refused(
                ReceiptProblem.WRONG_VERSION,
                _("This receipt has version %(version)s; this service checks version %(known)s.")
                % {"version": _echo(version), "known": RECEIPT_VERSION},
            )
        if missing := sorted(_FIELDS - set(data)):
            raise _Malformed(_("The field “%(name)s” is missing.") % {"name": missing[0]})
        if extra := sorted(set(data) - _FIELDS):
            raise _Malformed(_("The receipt has an unexpected field “%(name)s”.") % {"name": _echo(extra[0])})
        issuer = _string(data, "issuer")
        if len(issuer) > _ISSUER_MAX:
            raise _field_error("issuer")
        contents = ReceiptContents(
            issuer=issuer,
            reference=_string(data, "reference", _REFERENCE),
            key_id=_string(data, "key_id", signing.KEY_ID_PATTERN),
            received_at=_moment(data, "received_at"),
            completed_at=_moment(data, "completed_at"),
            issued_at=_moment(data, "issued_at"),
            categories=_categories(data),
        )
        try:
            signature = signing.b64url_decode(_string(data, "signature"))
        except ValueError as exc:
            raise _field_error("signature") from exc
    except _Malformed as exc:
        return ReceiptCheck.refused(ReceiptProblem.MALFORMED, str(exc))
    signed = {name: value for name, value in data.items() if name != "signature"}
    try:
        signing.verify(
            canonical_json(signed).encode(),
            key_id=contents.key_id,
            signature=signature,
            public_keys=public_keys,
        )
    except signing.UnknownKeyId:
        return ReceiptCheck.refused(
            ReceiptProblem.UNKNOWN_KEY,
            _("The receipt names key %(key_id)s, which is not one of the issuer's public keys.")
            % {"key_id": contents.key_id},
        )
    except signing.BadSignature:
        return ReceiptCheck.refused(
            ReceiptProblem.BAD_SIGNATURE,
            _(
                "The signature does not match the contents: the receipt was changed after it was signed, "
                "or it was not signed with this key."
            ),
        )
    return ReceiptCheck(valid=True, contents=contents)


def receipt_filename(reference: str) -> str:
    """The receipt's file name, in the completion e-mail and as the status page's download."""
    return f"deletion-receipt-{reference}.json"
