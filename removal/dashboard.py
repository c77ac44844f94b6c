"""The privacy team's dashboard figures: requests per week by right, open requests by state, the
on-time rate and the median days to answer of the requests closed in the period, and what is overdue
now. A handful of aggregate queries whatever the number of requests."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from removal.models import CLOSED_STATUSES, OPEN_STATUSES, RemovalRequest, Right, Status
from removal.queue import due_in_force

WEEKS = 12


@dataclass(frozen=True)
class Dashboard:
    weeks: list[datetime]  # the Monday of each week, oldest first
    per_week: dict[str, list[int]]  # right → requests received each week
    open_by_state: list[tuple[str, int]]  # (state label, count), in lifecycle order
    closed: int  # closed in the period
    on_time: int  # of which answered by the deadline in force
    median_days: float | None  # from receipt to the answer, closed in the period
    overdue_now: int


def dashboard_figures(*, now: datetime | None = None, weeks: int = WEEKS) -> Dashboard:
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    first_monday = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    start = timezone.make_aware(datetime.combine(first_monday, datetime.min.time()))
    mondays = [start + timedelta(weeks=i) for i in range(weeks)]

    received = (
        RemovalRequest.objects.filter(received_at__gte=start)
        .annotate(week=TruncWeek("received_at"))
        .values("week", "right")
        .annotate(n=Count("id"))
    )
    per_week = {right: [0] * weeks for right in Right.values}
    for row in received:
        index = (row["week"].date() - first_monday).days // 7
        if 0 <= index < weeks:
            per_week[row["right"]][index] += row["n"]

    open_counts = dict(
        RemovalRequest.objects.filter(status__in=sorted(OPEN_STATUSES))
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    open_by_state = [
        (str(status.label), open_counts.get(status.value, 0)) for status in Status if status in OPEN_STATUSES
    ]

    closed = RemovalRequest.objects.annotate(due=due_in_force()).filter(
        status__in=sorted(CLOSED_STATUSES), status_changed_at__gte=start
    )
    totals = closed.aggregate(
        closed=Count("id"), on_time=Count("id", filter=Q(status_changed_at__lte=F("due")))
    )
    days = [
        (answered - received_at).total_seconds() / 86400
        for received_at, answered in closed.values_list("received_at", "status_changed_at").iterator()
        if answered and received_at
    ]
    overdue = RemovalRequest.objects.annotate(due=due_in_force()).filter(
        status__in=sorted(OPEN_STATUSES), due__lt=now
    )
    return Dashboard(
        weeks=mondays,
        per_week=per_week,
        open_by_state=open_by_state,
        closed=totals["closed"],
        on_time=totals["on_time"],
        median_days=round(statistics.median(days), 1) if days else None,
        overdue_now=overdue.count(),
    )
