"""Yearly figures of the request log (CCPA regulations §7102; GDPR Art. 12(3) answers per authority).

Computed from the log's events alone, through the same rows a regulator's export holds
(ledger.exports.request_rows), so every figure can be recomputed from a bundle. Only requests received
in the calendar year (UTC) and already in a signed checkpoint count.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.exports import request_rows
from ledger.models import Checkpoint

# The authorities whose one-month rule (extendable once) the GDPR side reports on.
GDPR_AUTHORITIES = ("EU", "GB")


@dataclass
class RightFigures:
    received: int = 0
    complied: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    withdrawn: int = 0
    open: int = 0
    days: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "complied_in_whole_or_in_part": self.complied,
            "denied": sum(self.denied.values()),
            "denied_by_basis": dict(sorted(self.denied.items())),
            "withdrawn": self.withdrawn,
            "open": self.open,
            "median_days_to_response": round(statistics.median(self.days), 1) if self.days else None,
            "mean_days_to_response": round(statistics.fmean(self.days), 1) if self.days else None,
        }


@dataclass
class AuthorityFigures:
    received: int = 0
    answered_in_time_without_extension: int = 0
    extended: Counter[str] = field(default_factory=Counter)
    late: int = 0
    open: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "answered_within_the_deadline_without_extension": self.answered_in_time_without_extension,
            "extended": sum(self.extended.values()),
            "extended_by_reason": dict(sorted(self.extended.items())),
            "answered_late": self.late,
            "open": self.open,
        }


def yearly_metrics(year: int) -> dict[str, Any]:
    """The year's figures as JSON-ready data; also what /transparency/<year>/ shows."""
    checkpoint = Checkpoint.objects.order_by("-tree_size").first()
    size = checkpoint.tree_size if checkpoint else 0
    rights: dict[str, RightFigures] = defaultdict(RightFigures)
    authorities = {code: AuthorityFigures() for code in GDPR_AUTHORITIES}
    monthly: Counter[int] = Counter()
    on_time: Counter[str] = Counter()
    since, until = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    for row, _ in request_rows(since=since, until=until, jurisdictions=set(), size=size):
        received_at = datetime.fromisoformat(str(row["received_at"]))
        monthly[received_at.month] += 1
        figures = rights[str(row["right"])]
        figures.received += 1
        response = row["response"]
        if response == "complied":
            figures.complied += 1
        elif response == "denied":
            figures.denied[str(row["denial_basis"]) or "unstated"] += 1
        elif response == "withdrawn":
            figures.withdrawn += 1
        else:
            figures.open += 1
        if response in ("complied", "denied"):
            answered = datetime.fromisoformat(str(row["responded_at"]))
            figures.days.append((answered - received_at).total_seconds() / 86400)
            on_time[str(row["on_time"])] += 1
        for code in set(str(row["jurisdictions"]).split()) & set(GDPR_AUTHORITIES):
            authority = authorities[code]
            authority.received += 1
            if row["extended"] == "yes":
                authority.extended[str(row["extension_reason"]) or "unstated"] += 1
            if not response:
                authority.open += 1
            elif row["on_time"] == "no":
                authority.late += 1
            elif row["on_time"] == "yes" and row["extended"] == "no":
                authority.answered_in_time_without_extension += 1
    all_days = sorted(day for figures in rights.values() for day in figures.days)
    return {
        "year": year,
        "tree_size": size,
        "checkpoint": checkpoint.note if checkpoint else None,
        "rights": {right: figures.as_json() for right, figures in sorted(rights.items())},
        "authorities": {code: figures.as_json() for code, figures in authorities.items()},
        "monthly_received": [monthly[month] for month in range(1, 13)],
        "answered_on_time": on_time["yes"],
        "answered_late": on_time["no"],
        "days_to_response_histogram": _histogram(all_days),
    }


# Buckets of the days-to-response chart: within a week, two, a month, 45 days, 90 days, later.
_BUCKETS = (7, 14, 30, 45, 90)


def _histogram(days: list[float]) -> list[dict[str, Any]]:
    counts = [0] * (len(_BUCKETS) + 1)
    for day in days:
        counts[next((i for i, limit in enumerate(_BUCKETS) if day <= limit), len(_BUCKETS))] += 1
    labels = [f"≤ {limit}" for limit in _BUCKETS] + [f"> {_BUCKETS[-1]}"]
    return [{"days": label, "requests": count} for label, count in zip(labels, counts, strict=True)]
