"""Deadlines on a request: computed at intake, restarted when identity arrives, extended once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from removal import deadlines
from removal.models import OPEN_STATUSES, ExtensionReason, RemovalRequest
from removal.permissions import Action, require
from removal.reminders import reminders_plan
from removal.services.common import (
    Actor,
    IllegalTransition,
    InvalidRequest,
    audit_request_event,
    notify_subject,
)

_DEADLINE_FIELDS = [
    "clock_started_at",
    "acknowledge_by",
    "respond_by",
    "respond_by_extended",
    "acknowledge_by_set_by",
    "respond_by_set_by",
    "respond_by_extended_set_by",
]


def apply_deadlines(request: RemovalRequest, codes: list[str]) -> None:
    """Compute the request's deadlines from the spec's rules and what we know of its identity clock."""
    computed = deadlines.compute_deadlines(
        jurisdictions=codes,
        right=request.right,
        received_at=request.received_at,
        identity_requested_at=request.identity_requested_at,
        identity_received_at=request.identity_received_at,
        identity_doubt_recorded=bool(request.identity_doubt),
        policy=deadlines.policy_from_settings(),
    )
    request.clock_started_at = computed.clock_started_at
    request.acknowledge_by = computed.acknowledge_by
    request.respond_by = computed.respond_by
    request.respond_by_extended = computed.respond_by_extended
    request.acknowledge_by_set_by = computed.acknowledge_by_set_by or ""
    request.respond_by_set_by = computed.respond_by_set_by
    request.respond_by_extended_set_by = computed.respond_by_extended_set_by or ""


def _codes(request: RemovalRequest) -> list[str]:
    return sorted(j.code for j in request.jurisdictions.all())


def removal_request_record_identity_received(
    *, request: RemovalRequest, actor: Actor, received_at: datetime | None = None
) -> RemovalRequest:
    """The identity information we asked for arrived. Under UK GDPR the month starts now; under EU GDPR
    too where the soft-pause policy's conditions hold (asked within 3 working days, doubt recorded)."""
    require(actor, Action.WORK, request)
    received_at = received_at or timezone.now()
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(id=request.id)
        if request.identity_requested_at is None:
            raise InvalidRequest({"identity": [_("We did not ask this subject for identity information.")]})
        if request.identity_received_at is not None:
            raise InvalidRequest(
                {"identity": [_("The identity information was already recorded as received.")]}
            )
        # Staff enter times to the minute: the minute we asked in counts as "after we asked".
        asked_minute = request.identity_requested_at.replace(second=0, microsecond=0)
        if received_at < asked_minute or received_at > timezone.now():
            raise InvalidRequest(
                {
                    "received_at": [
                        _("The date it arrived must be after we asked for it, and not in the future.")
                    ]
                }
            )
        received_at = max(received_at, request.identity_requested_at)
        before = request.respond_by
        request.identity_received_at = received_at
        apply_deadlines(request, _codes(request))
        request.save(update_fields=["identity_received_at", *_DEADLINE_FIELDS])
        reminders_plan(request=request)
        audit_request_event(
            request.id,
            "identity_received",
            actor=actor,
            details={
                "respond_by_before": before.isoformat() if before else None,
                "respond_by": request.respond_by.isoformat() if request.respond_by else None,
            },
        )
    return request


def _local(instant: datetime | None, code: str) -> datetime | None:
    if instant is None or code not in deadlines.JURISDICTIONS:
        return instant
    return instant.astimezone(ZoneInfo(deadlines.JURISDICTIONS[code].zone))


def removal_request_extend(*, request: RemovalRequest, actor: Actor, reason: str) -> RemovalRequest:
    """Take the one extension the law allows, with a reason, and tell the subject in the same step.

    Refused where no named jurisdiction allows one, once the original deadline has passed (the notice
    must reach the subject by then), or a second time.
    """
    require(actor, Action.EXTEND, request)
    if reason not in ExtensionReason.values:
        raise InvalidRequest({"reason": [_("Choose why the request needs more time.")]})
    now = timezone.now()
    with transaction.atomic():
        updated = RemovalRequest.objects.filter(
            id=request.id,
            status__in=OPEN_STATUSES,
            extended_at__isnull=True,
            respond_by_extended__isnull=False,
            respond_by__gte=now,
        ).update(extended_at=now, extension_reason=reason)
        request = RemovalRequest.objects.select_related("data_key").get(id=request.id)
        if not updated:
            raise IllegalTransition(
                reference=request.reference, move="extend", status=_why_not_extendable(request, now)
            )
        reminders_plan(request=request, now=now)
        notify_subject(
            request=request,
            template="extension",
            context={
                "reason": ExtensionReason(reason).label,
                "new_due": _local(request.respond_by_extended, request.respond_by_extended_set_by),
                "old_due": _local(request.respond_by, request.respond_by_set_by),
            },
        )
        audit_request_event(
            request.id,
            "extended",
            actor=actor,
            details={
                "reason": reason,
                "respond_by_extended": request.response_due.isoformat() if request.response_due else None,
            },
            occurred_at=now,
        )
    return request


def _why_not_extendable(request: RemovalRequest, now: datetime) -> str:
    if request.status not in OPEN_STATUSES:
        return request.status
    if request.extended_at is not None:
        return "already extended once"
    if request.respond_by_extended is None:
        codes = ", ".join(_codes(request))
        return f"under {codes}: no extension is allowed"
    due = _local(request.respond_by, request.respond_by_set_by)
    return f"past its original deadline ({due:%Y-%m-%d %Z}): an extension had to be taken by then"
