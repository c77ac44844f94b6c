"""Downstream recipients (GDPR Art. 19, CCPA §7022(b)(3)): tell everyone we passed the photos to.

Planned when staff approve the purge: one `RecipientNotice` per active recipient, with the JSON payload
(the SHA-256 of each confirmed photo, so the recipient can find its copies; the request's reference,
right and received date; never a name, an address or an embedding) sealed with the request's data key.
The plan holds recipient ids only.

Purging a batch delivers its notices:

- webhook: a POST of the payload, signed (`removal.downstream_signature`), with an Idempotency-Key
  that is the same on every retry. A 2xx is delivered; anything else, or no answer, fails the batch
  and the job retries with backoff, then fails and alerts staff. Each POST's outcome is recorded on
  its notice, also when the batch rolls back (`purge_failed`).
- e-mail: one outbox message per notice, created on the first pass; the job then waits (`NotYet`,
  no attempt used) until the outbox has sent it, and fails if the outbox gave up.

The job is done when every planned recipient's notice is delivered. docs/purge.md describes what
recipients receive and how they check the signature.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from notifications.models import Message
from notifications.selectors import message_delivery
from notifications.services import message_create
from removal.downstream_signature import signature_header
from removal.models import DownstreamRecipient, Photo, RecipientNotice
from removal.selectors import NOTICE_TABLE, downstream_recipient_secret, recipient_notice_payload
from removal.services.common import SYSTEM, audit_request_event
from removal.targets import NotYet, PurgeContext, PurgeTarget
from vault.services import sealer_for

PAYLOAD_VERSION = 1
EMAIL_TEMPLATE = "removal/emails/downstream_notice"
# Poll the outbox no more often than this while an e-mail notice waits to be sent.
OUTBOX_POLL_SECONDS = 30
# Enough of the answer to prove what it was; a recipient cannot make us read (or hold) more.
RESPONSE_DIGEST_MAX_BYTES = 1024 * 1024
USER_AGENT = "removal-service-downstream-notice/1"


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt (or the outbox, for an e-mail notice) says about one notice."""

    notice_id: uuid.UUID
    recipient_id: uuid.UUID
    kind: str
    at: datetime
    delivered: bool
    status_code: int | None = None
    response_sha256: str = ""
    # An exception's class, or the outbox's error summary (class and SMTP code): never a message text.
    error: str = ""
    # E-mail notices mirror the outbox's attempt count; a webhook notice counts one per POST.
    outbox_attempts: int | None = None
    message_id: uuid.UUID | None = None


