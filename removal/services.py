"""Writes for removal requests: intake, e-mail confirmation and the lifecycle's transitions.

Status moves (one service each; every other move is refused):

    received ─────────┬─▶ verifying ──┬─▶ verified ─▶ discovering ─▶ awaiting_review ─▶ purging ─▶ completed
      │  ▲            │      │        │       │ (opt-out only: verification waived, then completed)
      │  └ awaiting_subject ◀┘        │       └───────────────────────────────────────────────────▶ completed
      │          └───────────────────▶┘
      └─ any open state before purging ─▶ denied (with a basis) | withdrawn

Each transition is a conditional UPDATE on the current status, writes its audit event in the same
transaction, and defers any Celery work to `transaction.on_commit`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.services import message_create
from removal import deadlines
from removal.audit import JsonValue, audit_event_append
from removal.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Channel,
    DenialBasis,
    RemovalRequest,
    RequestJurisdiction,
    Right,
    Status,
    SubjectAsk,
)
from removal.selectors import hash_status_token, removal_request_deadlines
from vault.services import blind_index, data_key_create, data_key_shred, sealer_for

_TABLE = RemovalRequest._meta.db_table
_CONFIRM_SALT = "removal.email-confirmation"
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: read aloud on the phone
NAME_MAX_LENGTH = 200


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit trail records it: never a name or an address."""

    kind: str  # "subject", "staff" or "system"
    id: str = ""

    @classmethod
    def staff(cls, user: object) -> Actor:
        return cls(kind="staff", id=str(getattr(user, "pk", "")))

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


@dataclass
class IntakeResult:
    request: RemovalRequest
    created: bool
    # The status-link secret, present only where this call just issued one; it is never stored.
    status_token: str = field(default="", repr=False)


def _audit(
    request_id: object,
    action: str,
    *,
    actor: Actor,
    details: dict[str, JsonValue] | None = None,
    occurred_at: datetime | None = None,
) -> None:
    audit_event_append(
        actor=str(actor),
        action=f"request.{action}",
        object_type="removal_request",
        object_id=request_id,
        details=details,
        occurred_at=occurred_at,
    )


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _validate_intake(
    *, name: str, email: str, right: str, jurisdictions: list[str], channel: str, received_at: datetime | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [_("Enter your name.")]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [_("Enter at most %(max)d characters.") % {"max": NAME_MAX_LENGTH}]
    try:
        validate_email(email.strip())
    except ValidationError:
        errors["email"] = [_("Enter a valid e-mail address, like name@example.com.")]
    if right not in Right.values:
        errors["right"] = [_("Choose what you want us to do.")]
    if not jurisdictions:
        errors["jurisdictions"] = [_("Choose at least one place whose law applies to you.")]
    elif unknown := sorted(set(jurisdictions) - set(deadlines.JURISDICTIONS)):
        errors["jurisdictions"] = [_("Unknown jurisdiction: %(codes)s.") % {"codes": ", ".join(unknown)}]
    if channel not in Channel.values:
        errors["channel"] = [_("Unknown channel.")]
    if received_at is not None and (timezone.is_naive(received_at) or received_at > timezone.now()):
        errors["received_at"] = [
            _("Enter when the request arrived: a past date and time with its time zone.")
        ]
    return errors


def _new_reference() -> str:
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"RR-{body[:4]}-{body[4:]}"


def _new_status_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_status_token(token)


def status_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('removal:status')}?t={token}"


def confirmation_url(request: RemovalRequest) -> str:
    signed = signing.dumps(str(request.id), salt=_CONFIRM_SALT, compress=False)
    return f"{settings.PUBLIC_BASE_URL}{reverse('removal:confirm_email')}?t={signed}"


def _apply_deadlines(request: RemovalRequest, codes: list[str]) -> None:
    computed = deadlines.compute_deadlines(
        jurisdictions=codes,
        right=request.right,
        received_at=request.received_at,
        policy=deadlines.policy_from_settings(),
    )
    request.clock_started_at = computed.clock_started_at
    request.acknowledge_by = computed.acknowledge_by
    request.respond_by = computed.respond_by
    request.respond_by_extended = computed.respond_by_extended
    request.acknowledge_by_set_by = computed.acknowledge_by_set_by or ""
    request.respond_by_set_by = computed.respond_by_set_by
    request.respond_by_extended_set_by = computed.respond_by_extended_set_by or ""


