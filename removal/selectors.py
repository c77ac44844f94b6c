"""Reads for removal requests. Decryption happens here, for the one caller that needs the value."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from removal.deadlines import JURISDICTIONS
from removal.models import (
    Candidate,
    DownstreamRecipient,
    PurgeJob,
    RecipientNotice,
    RemovalRequest,
    StatusLink,
)
from removal.receipts import category_label, deletion_receipt_for
from vault.services import DataKeyShredded, sealer_for

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The associated data names this table: every sealed request column is opened and sealed with it.
REQUEST_TABLE = RemovalRequest._meta.db_table
RECIPIENT_TABLE = DownstreamRecipient._meta.db_table
NOTICE_TABLE = RecipientNotice._meta.db_table


@dataclass(frozen=True)
class SubjectPII:
    name: str
    email: str


def removal_request_pii(*, request: RemovalRequest) -> SubjectPII:
    """Raises vault.services.DataKeyShredded once the request's personal data was erased."""
    sealer = sealer_for(request.data_key)
    return SubjectPII(
        name=sealer.open(request.name_enc, table=REQUEST_TABLE, column="name_enc", row_id=request.id),
        email=sealer.open(request.email_enc, table=REQUEST_TABLE, column="email_enc", row_id=request.id),
    )


def downstream_recipient_secret(*, recipient: DownstreamRecipient) -> str:
    """The webhook's HMAC secret, for signing only: it is never shown back to anyone."""
    if recipient.secret_enc is None:
        raise ValueError("this recipient has no secret set")
    return sealer_for(recipient.data_key).open(
        recipient.secret_enc, table=RECIPIENT_TABLE, column="secret_enc", row_id=recipient.id
    )


def recipient_notice_payload(*, notice: RecipientNotice) -> bytes:
    """The notice's JSON body, byte for byte as planned (every retry sends the same bytes).

    Raises vault.services.DataKeyShredded once the request's personal data was erased.
    """
    return sealer_for(notice.request.data_key).open_bytes(
        notice.payload_enc, table=NOTICE_TABLE, column="payload_enc", row_id=notice.id
    )


def hash_status_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def removal_request_masked_email(*, request: RemovalRequest) -> str | None:
    """What the subject may see of their address; None once their personal data was shredded."""
    try:
        return mask_email(removal_request_pii(request=request).email)
    except DataKeyShredded:
        return None


def removal_request_by_status_token(*, token: str) -> RemovalRequest | None:
    if not token or len(token) > 100:
        return None
    token_hash = hash_status_token(token)
    return (
        RemovalRequest.objects.select_related("data_key")
        .prefetch_related("jurisdictions")
        .filter(
            Q(status_token_hash=token_hash)
            | Q(id__in=StatusLink.objects.filter(token_hash=token_hash).values("request_id"))
        )
        .first()
    )


def jurisdiction_names(*, request: RemovalRequest) -> list[str]:
    return [
        gettext(JURISDICTIONS[j.code].name) for j in request.jurisdictions.all() if j.code in JURISDICTIONS
    ]


def mask_email(email: str) -> str:
    """ "jane.doe@example.org" → "j•••e@e•••.org": enough for the subject to recognise, little to leak."""
    local, _, domain = email.partition("@")
    host, dot, tld = domain.rpartition(".")
    masked_local = local[0] + "•••" + (local[-1] if len(local) > 2 else "")
    masked_host = (host[:1] + "•••") if host else "•••"
    return f"{masked_local}@{masked_host}{dot}{tld}"


@dataclass(frozen=True)
class Deadline:
    kind: str  # "acknowledge_by", "respond_by" or "respond_by_extended"
    label: StrOrPromise
    due: datetime  # in the zone of the jurisdiction that set it
    set_by: str


def removal_request_deadlines(*, request: RemovalRequest, for_subject: bool = False) -> list[Deadline]:
    """The deadlines known so far, each shown in the time zone of the law that set it.

    `for_subject`: what the subject is shown. The acknowledgement deadline is ours to meet (the
    acknowledgement is the very message they are reading), so it is left out there.
    """
    rows = []
    if not for_subject:
        rows.append(
            (
                "acknowledge_by",
                _("Acknowledgement due"),
                request.acknowledge_by,
                request.acknowledge_by_set_by,
            )
        )
    if request.extended_at:
        rows.append(
            (
                "respond_by_extended",
                _("Response due (extended)"),
                request.respond_by_extended,
                request.respond_by_extended_set_by,
            )
        )
    else:
        rows.append(("respond_by", _("Response due"), request.respond_by, request.respond_by_set_by))
        rows.append(
            (
                "respond_by_extended",
                _("Latest date if extended"),
                request.respond_by_extended,
                request.respond_by_extended_set_by,
            )
        )
    return [
        Deadline(kind=kind, label=label, due=due.astimezone(ZoneInfo(JURISDICTIONS[code].zone)), set_by=code)
        for kind, label, due, code in rows
        if due is not None and code in JURISDICTIONS
    ]


@dataclass(frozen=True)
class PurgeProgress:
    done: int
    planned: int
    failed_jobs: int


def removal_request_purge_progress(*, request: RemovalRequest) -> PurgeProgress | None:
    """How far the purge got (items of every purge-phase job), or None before it was approved."""
    totals = PurgeJob.objects.filter(request=request, phase=PurgeJob.Phase.PURGE).aggregate(
        jobs=Count("id"),
        done=Sum("done"),
        planned=Sum("planned"),
        failed=Count("id", filter=Q(status=PurgeJob.Status.FAILED)),
    )
    if not totals["jobs"]:
        return None
    return PurgeProgress(
        done=totals["done"] or 0, planned=totals["planned"] or 0, failed_jobs=totals["failed"]
    )


@dataclass(frozen=True)
class ReceiptSummary:
    document: str
    categories: list[tuple[StrOrPromise, int]]


def removal_request_receipt(*, request: RemovalRequest) -> ReceiptSummary | None:
    """The signed deletion receipt with its categories' labels, once the request is completed."""
    receipt = deletion_receipt_for(request=request)
    if receipt is None:
        return None
    entries = json.loads(receipt.document)["categories"]
    return ReceiptSummary(
        document=receipt.document,
        categories=[(category_label(entry["category"]), entry["items"]) for entry in entries],
    )


def request_references(ids: list[str]) -> dict[str, str]:
    """Request id (as text) → reference, for the ids that are requests; the rest are left out."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    found = RemovalRequest.objects.filter(id__in=valid).values_list("id", "reference")
    return {str(request_id): f"{reference} ({request_id})" for request_id, reference in found}


def recipient_notices(*, request: RemovalRequest) -> list[RecipientNotice]:
    """The downstream recipients told about this request's erasure, and how it went (no payloads)."""
    notices = RecipientNotice.objects.filter(request=request).select_related("recipient")
    return list(notices.order_by("created_at"))


def removal_requests_by_id(ids: list[uuid.UUID]) -> list[RemovalRequest]:
    """The requests of a selection, in its order, with what their services read (one query)."""
    found = RemovalRequest.objects.select_related("data_key", "assignee").prefetch_related("jurisdictions")
    by_id = {request.id: request for request in found.filter(id__in=ids)}
    return [by_id[i] for i in ids if i in by_id]


def candidates_unflagged(*, request: RemovalRequest) -> dict[int, str]:
    """The undecided candidates not flagged as look-alikes, as "confirmed" decisions to make."""
    ids = Candidate.objects.filter(
        request=request, lookalike=False, decision=Candidate.Decision.PENDING
    ).values_list("id", flat=True)
    return dict.fromkeys(ids, Candidate.Decision.CONFIRMED.value)
