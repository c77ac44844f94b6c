"""The nightly retention sweep: closed requests' records are minimised after their retention, their
headshots and candidate scores go a day after closing, and the sweep fails loudly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from unittest import mock

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from identity import selectors as identity_selectors
from identity import services as identity_services
from identity.models import HeadshotProbe
from ledger.models import AuditEvent
from notifications import selectors as notifications_selectors
from notifications.models import Message
from removal import services
from removal.models import Candidate, RemovalRequest, Status, StatusLink
from removal.services import retention
from removal.services.common import subject_ref
from removal.services.retention import (
    RetentionFailed,
    months_before,
    request_records_minimise,
    retention_sweep,
    verification_artefacts_remove,
)
from vault.models import DataKey

pytestmark = pytest.mark.django_db


def _closed(make_request: Any, *, months_ago: int, email: str) -> RemovalRequest:
    request = make_request(email=email).request
    services.removal_request_withdraw(request=request, actor=services.SUBJECT)
    closed_at = months_before(datetime.now(UTC), months_ago) - timedelta(days=1)
    RemovalRequest.objects.filter(id=request.id).update(status_changed_at=closed_at)
    return RemovalRequest.objects.get(id=request.id)


def test_months_before_clamps_to_the_end_of_shorter_months() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 12, 7, tzinfo=UTC), 24) == datetime(2024, 12, 7, tzinfo=UTC)
    assert months_before(datetime(2028, 3, 29, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)


def test_an_old_closed_record_is_minimised_and_newer_or_open_ones_are_not(make_request: Any) -> None:
    old = _closed(make_request, months_ago=24, email="old@example.org")
    StatusLink.objects.create(request=old, token_hash="f" * 64, issued_at=old.received_at)
    recent = _closed(make_request, months_ago=23, email="recent@example.org")
    still_open = make_request(email="open@example.org").request
    RemovalRequest.objects.filter(id=still_open.id).update(status_changed_at=datetime(2020, 1, 1, tzinfo=UTC))

    result = request_records_minimise()

    assert result.minimised == [old.reference] and not result.failed
    old.refresh_from_db()
    assert old.record_minimised_at is not None and old.email_blind_index == ""
    assert old.status_token_hash.startswith("minimised:")
    assert not StatusLink.objects.filter(request=old).exists()
    assert DataKey.objects.get(id=old.data_key_id).shredded_at is not None
    assert (old.reference, old.right, old.status) == (old.reference, "erasure", Status.WITHDRAWN)
    event = AuditEvent.objects.filter(object_id=str(old.id)).latest("id")
    assert event.action == "request.record_minimised" and "old@example.org" not in event.payload
    for untouched in (recent, still_open):
        untouched.refresh_from_db()
        assert untouched.record_minimised_at is None and untouched.email_blind_index
    assert request_records_minimise().minimised == []  # once only


def test_a_record_that_resists_stops_the_sweep_loudly_and_stays_as_it_was(make_request: Any) -> None:
    first = _closed(make_request, months_ago=30, email="first@example.org")
    second = _closed(make_request, months_ago=25, email="second@example.org")
    real_shred = retention.data_key_shred

    def shred(*, data_key: Any) -> bool:
        if data_key.id == first.data_key_id:
            raise OSError("the key store is read-only")
        return real_shred(data_key=data_key)

    expected = f"1 record\\(s\\) past retention not minimised: {first.reference}"
    with mock.patch.object(retention, "data_key_shred", side_effect=shred):
        with pytest.raises(RetentionFailed, match=expected):
            retention_sweep()
        with pytest.raises(CommandError, match=first.reference):
            call_command("retention_sweep")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.record_minimised_at is None and first.email_blind_index  # nothing half-done
    assert second.record_minimised_at is not None  # the others still went
    alert = Message.objects.filter(template="removal/emails/retention_failed").first()
    assert alert is not None and alert.about == "removal.retention"


def _probe(request: RemovalRequest) -> None:
    identity_services.headshot_probe_store(
        subject_ref=subject_ref(request), data_key=request.data_key, jpeg=b"sealed", embedding=np.zeros(128)
    )


def test_headshots_and_candidate_scores_left_a_day_after_closing_are_removed(
    reviewed: RemovalRequest, make_request: Any
) -> None:
    # Left behind as a race could leave them: closed without the closing move's clean-up.
    day_ago = timezone.now() - timedelta(hours=25)
    RemovalRequest.objects.filter(id=reviewed.id).update(status=Status.WITHDRAWN, status_changed_at=day_ago)
    assert Candidate.objects.filter(request=reviewed).exists()
    recent = _closed(make_request, months_ago=0, email="recent@example.org")
    RemovalRequest.objects.filter(id=recent.id).update(status_changed_at=timezone.now() - timedelta(hours=23))
    still_open = make_request(email="open@example.org").request
    for request in (recent, still_open):
        _probe(request)

    assert verification_artefacts_remove() == 1

    assert not Candidate.objects.filter(request=reviewed).exists()
    assert subject_ref(reviewed) not in identity_selectors.headshot_probe_subject_refs()
    for kept in (recent, still_open):
        assert HeadshotProbe.objects.filter(subject_ref=subject_ref(kept)).exists()
    assert verification_artefacts_remove() == 0


def test_a_part_that_fails_does_not_stop_the_others_and_the_sweep_fails_loudly(
    make_request: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _closed(make_request, months_ago=25, email="old@example.org")

    def journal_unreachable(**kwargs: Any) -> int:
        raise OSError("bucket s3://journal/secret-path unreachable")

    monkeypatch.setattr(retention, "erasure_journal_prune", journal_unreachable)
    with pytest.raises(RetentionFailed, match="erasure journal: not swept"):
        retention_sweep()
    with pytest.raises(CommandError, match="erasure journal: not swept"):
        call_command("retention_sweep")

    old.refresh_from_db()
    assert old.record_minimised_at is not None  # the records part ran all the same
    first_alert = Message.objects.filter(template="removal/emails/retention_failed").order_by("created_at")[0]
    content = notifications_selectors.message_content(message=first_alert)
    text = content.subject + content.body_text + content.body_html
    assert "erasure journal: not swept" in text and "records minimised: 1" in text, text
    assert "secret-path" not in text and "old@example.org" not in text


def test_the_sweep_runs_nightly_and_reports_what_it_did(settings: Any) -> None:
    from removal import tasks

    schedule = settings.CELERY_BEAT_SCHEDULE["retention-sweep"]
    assert schedule["task"] == "removal.tasks.retention_sweep"
    assert (schedule["schedule"].hour, schedule["schedule"].minute) == ({4}, {15})
    tasks.retention_sweep()  # nothing to do: no error
    out = StringIO()
    call_command("retention_sweep", stdout=out)
    assert out.getvalue().startswith("records minimised: 0; overdue personal data shredded: 0; closed")


def _completed(make_request: Any, *, days_ago: int, email: str) -> RemovalRequest:
    request = make_request(email=email).request
    closed_at = timezone.now() - timedelta(days=days_ago)
    RemovalRequest.objects.filter(id=request.id).update(status=Status.COMPLETED, status_changed_at=closed_at)
    return RemovalRequest.objects.select_related("data_key").get(id=request.id)


def test_personal_data_its_purge_job_left_past_retention_is_shredded_or_named(
    make_request: Any, settings: Any
) -> None:
    retention_days = settings.REQUEST_PERSONAL_DATA_RETENTION_DAYS = 30
    overdue = _completed(make_request, days_ago=retention_days + 2, email="overdue@example.org")
    waiting = _completed(make_request, days_ago=retention_days + 2, email="waiting@example.org")
    Message.objects.filter(about=subject_ref(waiting)).update(status=Message.Status.PENDING)
    in_time = _completed(make_request, days_ago=retention_days, email="in-time@example.org")

    with pytest.raises(
        RetentionFailed, match=f"personal data past retention not shredded: {waiting.reference}$"
    ):
        retention_sweep()

    for request, shredded in ((overdue, True), (waiting, False), (in_time, False)):
        assert DataKey.objects.get(id=request.data_key_id).is_shredded is shredded, request.reference
    assert AuditEvent.objects.filter(
        object_id=str(overdue.id), action="request.personal_data_shredded"
    ).exists()
