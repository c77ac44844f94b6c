"""The outbox: create messages inside the deciding transaction, deliver them after commit.

Callers pass a template name, a recipient, a context and the data key that seals the rendered
message; this app knows nothing of what the message is about.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation

from config.wakeup import wake
from notifications.models import DeliveryAttempt, Message
from notifications.selectors import MESSAGE_TABLE, Attachment, message_content
from vault.models import DataKey
from vault.services import sealer_for

logger = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 3600


def _enqueue_delivery(message_id: str, *, countdown: float | None = None) -> None:
    from notifications.tasks import deliver_message

    wake(deliver_message, message_id, countdown=countdown or 0)


def message_create(
    *,
    template: str,
    to: str,
    context: dict[str, object],
    data_key: DataKey,
    language: str = "en",
    about: str = "",
    attachments: Sequence[Attachment] = (),
) -> Message:
    """Render `<template>.subject.txt`, `.txt` and `.html` and queue the message for delivery, with
    `attachments` (text files) sealed beside it."""
    with translation.override(language):
        subject = " ".join(render_to_string(f"{template}.subject.txt", context).split())
        body_text = render_to_string(f"{template}.txt", context)
        body_html = render_to_string(f"{template}.html", context)
    message = Message(
        template=template,
        language=language,
        about=about,
        data_key=data_key,
        attempt_limit=settings.OUTBOX_MAX_ATTEMPTS,
    )
    message.next_attempt_at = timezone.now()
    sealer = sealer_for(data_key)
    for column, value in (
        ("recipient_enc", to),
        ("subject_enc", subject),
        ("body_text_enc", body_text),
        ("body_html_enc", body_html),
    ):
        setattr(message, column, sealer.seal(value, table=MESSAGE_TABLE, column=column, row_id=message.id))
    if attachments:
        files = json.dumps([dataclasses.asdict(attachment) for attachment in attachments])
        message.attachments_enc = sealer.seal(
            files, table=MESSAGE_TABLE, column="attachments_enc", row_id=message.id
        )
    message.save(force_insert=True)
    message_id = str(message.id)
    transaction.on_commit(lambda: _enqueue_delivery(message_id))
    return message


def _error_summary(exc: BaseException) -> str:
    # Exception texts from smtplib quote recipient addresses: keep only the class and SMTP code.
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"[:200]


def _backoff_seconds(attempts: int) -> float:
    ceiling = min(_MAX_BACKOFF_SECONDS, settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    # Jitter spreads retries after an SMTP outage so they do not all land in the same second.
    return ceiling * random.uniform(0.5, 1.0)


def message_id_header(message: Message) -> str:
    """The RFC 5322 Message-ID of an outbox message: its id at the sender's domain, stable across
    attempts. Reveals nothing but a random id."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{message.id}@{domain}>"


def message_deliver(*, message_id: str) -> Message.Status | None:
    """Send one message if it is due. Returns the new status, or None if someone else has it."""
    now = timezone.now()
    claimed = Message.objects.filter(
        id=message_id, status=Message.Status.PENDING, next_attempt_at__lte=now
    ).update(
        status=Message.Status.SENDING, lease_expires_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    )
    if not claimed:
        # Another worker holds it, it was sent already, or its retry is not due yet.
        return None
    message = Message.objects.select_related("data_key").get(id=message_id)
    attempt_number = message.attempts + 1
    started = time.monotonic()
    error = ""
    try:
        content = message_content(message=message)
        email = EmailMultiAlternatives(
            subject=content.subject,
            body=content.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[content.recipient],
            # The same Message-ID on every attempt: a copy sent again after a lost acknowledgement
            # (at-least-once delivery) is one a mail client recognises and drops.
            headers={"Auto-Submitted": "auto-generated", "Message-ID": message_id_header(message)},
        )
        email.attach_alternative(content.body_html, "text/html")
        for attachment in content.attachments:
            email.attach(attachment.filename, attachment.content, attachment.mimetype)
        email.send(fail_silently=False)
    except Exception as exc:
        error = _error_summary(exc)
    duration_ms = int((time.monotonic() - started) * 1000)
    return _message_record_attempt(
        message=message, number=attempt_number, started_at=now, duration_ms=duration_ms, error=error
    )


def _message_record_attempt(
    *, message: Message, number: int, started_at: datetime, duration_ms: int, error: str
) -> Message.Status:
    now = timezone.now()
    if not error:
        status, next_attempt_at = Message.Status.SENT, message.next_attempt_at
    elif number >= message.attempt_limit:
        status, next_attempt_at = Message.Status.FAILED, message.next_attempt_at
    else:
        status, next_attempt_at = Message.Status.PENDING, now + timedelta(seconds=_backoff_seconds(number))
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            message=message,
            number=number,
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=DeliveryAttempt.Outcome.FAILED if error else DeliveryAttempt.Outcome.SENT,
            error=error,
        )
        Message.objects.filter(id=message.id, status=Message.Status.SENDING).update(
            status=status,
            attempts=number,
            next_attempt_at=next_attempt_at,
            lease_expires_at=None,
            sent_at=now if status == Message.Status.SENT else None,
            last_error=error,
        )
    if status == Message.Status.PENDING:
        delay = (next_attempt_at - now).total_seconds()
        message_id = str(message.id)
        transaction.on_commit(lambda: _enqueue_delivery(message_id, countdown=delay))
    if error:
        logger.warning("message %s attempt %s failed: %s", message.id, number, error)
    return status


def message_resend(*, message: Message) -> bool:
    """Staff action: give a failed message another round of attempts."""
    updated = Message.objects.filter(id=message.id, status=Message.Status.FAILED).update(
        status=Message.Status.PENDING,
        attempt_limit=F("attempts") + settings.OUTBOX_MAX_ATTEMPTS,
        next_attempt_at=timezone.now(),
        last_error="",
    )
    if updated:
        message_id = str(message.id)
        transaction.on_commit(lambda: _enqueue_delivery(message_id))
    return bool(updated)


def outbox_sweep(*, limit: int = 500) -> int:
    """Wake up messages that are due or whose worker died mid-send. The broker may have lost them."""
    now = timezone.now()
    expired = Message.objects.filter(status=Message.Status.SENDING, lease_expires_at__lt=now)
    # A worker that died after the SMTP server accepted the message but before we recorded it
    # makes this a second delivery: e-mail is at-least-once, and the docs say so.
    Message.objects.filter(id__in=list(expired.values_list("id", flat=True)[:limit])).update(
        status=Message.Status.PENDING, lease_expires_at=None, next_attempt_at=now
    )
    due = list(
        Message.objects.filter(status=Message.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for message_id in due:
        _enqueue_delivery(str(message_id))
    return len(due)
