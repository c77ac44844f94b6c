"""Records of closed requests are minimised after their retention, and the sweeper fails loudly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.models import AuditEvent
from notifications.models import Message
from removal import services
from removal.models import RemovalRequest, Status, StatusLink
from removal.services import retention
from removal.services.retention import RetentionFailed, months_before, request_records_minimise
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

    expected = f"1 record\\(s\\) past retention could not be minimised: {first.reference}"
    with mock.patch.object(retention, "data_key_shred", side_effect=shred):
        with pytest.raises(RetentionFailed, match=expected):
            request_records_minimise()
        with pytest.raises(CommandError, match=first.reference):
            call_command("minimise_request_records")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.record_minimised_at is None and first.email_blind_index  # nothing half-done
    assert second.record_minimised_at is not None  # the others still went
    alert = Message.objects.filter(template="removal/emails/retention_failed").first()
    assert alert is not None and alert.about == "removal.retention"
