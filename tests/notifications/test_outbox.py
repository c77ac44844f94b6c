from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from notifications import services
from notifications.models import DeliveryAttempt, Message
from notifications.selectors import message_content
from vault.services import data_key_create

pytestmark = pytest.mark.django_db
RECIPIENT = "zoe.quintero@example.org"
REFUSING = "tests.notifications.backends.RefusingBackend"
UNREACHABLE = "tests.notifications.backends.UnreachableBackend"


@pytest.fixture
def queue_message(django_capture_on_commit_callbacks: Any) -> Any:
    def queue(*, deliver: bool = True) -> Message:
        with django_capture_on_commit_callbacks(execute=deliver):
            message = services.message_create(
                template="removal/emails/confirm_email",
                to=RECIPIENT,
                context={
                    "name": "Zoë",
                    "reference": "RR-TEST-0001",
                    "confirm_url": "http://x/confirm/?t=abc",
                },
                data_key=data_key_create(purpose="test"),
                about="test:1",
            )
        message.refresh_from_db()
        return message

    return queue


def test_message_is_rendered_sealed_and_delivered_after_commit(
    queue_message: Any, mailoutbox: list[Any]
) -> None:
    message = queue_message()
    assert message.status == Message.Status.SENT and message.attempts == 1 and message.sent_at
    assert RECIPIENT.encode() not in bytes(message.recipient_enc)
    assert b"Zo" not in bytes(message.body_text_enc)
    [sent] = mailoutbox
    assert sent.to == [RECIPIENT] and "RR-TEST-0001" in sent.subject
    assert sent.alternatives[0][1] == "text/html" and "http://x/confirm/?t=abc" in sent.alternatives[0][0]
    assert sent.extra_headers["Auto-Submitted"] == "auto-generated"
    [attempt] = message.attempt_log.all()
    assert attempt.outcome == DeliveryAttempt.Outcome.SENT and attempt.error == ""


def test_nothing_is_sent_if_the_deciding_transaction_rolls_back(
    queue_message: Any, mailoutbox: list[Any]
) -> None:
    message = queue_message(deliver=False)
    assert message.status == Message.Status.PENDING and not mailoutbox


def test_text_part_is_not_html_escaped(queue_message: Any, mailoutbox: list[Any]) -> None:
    queue_message()
    assert "Hello Zoë," in mailoutbox[0].body and "&" not in mailoutbox[0].body


def test_failed_delivery_is_retried_later_with_an_error_free_of_personal_data(
    queue_message: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    settings.EMAIL_BACKEND = REFUSING
    message = queue_message()
    assert message.status == Message.Status.PENDING and message.attempts == 1
    assert message.last_error == "SMTPRecipientsRefused"
    assert message.next_attempt_at > timezone.now() + timedelta(
        seconds=settings.OUTBOX_RETRY_BASE_SECONDS * 0.4
    )
    assert RECIPIENT not in DeliveryAttempt.objects.get().error
    # Not due yet: a second wake-up does nothing.
    assert services.message_deliver(message_id=str(message.id)) is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        assert services.message_deliver(message_id=str(message.id)) == Message.Status.SENT
    assert len(mailoutbox) == 1 and message.attempt_log.count() == 2


def test_backoff_grows_and_is_capped() -> None:
    delays = [services._backoff_seconds(n) for n in range(1, 20)]
    assert delays[0] <= 30 and delays[4] > delays[0]
    assert max(delays) <= 3600


def test_message_fails_after_the_last_attempt_and_staff_can_resend(
    queue_message: Any, settings: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = UNREACHABLE
    settings.OUTBOX_MAX_ATTEMPTS = 3
    message = queue_message()
    for _ in range(2):
        with time_machine.travel(Message.objects.get(id=message.id).next_attempt_at + timedelta(seconds=1)):
            services.message_deliver(message_id=str(message.id))
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.attempts == 3
    assert message.last_error == "ConnectionRefusedError"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        assert services.message_resend(message=message) is True
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and len(mailoutbox) == 1
    assert list(message.attempt_log.values_list("outcome", flat=True)) == ["failed"] * 3 + ["sent"]
    assert services.message_resend(message=message) is False  # only failed messages


def test_a_claimed_message_is_not_sent_twice(queue_message: Any, mailoutbox: list[Any]) -> None:
    message = queue_message(deliver=False)
    Message.objects.filter(id=message.id).update(status=Message.Status.SENDING)
    assert services.message_deliver(message_id=str(message.id)) is None
    assert not mailoutbox


def test_a_message_sent_again_carries_the_same_message_id(
    queue_message: Any, mailoutbox: list[Any], settings: Any
) -> None:
    # A worker that sent the message and died before recording it: the sweep sends it once more.
    settings.DEFAULT_FROM_EMAIL = "Privacy team <privacy@removal.example>"
    message = queue_message(deliver=False)
    assert services.message_deliver(message_id=str(message.id)) == Message.Status.SENT
    Message.objects.filter(id=message.id).update(status=Message.Status.PENDING)
    assert services.message_deliver(message_id=str(message.id)) == Message.Status.SENT
    other = queue_message(deliver=False)
    services.message_deliver(message_id=str(other.id))

    ids = [sent.message()["Message-ID"] for sent in mailoutbox]
    assert ids == [f"<{message.id}@removal.example>"] * 2 + [f"<{other.id}@removal.example>"]


def test_sweep_wakes_due_messages_and_reclaims_expired_leases(
    queue_message: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    lost = queue_message(deliver=False)  # the broker lost its task
    stuck = queue_message(deliver=False)  # its worker died mid-send
    Message.objects.filter(id=stuck.id).update(
        status=Message.Status.SENDING, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.outbox_sweep()
    assert sorted(m.status for m in Message.objects.all()) == [Message.Status.SENT, Message.Status.SENT]
    assert len(mailoutbox) == 2
    assert services.outbox_sweep() == 0
    del lost


def test_staff_can_read_what_was_sent(queue_message: Any) -> None:
    content = message_content(message=queue_message())
    assert content.recipient == RECIPIENT and "RR-TEST-0001" in content.subject


def test_an_operator_can_send_through_a_provider_backend(queue_message: Any, settings: Any) -> None:
    # anymail's test backend stands in for a provider's HTTP API (Postmark, SES, …).
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    from django.core import mail

    mail.outbox = []
    message = queue_message()
    assert message.status == Message.Status.SENT
    assert mail.outbox[0].to == [RECIPIENT]
    assert mail.outbox[0].anymail_status.status == {"sent"}  # type: ignore[union-attr]