def _send_to_subject(*, request: RemovalRequest, template: str, context: Mapping[str, object]) -> None:
    sealer = sealer_for(request.data_key)
    email = sealer.open(request.email_enc, table=_TABLE, column="email_enc", row_id=request.id)
    name = sealer.open(request.name_enc, table=_TABLE, column="name_enc", row_id=request.id)
    message_create(
        template=f"removal/emails/{template}",
        to=email,
        context={
            "name": name,
            "reference": request.reference,
            "request": request,
            "deadlines": removal_request_deadlines(request=request),
            **context,
        },
        data_key=request.data_key,
        language=request.language,
        about=f"removal.request:{request.id}",
    )


def removal_request_create(
    *,
    name: str,
    email: str,
    right: str,
    jurisdictions: list[str],
    channel: str,
    actor: Actor,
    language: str = "en",
    received_at: datetime | None = None,
    logged_by: User | None = None,
) -> IntakeResult:
    """Record a request from any channel, or recognise it as a duplicate of an open one.

    A duplicate (same e-mail, same right, still open) gets a fresh status link by e-mail instead of
    a second request. Callers answer both cases alike, so the answer never reveals whether an
    address already has a request with us.
    """
    codes = sorted(set(jurisdictions))
    errors = _validate_intake(
        name=name, email=email, right=right, jurisdictions=codes, channel=channel, received_at=received_at
    )
    if errors:
        raise InvalidRequest(errors)
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    email_index = blind_index(normalise_email(email), purpose="email")
    try:
        with transaction.atomic():
            return _create(
                name=name.strip(),
                email=email.strip(),
                email_index=email_index,
                right=right,
                codes=codes,
                channel=channel,
                actor=actor,
                language=language,
                received_at=received_at or timezone.now(),
                logged_by=logged_by,
            )
    except IntegrityError:
        # Two submissions raced past the duplicate check; the unique index let one through.
        with transaction.atomic():
            existing = _open_duplicate(email_index=email_index, right=right)
            if existing is None:
                raise
            return _handle_duplicate(existing, actor=actor, channel=channel)


def _open_duplicate(*, email_index: str, right: str) -> RemovalRequest | None:
    return (
        RemovalRequest.objects.select_for_update()
        .select_related("data_key")
        .filter(email_blind_index=email_index, right=right, status__in=OPEN_STATUSES)
        .first()
    )


def _create(
    *,
    name: str,
    email: str,
    email_index: str,
    right: str,
    codes: list[str],
    channel: str,
    actor: Actor,
    language: str,
    received_at: datetime,
    logged_by: User | None,
) -> IntakeResult:
    existing = _open_duplicate(email_index=email_index, right=right)
    if existing is not None:
        return _handle_duplicate(existing, actor=actor, channel=channel)

    token, token_hash = _new_status_token()
    request = RemovalRequest(
        reference=_new_reference(),
        right=right,
        channel=channel,
        status=Status.RECEIVED,
        language=language,
        received_at=received_at,
        status_changed_at=timezone.now(),
        data_key=data_key_create(purpose="removal.request"),
        email_blind_index=email_index,
        status_token_hash=token_hash,
        logged_by=logged_by,
    )
    sealer = sealer_for(request.data_key)
    request.name_enc = sealer.seal(name, table=_TABLE, column="name_enc", row_id=request.id)
    request.email_enc = sealer.seal(email, table=_TABLE, column="email_enc", row_id=request.id)
    _apply_deadlines(request, codes)
    request.save(force_insert=True)
    RequestJurisdiction.objects.bulk_create(
        [RequestJurisdiction(request=request, code=code) for code in codes]
    )
    link_context = {"status_url": status_url(token), "confirm_url": confirmation_url(request)}
    _send_to_subject(request=request, template="acknowledgement", context=link_context)
    _send_to_subject(request=request, template="confirm_email", context=link_context)
    # Last: the audit append holds the chain's lock until commit, so keep other work out from under it.
    _audit(
        request.id,
        "received",
        actor=actor,
        details={
            "reference": request.reference,
            "right": right,
            "channel": channel,
            "jurisdictions": list(codes),
        },
    )
    return IntakeResult(request=request, created=True, status_token=token)


