"""With the broker unreachable, what committed answers as committed: the work waits for its sweeper
(issue 12, Found: approve_purge answered 500 after the approval committed)."""

from __future__ import annotations

from typing import Any

import pytest
from kombu.exceptions import OperationalError

from notifications.models import Message
from notifications.tasks import deliver_message
from removal import services
from removal.models import Candidate, PurgeJob, RemovalRequest, Status
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.purge import purge_approve
from removal.tasks import run_purge_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for task in (run_purge_job, deliver_message):
        monkeypatch.setattr(task, "apply_async", refuse)


def test_an_approval_commits_and_answers_though_the_broker_is_down(
    broker_down: None,
    gallery: Any,
    verified_request: RemovalRequest,
    reviewer: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    removal_request_discover(request_id=verified_request.id)
    ids = Candidate.objects.filter(request=verified_request).values_list("id", flat=True)
    candidates_decide(
        request=verified_request,
        actor=services.Actor.staff(reviewer),
        decisions=dict.fromkeys(ids, "confirmed"),
        user=reviewer,
    )
    with django_capture_on_commit_callbacks(execute=True):
        jobs = purge_approve(request=verified_request, actor=services.Actor.staff(reviewer))
    verified_request.refresh_from_db()
    assert verified_request.status == Status.PURGING and jobs
    assert PurgeJob.objects.filter(request=verified_request, status=PurgeJob.Status.PENDING).exists()


def test_a_request_is_taken_in_though_its_e_mail_cannot_be_queued(
    broker_down: None, make_request: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        result = make_request(email="outage@example.org")
    assert result.created and Message.objects.filter(status="pending").exists()
