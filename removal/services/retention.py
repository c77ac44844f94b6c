"""Minimising closed requests' records once their retention has run out (the nightly sweeper).

A closed request's record is kept REQUEST_RECORD_RETENTION_MONTHS (24: CCPA regulations §7101(a)),
then minimised: its data key is destroyed if the purge did not already (name, address, notes and
messages become unreadable), and everything that could still single out the person or reopen the
request goes: the e-mail blind index, the status link's hash, the sealed denial note, who logged and
who handled it, its candidates and reminders. What stays is what the request log and the yearly figures
already say: reference, right, channel, jurisdictions, dates and outcome.

The sweeper fails loudly: a request it cannot minimise stays as it was, the privacy team is mailed,
and the task and `manage.py minimise_request_records` end in an error (non-zero exit).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.services import message_create
from removal.models import CLOSED_STATUSES, Candidate, Reminder, RemovalRequest, RequestNote, StatusLink
from removal.services.common import SYSTEM, audit_request_event
from vault.services import data_key_create, data_key_shred

logger = logging.getLogger(__name__)


class RetentionFailed(RuntimeError):
    """Some records could not be minimised; the message names them by reference only."""


@dataclass
class MinimiseResult:
    minimised: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month])
    return moment.replace(year=year, month=month + 1, day=day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def request_records_minimise(*, now: datetime | None = None, limit: int = 500) -> MinimiseResult:
    """Minimise up to `limit` records past their retention; raise RetentionFailed if any resisted."""
    now = now or timezone.now()
    cutoff = months_before(now, settings.REQUEST_RECORD_RETENTION_MONTHS)
    due = RemovalRequest.objects.filter(
        status__in=CLOSED_STATUSES, status_changed_at__lt=cutoff, record_minimised_at__isnull=True
    ).order_by("status_changed_at")
    result = MinimiseResult()
    for request_id, reference in due.values_list("id", "reference")[:limit]:
        try:
            if _minimise(request_id, now=now):
                result.minimised.append(reference)
        except Exception:
            # Named by reference only: the record is pseudonymous, its personal data stays sealed.
            logger.exception("retention: could not minimise the record of %s", reference)
            result.failed.append(reference)
    if result.failed:
        _alert_staff(result, now=now)
        names = ", ".join(result.failed)
        raise RetentionFailed(
            f"{len(result.failed)} record(s) past retention could not be minimised: {names}"
        )
    return result


def _minimise(request_id: uuid.UUID, *, now: datetime) -> bool:
    with transaction.atomic():
        request = (
            RemovalRequest.objects.select_for_update()
            .select_related("data_key")
            .filter(id=request_id, record_minimised_at__isnull=True)
            .first()
        )
        if request is None:
            return False  # another sweeper got there first
        data_key_shred(data_key=request.data_key)
        Candidate.objects.filter(request_id=request.id).delete()
        Reminder.objects.filter(request_id=request.id).delete()
        StatusLink.objects.filter(request_id=request.id).delete()
        RequestNote.objects.filter(request_id=request.id).delete()
        RemovalRequest.objects.filter(id=request.id).update(
            email_blind_index="",
            status_token_hash=f"minimised:{uuid.uuid4().hex}",
            denial_note_enc=None,
            assignee=None,
            logged_by=None,
            pending_ask="",
            identity_doubt="",
            record_minimised_at=now,
        )
        audit_request_event(
            request.id,
            "record_minimised",
            actor=SYSTEM,
            details={"retention_months": settings.REQUEST_RECORD_RETENTION_MONTHS},
        )
    return True


def _alert_staff(result: MinimiseResult, *, now: datetime) -> None:
    with transaction.atomic():
        message_create(
            template="removal/emails/retention_failed",
            to=settings.PRIVACY_TEAM_EMAIL,
            context={"failed": result.failed, "minimised": len(result.minimised), "now": now},
            data_key=data_key_create(purpose="removal.retention_alert"),
            language=settings.LANGUAGE_CODE,
            about="removal.retention",
        )