def _handle_duplicate(existing: RemovalRequest, *, actor: Actor, channel: str) -> IntakeResult:
    token, token_hash = _new_status_token()
    RemovalRequest.objects.filter(id=existing.id).update(status_token_hash=token_hash)
    existing.status_token_hash = token_hash
    _send_to_subject(request=existing, template="duplicate", context={"status_url": status_url(token)})
    _audit(existing.id, "duplicate_received", actor=actor, details={"channel": channel})
    return IntakeResult(request=existing, created=False, status_token=token)


def removal_request_confirm_email(*, signed_token: str) -> RemovalRequest:
    """Record that the subject controls the address. Raises signing.BadSignature (or its subclass
    SignatureExpired) for a forged or stale link; confirming twice is harmless."""
    request_id = signing.loads(signed_token, salt=_CONFIRM_SALT, max_age=settings.EMAIL_CONFIRMATION_MAX_AGE)
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(id=request_id)
        if request.email_confirmed_at is None:
            request.email_confirmed_at = timezone.now()
            request.save(update_fields=["email_confirmed_at"])
            _audit(request.id, "email_confirmed", actor=SUBJECT)
    return request


# --- Transitions ----------------------------------------------------------------------------------

_BEFORE_PURGE = frozenset(OPEN_STATUSES) - {Status.PURGING}


@dataclass(frozen=True)
class Move:
    name: str
    sources: frozenset[Status]
    target: Status
    only_right: Right | None = None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


MOVES: dict[str, Move] = {
    move.name: move
    for move in (
        Move("ask_subject", frozenset({Status.RECEIVED, Status.VERIFYING}), Status.AWAITING_SUBJECT),
        Move("start_verification", frozenset({Status.RECEIVED, Status.AWAITING_SUBJECT}), Status.VERIFYING),
        Move("verify", frozenset({Status.VERIFYING}), Status.VERIFIED),
        # CCPA §7026 forbids verifying an opt-out of sale or sharing.
        Move("waive_verification", frozenset({Status.RECEIVED}), Status.VERIFIED, only_right=Right.OPT_OUT),
        Move("start_discovery", frozenset({Status.VERIFIED}), Status.DISCOVERING),
        Move("finish_discovery", frozenset({Status.DISCOVERING}), Status.AWAITING_REVIEW),
        Move("approve_purge", frozenset({Status.AWAITING_REVIEW}), Status.PURGING),
        Move("complete_purge", frozenset({Status.PURGING}), Status.COMPLETED),
        Move("complete_opt_out", frozenset({Status.VERIFIED}), Status.COMPLETED, only_right=Right.OPT_OUT),
        Move("deny", _BEFORE_PURGE, Status.DENIED),
        Move("withdraw", _BEFORE_PURGE, Status.WITHDRAWN),
    )
}
assert all(move.target not in CLOSED_STATUSES or move.sources <= OPEN_STATUSES for move in MOVES.values())


def allowed_moves(request: RemovalRequest) -> list[Move]:
    return [
        move
        for move in MOVES.values()
        if request.status in move.sources and (move.only_right is None or move.only_right == request.right)
    ]


def _transition(
    request: RemovalRequest,
    move_name: str,
    *,
    actor: Actor,
    details: dict[str, str] | None = None,
    extra_fields: dict[str, object] | None = None,
) -> RemovalRequest:
    move = MOVES[move_name]
    now = timezone.now()
    with transaction.atomic():
        candidates = RemovalRequest.objects.filter(id=request.id, status__in=move.sources)
        if move.only_right is not None:
            candidates = candidates.filter(right=move.only_right)
        updated = candidates.update(status=move.target, status_changed_at=now, **(extra_fields or {}))
        if not updated:
            current = RemovalRequest.objects.filter(id=request.id).values_list("status", flat=True).first()
            raise IllegalTransition(reference=request.reference, move=move_name, status=current or "deleted")
        _audit(
            request.id,
            move_name,
            actor=actor,
            details={"from": request.status, "to": move.target, **(details or {})},
            occurred_at=now,
        )
    request.refresh_from_db()
    return request