class DeliveryFailed(Exception):
    """At least one notice of the batch was not delivered. Carries every outcome of the batch, so
    `purge_failed` can record them after the rollback."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes
        failed = sum(1 for outcome in outcomes if not outcome.delivered)
        super().__init__(f"{failed} of {len(outcomes)} downstream notices not delivered")


class DownstreamRecipients(PurgeTarget):
    name = "downstream_recipients"
    category = "downstream_notices"
    # Each webhook may take the full timeout: keep a batch well inside the task's time budget.
    batch_size = 5

    def plan(self, ctx: PurgeContext) -> list[str]:
        photos = ctx.confirmed_photos()
        if not photos:
            # Nothing of the subject's was found in the index, so nothing of it was passed on.
            return []
        recipients = list(DownstreamRecipient.objects.filter(active=True).order_by("name", "id"))
        already = set(
            RecipientNotice.objects.filter(request=ctx.request).values_list("recipient_id", flat=True)
        )
        body = _payload(ctx, photos)
        sealer = sealer_for(ctx.request.data_key)
        notices = []
        for recipient in recipients:
            if recipient.id in already:
                continue
            notice = RecipientNotice(
                request=ctx.request,
                recipient=recipient,
                idempotency_key=ctx.idempotency_key(self.name, str(recipient.id)),
            )
            notice.payload_enc = sealer.seal_bytes(
                body, table=NOTICE_TABLE, column="payload_enc", row_id=notice.id
            )
            notices.append(notice)
        RecipientNotice.objects.bulk_create(notices)
        return [str(recipient.id) for recipient in recipients]

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        notices = list(
            RecipientNotice.objects.select_for_update(of=("self",))
            .filter(request=ctx.request, recipient_id__in=items)
            .exclude(status=RecipientNotice.Status.DELIVERED)
            .select_related("recipient", "recipient__data_key", "request", "request__data_key")
            .order_by("recipient__name", "id")
        )
        outcomes: list[Outcome] = []
        waits: list[float] = []
        for notice in notices:
            if notice.recipient.kind == DownstreamRecipient.Kind.WEBHOOK:
                outcomes.append(_webhook_post(ctx, notice))
            else:
                result = _email_notice(ctx, notice)
                if isinstance(result, Outcome):
                    outcomes.append(result)
                else:
                    waits.append(result)
        if any(not outcome.delivered for outcome in outcomes):
            # The engine rolls this batch back and calls purge_failed, which records the outcomes.
            raise DeliveryFailed(outcomes)
        for outcome in outcomes:
            _outcome_record(outcome, request_id=ctx.request.id, job_id=ctx.job_id)
        if waits:
            raise NotYet(min(waits), "downstream e-mail notices are still in the outbox")

    def remaining(self, ctx: PurgeContext, items: Sequence[str]) -> list[str]:
        delivered = {
            str(recipient_id)
            for recipient_id in RecipientNotice.objects.filter(
                request=ctx.request, recipient_id__in=items, status=RecipientNotice.Status.DELIVERED
            ).values_list("recipient_id", flat=True)
        }
        return [item for item in items if item not in delivered]

    def purge_failed(self, ctx: PurgeContext, error: Exception) -> None:
        if isinstance(error, DeliveryFailed):
            for outcome in error.outcomes:
                _outcome_record(outcome, request_id=ctx.request.id, job_id=ctx.job_id)


def _payload(ctx: PurgeContext, photos: Sequence[Photo]) -> bytes:
    """The notice body: the same bytes for every recipient and every retry (docs/purge.md)."""
    document = {
        "version": PAYLOAD_VERSION,
        "request": ctx.request.reference,
        "right": ctx.request.right,
        "received_on": ctx.request.received_at.astimezone(UTC).date().isoformat(),
        "photo_count": len(photos),
        "photos": [{"sha256": photo.content_sha256} for photo in photos],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _webhook_post(ctx: PurgeContext, notice: RecipientNotice) -> Outcome:
    recipient = notice.recipient
    attempted_at = timezone.now()
    try:
        body = recipient_notice_payload(notice=notice)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": notice.idempotency_key,
            "X-Removal-Timestamp": str(timestamp),
            "X-Removal-Signature": signature_header(
                secret=downstream_recipient_secret(recipient=recipient), timestamp=timestamp, body=body
            ),
        }
        timeout = settings.DOWNSTREAM_WEBHOOK_TIMEOUT_SECONDS
        # No redirects: the signed body goes to the configured URL only, never where a 3xx points.
        with requests.post(
            recipient.endpoint_url,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            digest = _body_digest(response, seconds=timeout)
            status_code = response.status_code
    except Exception as exc:
        # Connection refused, timeout, TLS, an unreadable payload: the class is all we keep, since
        # messages quote the URL.
        return Outcome(
            notice_id=notice.id,
            recipient_id=recipient.id,
            kind=recipient.kind,
            at=attempted_at,
            delivered=False,
            error=type(exc).__name__,
        )
    return Outcome(
        notice_id=notice.id,
        recipient_id=recipient.id,
        kind=recipient.kind,
        at=timezone.now(),
        delivered=200 <= status_code < 300,
        status_code=status_code,
        response_sha256=digest,
    )


def _body_digest(response: requests.Response, *, seconds: float) -> str:
    """SHA-256 of the response body (its first MiB), read for at most `seconds`."""
    hasher = hashlib.sha256()
    budget, deadline = RESPONSE_DIGEST_MAX_BYTES, time.monotonic() + seconds
    for chunk in response.iter_content(chunk_size=64 * 1024):
        hasher.update(chunk[:budget])
        budget -= len(chunk)
        if budget <= 0 or time.monotonic() > deadline:
            break
    return hasher.hexdigest()


def _email_notice(ctx: PurgeContext, notice: RecipientNotice) -> Outcome | float:
    """The notice's outbox message, created once: its outcome once the outbox has one, else how long
    to wait before looking again."""
    recipient = notice.recipient
    if notice.message_id is None:
        body = json.loads(recipient_notice_payload(notice=notice))
        message = message_create(
            template=EMAIL_TEMPLATE,
            to=recipient.email,
            context={
                "recipient_name": recipient.name,
                "notice": body,
                "idempotency_key": notice.idempotency_key,
            },
            # The body lists the photos' digests: sealed, and shredded, with the request.
            data_key=ctx.request.data_key,
            about=f"removal.downstream:{notice.id}",
        )
        RecipientNotice.objects.filter(id=notice.id).update(message_id=message.id, job_id=ctx.job_id)
        return OUTBOX_POLL_SECONDS
    delivery = message_delivery(message_id=notice.message_id)
    if delivery is None or delivery.status == Message.Status.FAILED:
        return Outcome(
            notice_id=notice.id,
            recipient_id=recipient.id,
            kind=recipient.kind,
            at=timezone.now(),
            delivered=False,
            error=f"outbox: {delivery.last_error or 'failed'}" if delivery else "outbox: message missing",
            outbox_attempts=delivery.attempts if delivery else None,
            message_id=notice.message_id,
        )
    if delivery.status == Message.Status.SENT:
        return Outcome(
            notice_id=notice.id,
            recipient_id=recipient.id,
            kind=recipient.kind,
            at=delivery.sent_at or timezone.now(),
            delivered=True,
            outbox_attempts=delivery.attempts,
            message_id=notice.message_id,
        )
    # Look again soon after the outbox's next try (it retries with backoff up to an hour apart).
    due_in = (delivery.next_attempt_at - timezone.now()).total_seconds()
    return max(float(OUTBOX_POLL_SECONDS), due_in + OUTBOX_POLL_SECONDS)


def _outcome_record(outcome: Outcome, *, request_id: uuid.UUID, job_id: uuid.UUID | None) -> None:
    status = RecipientNotice.Status.DELIVERED if outcome.delivered else RecipientNotice.Status.FAILED
    updates: dict[str, object] = {
        "status": status,
        "job_id": job_id,
        "last_attempt_at": outcome.at,
        "last_error": outcome.error[:200],
        "attempts": F("attempts") + 1 if outcome.outbox_attempts is None else outcome.outbox_attempts,
    }
    if outcome.kind == DownstreamRecipient.Kind.WEBHOOK:
        updates.update(last_status_code=outcome.status_code, response_sha256=outcome.response_sha256)
    if outcome.delivered:
        updates["delivered_at"] = outcome.at
    # Never overwrite a delivery: a worker that lost its lease may report a stale attempt.
    recorded = (
        RecipientNotice.objects.filter(id=outcome.notice_id)
        .exclude(status=RecipientNotice.Status.DELIVERED)
        .update(**updates)
    )
    if recorded and outcome.delivered:
        audit_request_event(
            request_id,
            "downstream_notice_delivered",
            actor=SYSTEM,
            details={
                "notice": str(outcome.notice_id),
                "recipient": str(outcome.recipient_id),
                "kind": outcome.kind,
                "status_code": outcome.status_code,
                "message": str(outcome.message_id) if outcome.message_id else None,
                "response_sha256": outcome.response_sha256 or None,
            },
        )
