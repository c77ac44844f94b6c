"""The dashboard's figures and charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from removal import services
from removal.dashboard import dashboard_figures
from removal.models import RemovalRequest
from removal.roles import PRIVACY_LEAD
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def test_the_figures_count_the_weeks_states_lateness_and_answers(make_request: Any, make_staff: Any) -> None:
    lead = make_staff(PRIVACY_LEAD, "lead")
    now = timezone.now()
    late = make_request(email="late@example.org").request
    RemovalRequest.objects.filter(id=late.id).update(respond_by=now - timedelta(days=1))
    make_request(email="optout@example.org", jurisdictions=["US-CA"], right="opt_out")
    answered = make_request(email="answered@example.org").request
    services.removal_request_transition(request=answered, move="withdraw", actor=services.Actor.staff(lead))

    figures = dashboard_figures(now=now)
    assert sum(figures.per_week["erasure"]) == 2 and figures.per_week["opt_out"][-1] == 1
    assert dict(figures.open_by_state)["Received"] == 2
    assert figures.overdue_now == 1
    assert figures.closed == 1 and figures.on_time == 1 and figures.median_days is not None


def test_the_dashboard_and_its_charts_are_served_without_scripts(
    client: Any, make_staff: Any, make_request: Any
) -> None:
    make_request()
    sign_in(client, make_staff(PRIVACY_LEAD, "lead"))
    page = client.get(reverse("workspace:dashboard")).content.decode()
    assert "Overdue now" in page and "Requests received per week" in page
    for name in ("per-week", "open-by-state", "on-time"):
        chart = client.get(reverse("workspace:chart", args=[name]))
        assert chart["Content-Type"].startswith("image/svg+xml") and b"<script" not in chart.content
    assert client.get(reverse("workspace:chart", args=["nope"])).status_code == 404
