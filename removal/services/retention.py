"""The nightly retention sweep: what is kept past its time is removed, and the sweep fails loudly.

`retention_sweep` runs every part below, each on its own, so one that fails does not stop the others:

- *request records*: a closed request's record is kept REQUEST_RECORD_RETENTION_MONTHS (24: CCPA
  regulations §7101(a)), then minimised: its data key is destroyed if the purge did not already
  (name, address, notes and messages become unreadable), and everything that could still single out
  the person or reopen the request goes: the e-mail blind index, the status link's hash, the sealed
  denial note, who logged and who handled it, its candidates and reminders. What stays is what the
  request log and the yearly figures already say: reference, right, channel, jurisdictions, dates and
  outcome;
- *personal data* of a completed request still readable a day after REQUEST_PERSONAL_DATA_RETENTION_DAYS:
  its after-completion purge job failed or never ran; the data key is shredded now (not while a
  message about the request is still unsent: that is a failure, named by reference);
- *verification artefacts*: the sealed headshot (and its embedding) and discovery's candidate scores
  of a request closed more than VERIFICATION_ARTEFACT_HOURS (24) ago. The purge and the closing moves
  delete them already; this is the net under them (a headshot stored while the request was closing);
- *suppression templates* past SUPPRESSION_RETENTION_DAYS (removal.services.suppression);
- *the erasure journal*'s days past ERASURE_JOURNAL_RETENTION_DAYS (removal.erasure_journal).

A part that fails leaves what it could not remove as it was; the privacy team is mailed once (part
names and references only), and the task and `manage.py retention_sweep` end in an error (non-zero
exit), so a monitor on either sees it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from identity import selectors as identity_selectors
from identity import services as identity_services
from notifications.selectors import messages_unsent
from notifications.services import message_create
from removal.erasure_journal import erasure_journal_prune
from removal.models import (
    CLOSED_STATUSES,
    Candidate,
    Reminder,
    RemovalRequest,
    RequestNote,
    Status,
    StatusLink,
)
from removal.services.common import SYSTEM, audit_request_event, request_id_of, subject_ref
from removal.services.lifecycle import removal_request_shred_personal_data
from removal.services.suppression import suppression_entries_expire
from vault.services import data_key_create, data_key_shred

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RetentionFailed(RuntimeError):
    """Some part of the sweep could not remove what is past its retention; the message names the
    parts, and records by reference only."""


@dataclass
class MinimiseResult:
    minimised: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    records: MinimiseResult = field(default_factory=MinimiseResult)
    personal_data_shredded: int = 0
    artefacts_removed: int = 0
    suppression_expired: int = 0
    journal_pruned: int = 0
    # One line per failure: a part's name, with the references it could not minimise.
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"records minimised: {len(self.records.minimised)}; overdue personal data shredded: "
            f"{self.personal_data_shredded}; closed requests' verification artefacts "
            f"removed: {self.artefacts_removed}; suppression templates expired: {self.suppression_expired}; "
            f"erasure journal entries pruned: {self.journal_pruned}"
        )


def retention_sweep(*, now: datetime | None = None, limit: int = 500) -> SweepResult:
    """Run every part (module docstring); raise RetentionFailed, after mailing staff, if any failed."""
    now = now or timezone.now()
    result = SweepResult()
    records = _part(result, "request records", lambda: request_records_minimise(now=now, limit=limit))
    if records is not None:
        result.records = records
        if records.failed:
            names = ", ".join(records.failed)
            result.failed.append(f"{len(records.failed)} record(s) past retention not minimised: {names}")
    shredded = _part(result, "personal data", lambda: personal_data_overdue_shred(now=now, limit=limit))
    if shredded is not None:
        result.personal_data_shredded = len(shredded.minimised)
        if shredded.failed:
            result.failed.append(f"personal data past retention not shredded: {', '.join(shredded.failed)}")
    result.artefacts_removed = (
        _part(result, "verification artefacts", lambda: verification_artefacts_remove(now=now)) or 0
    )
    result.suppression_expired = (
        _part(result, "suppression templates", lambda: suppression_entries_expire(now=now)) or 0
    )
    result.journal_pruned = _part(result, "erasure journal", lambda: erasure_journal_prune(now=now)) or 0
    if result.failed:
        _alert_staff(result, now=now)
        raise RetentionFailed("retention sweep incomplete: " + "; ".join(result.failed))
    return result


def _part(result: SweepResult, name: str, run: Callable[[], T]) -> T | None:
    """One part of the sweep; a failure is logged (the class and traceback: a message may quote a
    path or a key) and named in `result.failed`, and the sweep goes on."""
    try:
        return run()
    except Exception:
        logger.exception("retention: the %s could not be swept", name)
        result.failed.append(f"{name}: not swept")
        return None


def months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month])
    return moment.replace(year=year, month=month + 1, day=day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def request_records_minimise(*, now: datetime | None = None, limit: int = 500) -> MinimiseResult:
    """Minimise up to `limit` records past their retention; those that resisted are in `failed`."""
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
    return result


def personal_data_overdue_shred(*, now: datetime | None = None, limit: int = 500) -> MinimiseResult:
    """Completed requests whose personal data outlived REQUEST_PERSONAL_DATA_RETENTION_DAYS by more
    than a day: their after-completion purge job failed or never ran. Shred it now, unless a message
    about the request is still unsent (then the reference is in `failed`)."""
    now = now or timezone.now()
    overdue = now - timedelta(days=settings.REQUEST_PERSONAL_DATA_RETENTION_DAYS + 1)
    due = RemovalRequest.objects.filter(
        status=Status.COMPLETED, status_changed_at__lt=overdue, data_key__shredded_at__isnull=True
    ).select_related("data_key")
    result = MinimiseResult()
    for request in due.order_by("status_changed_at")[:limit]:
        try:
            if messages_unsent(about=subject_ref(request)):
                raise RuntimeError("messages about the request are still in the outbox")
            removal_request_shred_personal_data(request=request, actor=SYSTEM)
            result.minimised.append(request.reference)
        except Exception:
            logger.exception("retention: could not shred the personal data of %s", request.reference)
            result.failed.append(request.reference)
    return result


def verification_artefacts_remove(*, now: datetime | None = None) -> int:
    """The headshots and candidate scores still held for requests closed VERIFICATION_ARTEFACT_HOURS
    ago or more; returns how many requests had any."""
    now = now or timezone.now()
    closed = RemovalRequest.objects.filter(
        status__in=CLOSED_STATUSES,
        status_changed_at__lt=now - timedelta(hours=settings.VERIFICATION_ARTEFACT_HOURS),
    )
    with_candidates = set(closed.filter(candidates__isnull=False).values_list("id", flat=True))
    probed = {
        request_id
        for ref in identity_selectors.headshot_probe_subject_refs()
        if (request_id := request_id_of(ref)) is not None
    }
    with_probe = set(closed.filter(id__in=probed).values_list("id", flat=True))
    for request_id in sorted(with_candidates | with_probe, key=str):
        with transaction.atomic():
            Candidate.objects.filter(request_id=request_id).delete()
            identity_services.headshot_probe_destroy(subject_ref=subject_ref(RemovalRequest(id=request_id)))
    return len(with_candidates | with_probe)


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


def _alert_staff(result: SweepResult, *, now: datetime) -> None:
    with transaction.atomic():
        message_create(
            template="removal/emails/retention_failed",
            to=settings.PRIVACY_TEAM_EMAIL,
            context={"failed": result.failed, "done": result.summary(), "now": now},
            data_key=data_key_create(purpose="removal.retention_alert"),
            language=settings.LANGUAGE_CODE,
            about="removal.retention",
        )
