"""Intake from every channel, duplicate recognition and e-mail confirmation."""

from __future__ import annotations

import secrets
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

from removal import deadlines
from removal.models import (
    OPEN_STATUSES,
    Channel,
    RemovalRequest,
    RequestJurisdiction,
    Right,
    Status,
    StatusLink,
)
from removal.permissions import Action, require
from removal.reminders import reminders_plan
from removal.selectors import REQUEST_TABLE, hash_status_token
from removal.services.common import (
    SUBJECT,
    Actor,
    InvalidRequest,
    audit_request_event,
    normalise_email,
    notify_subject,
)
from removal.services.deadlines import apply_deadlines
from vault.models import DataKey
from vault.services import blind_index, data_key_create, sealer_for

DATA_KEY_PURPOSE = "removal.request"

_CONFIRM_SALT = "removal.email-confirmation"
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: read aloud on the phone
NAME_MAX_LENGTH = 200


@dataclass
class IntakeResult:
    request: RemovalRequest
    created: bool
    # The status-link secret, present only where this call just issued one; it is never stored.
    status_token: str = field(default="", repr=False)


def validate_intake(
    *,
    name: str,
    email: str,
    right: str,
    jurisdictions: list[str],
    channel: str,
    received_at: datetime | None = None,
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


# How many further status links (from duplicate submissions) a request keeps beside its first one.
STATUS_LINKS_KEPT = 5


def _new_status_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_status_token(token)


def status_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('removal:status')}?t={token}"


def confirmation_url(request: RemovalRequest, *, status_token: str = "") -> str:
    """The e-mail's confirmation link. It also carries the status link's secret (the same e-mail holds
    both), so the page after confirming can lead the subject on to their request."""
    signed = signing.dumps(str(request.id), salt=_CONFIRM_SALT, compress=False)
    url = f"{settings.PUBLIC_BASE_URL}{reverse('removal:confirm_email')}?t={signed}"
    return f"{url}&s={status_token}" if status_token else url


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
    suppression_consent: bool = False,
    data_key: DataKey | None = None,
) -> IntakeResult:
    """Record a request from any channel, or recognise it as a duplicate of an open one.

    `data_key` is the key a new request seals its data with (a submission brings its own); a new one
    is made where none is given.

    A duplicate (same e-mail, same right, still open) gets a fresh status link by e-mail instead of
    a second request. Callers answer both cases alike, so the answer never reveals whether an
    address already has a request with us. A duplicate's `suppression_consent` is ignored: the
    subject changes it on their status page, where they are known to be the subject.
    """
    require(actor, Action.LOG_REQUEST)
    codes = sorted(set(jurisdictions))
    errors = validate_intake(
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
                suppression_consent=suppression_consent,
                data_key=data_key,
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
    suppression_consent: bool,
    data_key: DataKey | None,
) -> IntakeResult:
    existing = _open_duplicate(email_index=email_index, right=right)
    if existing is not None:
        return _handle_duplicate(existing, actor=actor, channel=channel)

    token, token_hash = _new_status_token()
    now = timezone.now()
    request = RemovalRequest(
        reference=_new_reference(),
        right=right,
        channel=channel,
        status=Status.RECEIVED,
        language=language,
        received_at=received_at,
        status_changed_at=now,
        data_key=data_key or data_key_create(purpose=DATA_KEY_PURPOSE),
        email_blind_index=email_index,
        status_token_hash=token_hash,
        logged_by=logged_by,
        suppression_consent=suppression_consent,
        suppression_consent_at=now if suppression_consent else None,
    )
    sealer = sealer_for(request.data_key)
    request.name_enc = sealer.seal(name, table=REQUEST_TABLE, column="name_enc", row_id=request.id)
    request.email_enc = sealer.seal(email, table=REQUEST_TABLE, column="email_enc", row_id=request.id)
    apply_deadlines(request, codes)
    request.save(force_insert=True)
    RequestJurisdiction.objects.bulk_create(
        [RequestJurisdiction(request=request, code=code) for code in codes]
    )
    reminders_plan(request=request)
    link_context = {
        "status_url": status_url(token),
        "confirm_url": confirmation_url(request, status_token=token),
    }
    notify_subject(request=request, template="acknowledgement", context=link_context)
    notify_subject(request=request, template="confirm_email", context=link_context)
    audit_request_event(
        request.id,
        "received",
        actor=actor,
        details={
            "reference": request.reference,
            # What a regulator's export reads from the log alone (ledger.exports): when the clock
            # started (staff may log a letter received earlier) and the deadline it gives.
            "received_at": request.received_at.isoformat(),
            "respond_by": request.respond_by.isoformat() if request.respond_by else None,
            "right": right,
            "channel": channel,
            "jurisdictions": list(codes),
            "suppression_consent": suppression_consent,
        },
    )
    return IntakeResult(request=request, created=True, status_token=token)


def _handle_duplicate(existing: RemovalRequest, *, actor: Actor, channel: str) -> IntakeResult:
    # A further link beside the subject's first one, which keeps working: whoever submitted the
    # duplicate may not be the subject, and only the mailbox's owner receives the new link.
    token, token_hash = _new_status_token()
    StatusLink.objects.create(request=existing, token_hash=token_hash, issued_at=timezone.now())
    stale = StatusLink.objects.filter(request=existing).order_by("-issued_at", "-id")[STATUS_LINKS_KEPT:]
    StatusLink.objects.filter(id__in=list(stale.values_list("id", flat=True))).delete()
    notify_subject(request=existing, template="duplicate", context={"status_url": status_url(token)})
    audit_request_event(existing.id, "duplicate_received", actor=actor, details={"channel": channel})
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
            audit_request_event(request.id, "email_confirmed", actor=SUBJECT)
    return request


# --- Transitions ----------------------------------------------------------------------------------
