"""Deadline reminders to staff (docs/spec/deadlines.md, "Reminders"): planning, the sweep, the daily digest.

Reminder rows are planned in the transaction that sets a request's deadlines. The beat sweep reads only
rows that are due (a partial index on `due_at` of pending rows), claims each with a conditional UPDATE
and, in one transaction, queues the outbox message and marks the row sent: two sweeps running at once
send each reminder once. A reminder whose deadline was met by the time it is due is cancelled instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications.selectors import message_was_sent
from notifications.services import message_create
from removal.deadlines import JURISDICTIONS
from removal.models import OPEN_STATUSES, DeadlineKind, Reminder, RemovalRequest
from removal.services.common import assignee_address, subject_ref
from vault.services import data_key_create

logger = logging.getLogger(__name__)

_LEASE = timedelta(minutes=5)
ACKNOWLEDGEMENT_TEMPLATE = "removal/emails/acknowledgement"


def _points_before() -> tuple[int, ...]:
    return tuple(sorted(settings.REMINDER_DAYS_BEFORE, reverse=True))


def _start_of_local_day(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))


@dataclass(frozen=True)
class _Deadline:
    kind: DeadlineKind
    due: datetime
    zone: str

    @property
    def local_due(self) -> datetime:
        return self.due.astimezone(ZoneInfo(self.zone))


def _open_deadlines(request: RemovalRequest) -> list[_Deadline]:
    """The hard deadlines a request still has to meet, each with the zone of the law that set it."""

    def zone(code: str) -> str:
        return JURISDICTIONS[code].zone if code in JURISDICTIONS else "UTC"

    found: list[_Deadline] = []
    if request.acknowledge_by:
        found.append(
            _Deadline(DeadlineKind.ACKNOWLEDGE, request.acknowledge_by, zone(request.acknowledge_by_set_by))
        )
    if request.extended_at and request.respond_by_extended:
        found.append(
            _Deadline(
                DeadlineKind.RESPOND_EXTENDED,
                request.respond_by_extended,
                zone(request.respond_by_extended_set_by),
            )
        )
    elif request.respond_by:
        found.append(_Deadline(DeadlineKind.RESPOND, request.respond_by, zone(request.respond_by_set_by)))
        if request.respond_by_extended:
            found.append(
                _Deadline(
                    DeadlineKind.EXTENSION_DECISION, request.respond_by, zone(request.respond_by_set_by)
                )
            )
    return found


def _planned_points(deadline: _Deadline, now: datetime) -> list[tuple[int, datetime]]:
    due_day = deadline.due.astimezone(ZoneInfo(deadline.zone)).date()
    if deadline.kind == DeadlineKind.EXTENSION_DECISION:
        days = settings.EXTENSION_DECISION_ALARM_DAYS
        return [(days, _start_of_local_day(due_day - timedelta(days=days), deadline.zone))]
    points = [
        (days, _start_of_local_day(due_day - timedelta(days=days), deadline.zone))
        for days in _points_before()
    ]
    # The first overdue reminder: the start of the first local day after the due day. Later ones are
    # planned one at a time as each is sent, so a request that closes stops them at once.
    points.append((-1, _start_of_local_day(due_day + timedelta(days=1), deadline.zone)))
    return points


def reminders_plan(*, request: RemovalRequest, now: datetime | None = None) -> int:
    """(Re)plan a request's reminders after its deadlines were set or moved. Call inside its transaction.

    Pending reminders are replaced; a point already sent is never planned again (at most once per
    request, deadline and point). Points that passed before planning are skipped, except that an
    already overdue deadline gets its first overdue reminder now.
    """
    now = now or timezone.now()
    Reminder.objects.filter(request=request, status=Reminder.Status.PENDING).delete()
    if request.status not in OPEN_STATUSES:
        return 0
    rows = []
    for deadline in _open_deadlines(request):
        for days_before, due_at in _planned_points(deadline, now):
            if days_before < 0 and deadline.due < now:
                due_at = max(due_at, now)
            elif due_at <= now:
                continue
            rows.append(
                Reminder(request=request, deadline=deadline.kind, days_before=days_before, due_at=due_at)
            )
    created = Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def reminders_cancel(*, request: RemovalRequest) -> int:
    """The request closed: every deadline is met, nothing more is sent."""
    return Reminder.objects.filter(request=request, status=Reminder.Status.PENDING).update(
        status=Reminder.Status.CANCELLED
    )


def _deadline_met(reminder: Reminder, now: datetime) -> bool:
    request = reminder.request
    if request.status not in OPEN_STATUSES:
        return True
    if reminder.deadline == DeadlineKind.ACKNOWLEDGE:
        return message_was_sent(about=subject_ref(request), template=ACKNOWLEDGEMENT_TEMPLATE)
    if reminder.deadline == DeadlineKind.EXTENSION_DECISION:
        # Moot once taken, and once the original deadline passed: the extension can no longer be taken.
        return request.extended_at is not None or (
            request.respond_by is not None and request.respond_by < now
        )
    if reminder.deadline == DeadlineKind.RESPOND:
        # Once extended, the extended deadline's own reminders take over.
        return request.extended_at is not None
    return False


def request_admin_url(request: RemovalRequest) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('admin:removal_removalrequest_change', args=[request.id])}"


def _superseded(reminder: Reminder, now: datetime) -> bool:
    """After downtime several points of one deadline can be due at once: only the latest is worth sending."""
    return Reminder.objects.filter(
        request_id=reminder.request_id,
        deadline=reminder.deadline,
        status=Reminder.Status.PENDING,
        due_at__lte=now,
        days_before__lt=reminder.days_before,
    ).exists()


def _cancel(reminder: Reminder) -> None:
    Reminder.objects.filter(id=reminder.id, status=Reminder.Status.SENDING).update(
        status=Reminder.Status.CANCELLED, lease_expires_at=None
    )


def _send(reminder: Reminder, now: datetime) -> bool:
    """Queue one claimed reminder, or cancel it if its deadline was met. Returns True if queued."""
    request = (
        RemovalRequest.objects.select_related("assignee", "data_key").filter(id=reminder.request_id).first()
    )
    if request is None:
        return False  # the request is gone, and its reminders with it
    reminder.request = request
    deadline = _open_deadline(request, DeadlineKind(reminder.deadline))
    with transaction.atomic():
        if deadline is None or _deadline_met(reminder, now) or _superseded(reminder, now):
            _cancel(reminder)
            return False
        zone = ZoneInfo(deadline.zone)
        due = deadline.local_due
        # Counted at sending time, so a reminder delayed by downtime still tells the truth.
        days_late = (now.astimezone(zone).date() - due.date()).days
        assignee_email = assignee_address(request)
        message_create(
            template="removal/emails/staff_reminder",
            to=assignee_email or settings.PRIVACY_TEAM_EMAIL,
            context={
                "reference": request.reference,
                "deadline": DeadlineKind(reminder.deadline).label,
                "kind": reminder.deadline,
                "point": reminder.point_label,
                "days_before": reminder.days_before,
                "days_late": days_late,
                "due": due,
                "status": request.get_status_display(),
                "admin_url": request_admin_url(request),
                "extension_available": bool(request.respond_by_extended and not request.extended_at),
            },
            data_key=request.data_key,
            language=settings.LANGUAGE_CODE,
            about=subject_ref(request),
        )
        Reminder.objects.filter(id=reminder.id, status=Reminder.Status.SENDING).update(
            status=Reminder.Status.SENT,
            sent_at=now,
            lease_expires_at=None,
            recipient_kind="assignee" if assignee_email else "team",
        )
        if reminder.days_before < 0:
            # Daily once overdue: plan the next local midnight's, cancelled if the request closes first.
            Reminder.objects.bulk_create(
                [
                    Reminder(
                        request=request,
                        deadline=reminder.deadline,
                        days_before=-(days_late + 1),
                        due_at=_start_of_local_day(
                            now.astimezone(zone).date() + timedelta(days=1), deadline.zone
                        ),
                    )
                ],
                ignore_conflicts=True,
            )
    return True


def _open_deadline(request: RemovalRequest, kind: DeadlineKind) -> _Deadline | None:
    return next((d for d in _open_deadlines(request) if d.kind == kind), None)


def reminder_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Send every reminder that is due. Safe to run concurrently; returns how many this run queued."""
    now = now or timezone.now()
    Reminder.objects.filter(status=Reminder.Status.SENDING, lease_expires_at__lt=now).update(
        status=Reminder.Status.PENDING, lease_expires_at=None
    )
    due_ids = list(
        Reminder.objects.filter(status=Reminder.Status.PENDING, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )
    queued = 0
    for reminder_id in due_ids:
        claimed = Reminder.objects.filter(id=reminder_id, status=Reminder.Status.PENDING).update(
            status=Reminder.Status.SENDING, lease_expires_at=now + _LEASE
        )
        if not claimed:
            # Another sweep claimed it between our read and this update.
            continue
        reminder = Reminder.objects.filter(id=reminder_id).first()
        if reminder is not None:
            queued += _send(reminder, now)
    return queued


@dataclass(frozen=True)
class DigestRow:
    reference: str
    status: str
    due: datetime
    extended: bool
    assignee: str
    admin_url: str


def reminder_digest(*, now: datetime | None = None) -> int:
    """The daily digest to the privacy team: open requests overdue or due within the next 7 days."""
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.REMINDER_DIGEST_DAYS)
    requests = (
        RemovalRequest.objects.filter(status__in=OPEN_STATUSES)
        .filter(
            Q(extended_at__isnull=True, respond_by__lte=horizon)
            | Q(extended_at__isnull=False, respond_by_extended__lte=horizon)
        )
        .select_related("assignee")
        .order_by("respond_by")
    )
    overdue: list[DigestRow] = []
    due_soon: list[DigestRow] = []
    for request in requests:
        kind = DeadlineKind.RESPOND_EXTENDED if request.extended_at else DeadlineKind.RESPOND
        deadline = _open_deadline(request, kind)
        if deadline is None:
            continue
        due = deadline.local_due
        row = DigestRow(
            reference=request.reference,
            status=request.get_status_display(),
            due=due,
            extended=request.extended_at is not None,
            assignee=request.assignee.get_username() if request.assignee else "",
            admin_url=request_admin_url(request),
        )
        (overdue if due < now else due_soon).append(row)
    if not overdue and not due_soon:
        return 0
    with transaction.atomic():
        message_create(
            template="removal/emails/staff_digest",
            to=settings.PRIVACY_TEAM_EMAIL,
            context={
                "overdue": overdue,
                "due_soon": due_soon,
                "days": settings.REMINDER_DIGEST_DAYS,
                "now": now,
            },
            data_key=data_key_create(purpose="removal.digest"),
            language=settings.LANGUAGE_CODE,
            about="removal.digest",
        )
    return len(overdue) + len(due_soon)
