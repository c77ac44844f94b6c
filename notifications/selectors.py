from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from notifications.models import Message
from vault.services import sealer_for

MESSAGE_TABLE = Message._meta.db_table


@dataclass(frozen=True)
class MessageContent:
    recipient: str
    subject: str
    body_text: str
    body_html: str
    # (file name, content, MIME type) of each file sent with it.
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: str
    mimetype: str


def message_content(*, message: Message) -> MessageContent:
    """Decrypt a message: for delivery, and for a staff member who must read what was sent."""
    sealer = sealer_for(message.data_key)

    def field(column: str) -> str:
        return sealer.open(getattr(message, column), table=MESSAGE_TABLE, column=column, row_id=message.id)

    attachments = (
        tuple(Attachment(**item) for item in json.loads(field("attachments_enc")))
        if message.attachments_enc is not None
        else ()
    )
    return MessageContent(
        recipient=field("recipient_enc"),
        subject=field("subject_enc"),
        body_text=field("body_text_enc"),
        body_html=field("body_html_enc"),
        attachments=attachments,
    )


def message_was_sent(*, about: str, template: str) -> bool:
    """Whether a message of this template about this object has been delivered (e.g. an acknowledgement)."""
    return Message.objects.filter(about=about, template=template, status=Message.Status.SENT).exists()


def messages_unsent(*, about: str) -> bool:
    """Whether a message about this object is still waiting or being sent (not sent, not failed)."""
    return Message.objects.filter(
        about=about, status__in=(Message.Status.PENDING, Message.Status.SENDING)
    ).exists()


@dataclass(frozen=True)
class MessageDelivery:
    status: Message.Status
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str


def message_delivery(*, message_id: uuid.UUID | str) -> MessageDelivery | None:
    """Where one message's delivery stands, for a caller waiting on it; None if it is gone."""
    row = (
        Message.objects.filter(id=message_id)
        .values("status", "attempts", "sent_at", "next_attempt_at", "last_error")
        .first()
    )
    if row is None:
        return None
    return MessageDelivery(
        status=Message.Status(row["status"]),
        attempts=row["attempts"],
        sent_at=row["sent_at"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
    )
