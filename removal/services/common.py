"""Pieces every removal service uses: actors, errors, the audit helper, mail to the subject."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.entries import JsonValue
from ledger.services import event_append
from notifications.selectors import Attachment
from notifications.services import message_create
from removal.models import (
    RemovalRequest,
)
from removal.selectors import removal_request_deadlines, removal_request_pii


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit trail records it: never a name or an address."""

    kind: str  # "subject", "staff" or "system"
    id: str = ""
    # The staff member's account, for removal.permissions; never part of what is recorded.
    user: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def staff(cls, user: object) -> Actor:
        return cls(kind="staff", id=str(getattr(user, "pk", "")), user=user)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


SUBJECT = Actor(kind="subject")
SYSTEM = Actor(kind="system")


class InvalidRequest(ValueError):
    """Input refused before anything was stored; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))


class IllegalTransition(Exception):
    def __init__(self, *, reference: str, move: str, status: str) -> None:
        self.move, self.status = move, status
        super().__init__(f"{reference}: cannot {move.replace('_', ' ')} a request that is {status}")


def audit_request_event(
    request_id: object,
    action: str,
    *,
    actor: Actor,
    details: dict[str, JsonValue] | None = None,
    occurred_at: datetime | None = None,
) -> None:
    event_append(
        actor=str(actor),
        action=f"request.{action}",
        object_type="removal_request",
        object_id=request_id,
        details=details,
        occurred_at=occurred_at,
    )


_SUBJECT_REF_PREFIX = "removal.request:"


def subject_ref(request: RemovalRequest) -> str:
    """The opaque name other apps know the request's subject by: identity records, outbox messages."""
    return f"{_SUBJECT_REF_PREFIX}{request.id}"


def request_id_of(ref: str) -> uuid.UUID | None:
    """The request a subject ref names, or None for another app's ref."""
    if not ref.startswith(_SUBJECT_REF_PREFIX):
        return None
    try:
        return uuid.UUID(ref.removeprefix(_SUBJECT_REF_PREFIX))
    except ValueError:
        return None


def assignee_address(request: RemovalRequest) -> str:
    """Where staff mail about a request goes first: its assignee's address, or "" (then the team's)."""
    return request.assignee.email if request.assignee and request.assignee.email else ""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def notify_subject(
    *,
    request: RemovalRequest,
    template: str,
    context: Mapping[str, object],
    attachments: Sequence[Attachment] = (),
) -> None:
    pii = removal_request_pii(request=request)
    message_create(
        template=f"removal/emails/{template}",
        to=pii.email,
        context={
            "name": pii.name,
            "reference": request.reference,
            "request": request,
            "deadlines": removal_request_deadlines(request=request, for_subject=True),
            **context,
        },
        data_key=request.data_key,
        language=request.language,
        about=subject_ref(request),
        attachments=attachments,
    )
