"""§7102 figures of a seeded year, against numbers computed here from the seed itself."""

from __future__ import annotations

import random
import statistics
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from ledger.metrics import yearly_metrics
from ledger.services import event_append, ledger_sequence

pytestmark = pytest.mark.django_db
BASES = ["identity_not_verified", "manifestly_unfounded", "legal_obligation"]
REASONS = ["complexity", "number_of_requests", "volume_of_data"]


@dataclass
class Seeded:
    right: str
    jurisdictions: list[str]
    received: datetime
    due: datetime
    outcome: str  # complied, denied, withdrawn, open
    basis: str = ""
    extension: str = ""
    answered: datetime | None = None


def _seed(rng: random.Random, n: int, year: int) -> Seeded:
    received = datetime(year, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))
    due = received + timedelta(days=30)
    item = Seeded(
        right=rng.choice(["erasure", "opt_out"]),
        jurisdictions=rng.choice([["EU"], ["GB"], ["US-CA"], ["EU", "US-CA"], ["BR"]]),
        received=received,
        due=due,
        outcome=rng.choice(["complied"] * 5 + ["denied"] * 2 + ["withdrawn", "open"]),
    )
    if item.outcome in ("complied", "denied") and rng.random() < 0.2:
        item.extension = rng.choice(REASONS)
        item.due = received + timedelta(days=90)
    if item.outcome == "denied":
        item.basis = rng.choice(BASES)
    if item.outcome != "open":
        late = rng.random() < 0.1
        days = rng.uniform(31, 120) if late else rng.uniform(0.5, 29)
        item.answered = min(
            received + timedelta(days=days), item.due + timedelta(days=30) if late else item.due
        )
        if late and item.answered <= item.due:
            item.answered = item.due + timedelta(hours=1)
    return item


def _write(item: Seeded, n: int) -> None:
    request_id = uuid.uuid4()

    def log(action: str, at: datetime, details: dict[str, object]) -> None:
        event_append(
            actor="system", action=action, object_type="removal_request", object_id=request_id,
            details=details, occurred_at=at,  # type: ignore[arg-type]
        )  # fmt: skip

    with transaction.atomic():
        log(
            "request.received",
            item.received,
            {
                "reference": f"RR-SEED-{n:04d}",
                "received_at": item.received.isoformat(),
                "respond_by": (item.received + timedelta(days=30)).isoformat(),
                "right": item.right,
                "channel": "web",
                "jurisdictions": item.jurisdictions,
            },
        )
        log("request.email_confirmed", item.received + timedelta(minutes=5), {})
        if item.extension:
            log(
                "request.extended",
                item.received + timedelta(days=20),
                {"reason": item.extension, "respond_by_extended": item.due.isoformat()},
            )
        if item.answered:
            to = {"complied": "completed", "denied": "denied", "withdrawn": "withdrawn"}[item.outcome]
            details: dict[str, object] = {"from": "verified", "to": to}
            if item.basis:
                details["basis"] = item.basis
            log(f"request.{item.outcome}", item.answered, details)


def test_yearly_figures_equal_an_independent_count_of_a_seeded_year() -> None:
    rng = random.Random(7102)
    plan = [_seed(rng, n, 2026) for n in range(540)]
    outside = [_seed(rng, n, 2025) for n in range(20)]  # the year before: must not count
    for n, item in enumerate(plan + outside):
        _write(item, n)
    ledger_sequence()

    figures = yearly_metrics(2026)

    for right in ("erasure", "opt_out"):
        mine = [p for p in plan if p.right == right]
        answered = [p for p in mine if p.outcome in ("complied", "denied")]
        days = [(p.answered - p.received).total_seconds() / 86400 for p in answered if p.answered]
        got = figures["rights"][right]
        assert got["received"] == len(mine)
        assert got["complied_in_whole_or_in_part"] == sum(p.outcome == "complied" for p in mine)
        assert got["denied"] == sum(p.outcome == "denied" for p in mine)
        assert got["denied_by_basis"] == dict(
            sorted(Counter(p.basis for p in mine if p.outcome == "denied").items())
        )
        assert got["withdrawn"] == sum(p.outcome == "withdrawn" for p in mine)
        assert got["open"] == sum(p.outcome == "open" for p in mine)
        assert got["median_days_to_response"] == round(statistics.median(days), 1)
        assert got["mean_days_to_response"] == round(statistics.fmean(days), 1)
    for code in ("EU", "GB"):
        mine = [p for p in plan if code in p.jurisdictions]
        got = figures["authorities"][code]
        late = [p for p in mine if p.answered and p.outcome != "withdrawn" and p.answered > p.due]
        assert got["received"] == len(mine)
        assert got["extended_by_reason"] == dict(
            sorted(Counter(p.extension for p in mine if p.extension).items())
        )
        assert got["answered_late"] == len(late)
        in_time = [p for p in mine if p.outcome in ("complied", "denied") and not p.extension]
        assert got["answered_within_the_deadline_without_extension"] == len(
            [p for p in in_time if p.answered is not None and p.answered <= p.due]
        )
        assert got["open"] == sum(p.outcome == "open" for p in mine)
    assert figures["monthly_received"] == [sum(p.received.month == m for p in plan) for m in range(1, 13)]
    assert sum(figures["monthly_received"]) == 540
    answered_all = [p for p in plan if p.outcome in ("complied", "denied")]
    assert figures["answered_late"] == sum(p.answered > p.due for p in answered_all)  # type: ignore[operator]
    assert sum(b["requests"] for b in figures["days_to_response_histogram"]) == len(answered_all)
    # Every right, basis and extension reason occurred in the seed, so the comparison covered them all.
    assert {p.basis for p in plan} >= set(BASES) and {p.extension for p in plan} >= set(REASONS)
    assert any(p.answered and p.answered > p.due for p in plan)


def seed_this_year(count: int, *, seed: int) -> int:
    """`count` requests of the current year up to now, sequenced; returns the year."""
    rng = random.Random(seed)
    year = datetime.now(UTC).year
    for n in range(count):
        item = _seed(rng, n, year)
        if item.received < datetime.now(UTC):
            _write(item, n)
    ledger_sequence()
    return year


def test_the_transparency_page_json_and_charts(client: Any) -> None:
    year = seed_this_year(30, seed=1)
    page = client.get(f"/transparency/{year}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Removal requests in {year}" in html and "Per authority" in html
    data = client.get(f"/transparency/{year}.json").json()
    assert data["year"] == year and data == yearly_metrics(year)
    for name in ("monthly", "on-time", "days"):
        chart = client.get(f"/transparency/{year}/charts/{name}.svg")
        assert chart["Content-Type"].startswith("image/svg+xml") and b"<script" not in chart.content
    assert client.get(f"/transparency/{year}/charts/other.svg").status_code == 404
    assert client.get("/transparency/1999/").status_code == 404
    assert client.get(f"/transparency/{year + 1}/").status_code == 404
    french = client.get(f"/transparency/{year}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert f"Demandes de suppression en {year}" in french