def removal_request_ask_subject(*, request: RemovalRequest, actor: Actor, ask: str) -> RemovalRequest:
    """We need something from the subject (identity information, a clearer photo)."""
    if ask not in SubjectAsk.values:
        raise InvalidRequest({"ask": [_("Choose what we need from the subject.")]})
    return _transition(request, "ask_subject", actor=actor, details={"ask": ask})


def removal_request_start_verification(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "start_verification", actor=actor)


def removal_request_verify(*, request: RemovalRequest, actor: Actor, method: str) -> RemovalRequest:
    return _transition(request, "verify", actor=actor, details={"method": method})


def removal_request_waive_verification(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "waive_verification", actor=actor, details={"method": "not_required"})


def removal_request_start_discovery(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "start_discovery", actor=actor)


def removal_request_finish_discovery(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "finish_discovery", actor=actor)


def removal_request_approve_purge(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "approve_purge", actor=actor)


def removal_request_complete_purge(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "complete_purge", actor=actor)


def removal_request_complete_opt_out(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "complete_opt_out", actor=actor)


def removal_request_deny(
    *, request: RemovalRequest, actor: Actor, basis: str, note: str = ""
) -> RemovalRequest:
    """Refuse the request on a recorded basis. The free-text note is sealed: it may name the subject."""
    if basis not in DenialBasis.values:
        raise InvalidRequest({"basis": [_("Choose the legal basis for the denial.")]})
    if basis == DenialBasis.OTHER_EXEMPTION and not note.strip():
        raise InvalidRequest({"note": [_("Explain which exemption applies.")]})
    sealed_note = (
        sealer_for(request.data_key).seal(
            note.strip(), table=_TABLE, column="denial_note_enc", row_id=request.id
        )
        if note.strip()
        else None
    )
    return _transition(
        request,
        "deny",
        actor=actor,
        details={"basis": basis},
        extra_fields={"denial_basis": basis, "denial_note_enc": sealed_note},
    )


def removal_request_shred_personal_data(*, request: RemovalRequest, actor: Actor) -> bool:
    """Erase the subject's personal data by destroying the request's data key (crypto-shredding).

    Name, address, notes and every e-mail sent about the request become unreadable, in backups too
    once the master key that wrapped the key is retired. Only closed requests: an open one still needs
    its subject's address. Returns False if it was shredded already.
    """
    if request.status not in CLOSED_STATUSES:
        raise IllegalTransition(
            reference=request.reference, move="shred_personal_data", status=request.status
        )
    with transaction.atomic():
        shredded = data_key_shred(data_key=request.data_key)
        if shredded:
            _audit(request.id, "personal_data_shredded", actor=actor)
    return shredded


def removal_request_withdraw(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "withdraw", actor=actor)


_PLAIN_MOVES = {
    "start_verification": removal_request_start_verification,
    "waive_verification": removal_request_waive_verification,
    "start_discovery": removal_request_start_discovery,
    "finish_discovery": removal_request_finish_discovery,
    "approve_purge": removal_request_approve_purge,
    "complete_purge": removal_request_complete_purge,
    "complete_opt_out": removal_request_complete_opt_out,
    "withdraw": removal_request_withdraw,
}


def removal_request_transition(
    *,
    request: RemovalRequest,
    move: str,
    actor: Actor,
    basis: str = "",
    note: str = "",
    ask: str = "",
    method: str = "",
) -> RemovalRequest:
    """Run the move a staff member chose (admin, API) through its own service."""
    if move == "deny":
        return removal_request_deny(request=request, actor=actor, basis=basis, note=note)
    if move == "ask_subject":
        return removal_request_ask_subject(request=request, actor=actor, ask=ask)
    if move == "verify":
        return removal_request_verify(request=request, actor=actor, method=method or "manual_review")
    if move not in _PLAIN_MOVES:
        raise InvalidRequest({"move": [_("Unknown move %(move)s.") % {"move": move}]})
    return _PLAIN_MOVES[move](request=request, actor=actor)
