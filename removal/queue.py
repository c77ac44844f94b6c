"""The privacy team's queue: named views, filters, counts and the page of rows, each in a fixed
number of queries whatever the number of requests (no query per row).

Rows carry what the queue shows and nothing decrypted: reference, state, right, channel,
jurisdictions, dates, the deadline in force and the assignee's username.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from removal.models import OPEN_STATUSES, PurgeJob, RemovalRequest, RequestJurisdiction, Status

PER_PAGE = 50
DUE_SOON_DAYS = 7


@dataclass(frozen=True)
class QueueView:
    name: str
    label: Any  # lazy text
    condition: Any  # callable(now, user) -> Q


def due_in_force() -> Case:
    """The deadline in force: the extended one once taken."""
    return Case(When(extended_at__isnull=False, then=F("respond_by_extended")), default=F("respond_by"))


_OPEN = Q(status__in=sorted(OPEN_STATUSES))

VIEWS: dict[str, QueueView] = {
    view.name: view
    for view in (
        QueueView("open", _("All open"), lambda now, user: _OPEN),
        QueueView(
            "due_soon",
            _("Due within 7 days"),
            lambda now, user: _OPEN & Q(due__gte=now, due__lt=now + timedelta(days=DUE_SOON_DAYS)),
        ),
        QueueView("overdue", _("Overdue"), lambda now, user: _OPEN & Q(due__lt=now)),
        QueueView("identity", _("Identity to review"), lambda now, user: Q(status=Status.VERIFYING)),
        QueueView(
            "candidates", _("Candidates to review"), lambda now, user: Q(status=Status.AWAITING_REVIEW)
        ),
        QueueView("purge_failed", _("Purge jobs failed"), lambda now, user: Q(has_failed_job=True)),
        QueueView(
            "waiting", _("Waiting on the subject"), lambda now, user: Q(status=Status.AWAITING_SUBJECT)
        ),
        QueueView("unassigned", _("Unassigned"), lambda now, user: _OPEN & Q(assignee__isnull=True)),
        QueueView("mine", _("Assigned to me"), lambda now, user: _OPEN & Q(assignee_id=user.pk)),
        QueueView("closed", _("Closed"), lambda now, user: ~_OPEN),
    )
}


@dataclass
class QueueFilters:
    """What the filter form narrows a view to (values already checked against their choices).
    Empty means all."""

    jurisdiction: str = ""
    right: str = ""
    status: str = ""
    assignee: str = ""  # a user id, "me" or "none"
    channel: str = ""
    received_from: date | None = None
    received_to: date | None = None

    def condition(self, user: Any) -> Q:
        q = Q()
        if self.jurisdiction:
            q &= Q(Exists(RequestJurisdiction.objects.filter(request=OuterRef("pk"), code=self.jurisdiction)))
        for name in ("right", "status", "channel"):
            if value := getattr(self, name):
                q &= Q(**{name: value})
        if self.assignee == "me":
            q &= Q(assignee_id=user.pk)
        elif self.assignee == "none":
            q &= Q(assignee__isnull=True)
        elif self.assignee:
            q &= Q(assignee_id=int(self.assignee))
        zone = timezone.get_current_timezone()
        if self.received_from:
            q &= Q(received_at__gte=datetime.combine(self.received_from, time.min, zone))
        if self.received_to:
            q &= Q(received_at__lt=datetime.combine(self.received_to + timedelta(days=1), time.min, zone))
        return q


def _failed_job() -> Exists:
    return Exists(PurgeJob.objects.filter(request=OuterRef("pk"), status=PurgeJob.Status.FAILED))


def _base() -> QuerySet[RemovalRequest]:
    return RemovalRequest.objects.annotate(due=due_in_force(), has_failed_job=_failed_job())


def queue_counts(*, user: Any, filters: QueueFilters | None = None) -> dict[str, int]:
    """How many requests each view holds (under the filters), in two queries: one pass over the
    requests for every view but the failed jobs', and the failed jobs' own (a lookup per request in
    the first would make every count pay for it)."""
    now = timezone.now()
    condition = (filters or QueueFilters()).condition(user)
    plain = {name: view for name, view in VIEWS.items() if name != "purge_failed"}
    counts = (
        RemovalRequest.objects.annotate(due=due_in_force())
        .filter(condition)
        .aggregate(**{name: Count("pk", filter=view.condition(now, user)) for name, view in plain.items()})
    )
    counts["purge_failed"] = RemovalRequest.objects.filter(condition, _failed_job()).count()
    return {name: counts[name] for name in VIEWS}


def queue_page(*, view: str, user: Any, filters: QueueFilters, page: int | str | None = 1) -> Page[Any]:
    """One page of a view, soonest deadline first (closed requests: newest first). Three queries:
    the count, the rows (with their assignee) and the rows' jurisdictions."""
    now = timezone.now()
    queryset = (
        _base()
        .filter(VIEWS[view].condition(now, user), filters.condition(user))
        .select_related("assignee")
        .prefetch_related("jurisdictions")
        .only(
            "id",
            "reference",
            "status",
            "right",
            "channel",
            "received_at",
            "respond_by",
            "respond_by_extended",
            "extended_at",
            "assignee__id",
            "assignee__username",
        )
    )
    if view == "closed":
        queryset = queryset.order_by("-received_at", "id")
    else:
        queryset = queryset.order_by(F("due").asc(nulls_last=True), "received_at", "id")
    return Paginator(queryset, PER_PAGE).get_page(page)


def days_left(due: datetime | None, now: datetime | None = None) -> int | None:
    """Whole days until the deadline in force (negative once it passed)."""
    if due is None:
        return None
    return (due - (now or timezone.now())).days


def assignable_staff() -> list[tuple[int, str]]:
    """Active staff accounts that may work requests (the assignee choices), by username."""
    from django.contrib.auth import get_user_model

    may_work = Q(is_superuser=True) | Q(
        groups__permissions__codename__in=["work_assigned_request", "work_any_request"],
        groups__permissions__content_type__app_label="removal",
    )
    users = get_user_model().objects.filter(may_work, is_active=True, is_staff=True).distinct()
    return list(users.order_by("username").values_list("pk", "username"))
