from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from ledger.models import AuditEvent
from notifications.models import Message
from removal import selectors, services
from removal.models import Channel, RemovalRequest, Status
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME
from vault.models import DataKey
from vault.services import DataKeyShredded, DecryptionError, data_key_shred

pytestmark = pytest.mark.django_db


def test_create_records_request_with_deadlines_and_audit_event(make_request: Any) -> None:
    result = make_request(jurisdictions=["US-CA", "EU"])

    request = result.request
    assert result.created and result.status_token
    assert request.status == Status.RECEIVED
    assert request.reference.startswith("RR-") and len(request.reference) == 12
    assert sorted(j.code for j in request.jurisdictions.all()) == ["EU", "US-CA"]
    assert request.acknowledge_by is not None and request.acknowledge_by_set_by == "US-CA"
    assert request.respond_by is not None and request.respond_by > request.received_at
    event = AuditEvent.objects.get(object_id=str(request.id))
    assert event.action == "request.received" and event.actor == "subject"


def test_create_sends_acknowledgement_and_confirmation_through_the_outbox(
    make_request: Any, mailoutbox: list[Any], mail_links: Any
) -> None:
    request = make_request().request

    assert [m.to for m in mailoutbox] == [[SUBJECT_EMAIL], [SUBJECT_EMAIL]]
    subjects = sorted(m.subject for m in mailoutbox)
    assert subjects == [
        f"Please confirm your e-mail address ({request.reference})",
        f"We received your request {request.reference}",
    ]
    assert len(mail_links("status")) == 1 and len(mail_links("confirm")) == 1
    assert Message.objects.filter(status=Message.Status.SENT).count() == 2
    assert all(m.alternatives for m in mailoutbox), "every message has an HTML part"


@pytest.mark.parametrize(
    ("right", "sentence"),
    [
        ("erasure", "We received your request to delete your photos and data."),
        ("opt_out", "We received your request to stop the sale or sharing of your data."),
    ],
)
def test_the_acknowledgement_says_what_was_asked_in_words_and_only_the_subjects_deadlines(
    make_request: Any, mailoutbox: list[Any], right: str, sentence: str
) -> None:
    make_request(right=right, jurisdictions=["US-CA"])
    acknowledgement = next(m for m in mailoutbox if m.subject.startswith("We received"))
    html = acknowledgement.alternatives[0][0]
    for body in (acknowledgement.body, html):
        assert sentence in body and "((" not in body and "))" not in body
        assert "Acknowledgement due" not in body and "Response due" in body


def test_status_token_is_stored_only_as_a_hash(make_request: Any) -> None:
    result = make_request()
    assert result.status_token not in result.request.status_token_hash
    assert selectors.removal_request_by_status_token(token=result.status_token) == result.request
    assert selectors.removal_request_by_status_token(token="guess") is None


def test_raw_database_holds_no_plaintext_name_or_email(make_request: Any) -> None:
    make_request()
    needles = [SUBJECT_NAME.encode(), SUBJECT_EMAIL.encode(), b"quintero"]
    tables = [
        RemovalRequest._meta.db_table,
        Message._meta.db_table,
        AuditEvent._meta.db_table,
        DataKey._meta.db_table,
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (table names from models)
            for row in cursor.fetchall():
                blob = b"|".join(
                    bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                    for value in row
                ).lower()
                for needle in needles:
                    assert needle.lower() not in blob, f"{needle!r} in {table}"


def test_ciphertext_copied_into_another_row_does_not_decrypt(make_request: Any) -> None:
    first = make_request().request
    second = make_request(email="someone.else@example.org", name="Somebody Else").request
    # An attacker with write access swaps the victim's sealed e-mail into their own row.
    RemovalRequest.objects.filter(id=second.id).update(email_enc=first.email_enc)
    second.refresh_from_db()
    with pytest.raises(DecryptionError):
        selectors.removal_request_pii(request=second)


def test_ciphertext_moved_to_another_column_does_not_decrypt(removal_request: RemovalRequest) -> None:
    RemovalRequest.objects.filter(id=removal_request.id).update(name_enc=removal_request.email_enc)
    removal_request.refresh_from_db()
    with pytest.raises(DecryptionError):
        selectors.removal_request_pii(request=removal_request)


def test_shredded_request_is_unreadable_including_its_messages(removal_request: RemovalRequest) -> None:
    assert selectors.removal_request_pii(request=removal_request).email == SUBJECT_EMAIL
    data_key_shred(data_key=removal_request.data_key)
    removal_request.refresh_from_db()
    with pytest.raises(DataKeyShredded):
        selectors.removal_request_pii(request=removal_request)
    from notifications.selectors import message_content

    for message in Message.objects.filter(data_key=removal_request.data_key):
        with pytest.raises(DataKeyShredded):
            message_content(message=message)


def test_duplicate_open_request_is_recognised_not_doubled(make_request: Any, mailoutbox: list[Any]) -> None:
    first = make_request()
    again = make_request(email="  ZOE.Quintero@Example.org ", channel=Channel.API)

    assert not again.created
    assert again.request.id == first.request.id
    assert RemovalRequest.objects.count() == 1
    # Anyone can type the subject's address: the duplicate never cuts off the link the subject has.
    # The mailbox's owner is e-mailed a further link, and both open the same request.
    assert selectors.removal_request_by_status_token(token=first.status_token) == first.request
    assert selectors.removal_request_by_status_token(token=again.status_token) == first.request
    assert again.status_token != first.status_token
    assert mailoutbox[-1].subject == f"Your request {first.request.reference} is already open"
    actions = list(
        AuditEvent.objects.filter(object_id=str(first.request.id)).values_list("action", flat=True)
    )
    assert actions == ["request.received", "request.duplicate_received"]


def test_repeated_duplicates_keep_the_first_link_and_a_bounded_number_of_others(make_request: Any) -> None:
    first = make_request()
    extra = [make_request(channel=Channel.API).status_token for _ in range(services.STATUS_LINKS_KEPT + 2)]

    assert selectors.removal_request_by_status_token(token=first.status_token) == first.request
    # The newest links open it; the oldest extra links make way, so a flood cannot grow the table.
    for token in extra[-services.STATUS_LINKS_KEPT :]:
        assert selectors.removal_request_by_status_token(token=token) == first.request
    for token in extra[:2]:
        assert selectors.removal_request_by_status_token(token=token) is None


def test_other_right_or_closed_request_is_not_a_duplicate(make_request: Any) -> None:
    first = make_request().request
    assert make_request(right="opt_out", jurisdictions=["US-CA"]).created
    services.removal_request_withdraw(request=first, actor=services.SUBJECT)
    assert make_request().created
    assert RemovalRequest.objects.count() == 3


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter your name."),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"email": "not-an-address"}, "email", "valid e-mail"),
        ({"email": ""}, "email", "valid e-mail"),
        ({"right": "forget_me"}, "right", "Choose what you want"),
        ({"jurisdictions": []}, "jurisdictions", "at least one"),
        ({"jurisdictions": ["EU", "XX"]}, "jurisdictions", "Unknown jurisdiction: XX"),
        ({"channel": "pigeon"}, "channel", "Unknown channel"),
        ({"received_at": timezone.now() + timedelta(days=1)}, "received_at", "past date"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(
    make_request: Any, mailoutbox: list[Any], overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(services.InvalidRequest) as excinfo:
        make_request(**overrides)
    assert message in " ".join(excinfo.value.errors[field])
    assert SUBJECT_EMAIL not in str(excinfo.value)
    assert RemovalRequest.objects.count() == 0
    assert DataKey.objects.count() == 0 and AuditEvent.objects.count() == 0 and not mailoutbox


def test_staff_logged_postal_request_keeps_its_arrival_time(make_request: Any, reviewer: Any) -> None:
    arrived = timezone.now() - timedelta(days=3)
    request = make_request(
        channel=Channel.POST, actor=services.Actor.staff(reviewer), received_at=arrived, logged_by=reviewer
    ).request
    assert request.received_at == arrived and request.logged_by == reviewer
    assert AuditEvent.objects.get(object_id=str(request.id)).actor == f"staff:{reviewer.pk}"


def test_email_confirmation_link_confirms_once(removal_request: RemovalRequest) -> None:
    signed = services.confirmation_url(removal_request).split("t=", 1)[1]
    services.removal_request_confirm_email(signed_token=signed)
    services.removal_request_confirm_email(signed_token=signed)
    removal_request.refresh_from_db()
    assert removal_request.email_confirmed_at is not None
    assert AuditEvent.objects.filter(action="request.email_confirmed").count() == 1


def test_expired_or_forged_confirmation_link_is_refused(
    removal_request: RemovalRequest, settings: Any
) -> None:
    from django.core import signing

    signed = services.confirmation_url(removal_request).split("t=", 1)[1]
    with pytest.raises(signing.BadSignature):
        services.removal_request_confirm_email(signed_token=signed[:-2] + "xx")
    settings.EMAIL_CONFIRMATION_MAX_AGE = -1
    with pytest.raises(signing.SignatureExpired):
        services.removal_request_confirm_email(signed_token=signed)
    removal_request.refresh_from_db()
    assert removal_request.email_confirmed_at is None


def test_mask_email_hides_most_of_the_address() -> None:
    assert selectors.mask_email("zoe.quintero@example.org") == "z•••o@e•••.org"
    assert selectors.mask_email("ab@x.io") == "a•••@x•••.io"


def test_shredding_a_closed_request_erases_its_personal_data_and_is_audited(
    client: Any, make_request: Any, reviewer: Any
) -> None:
    result = make_request()
    request = result.request
    actor = services.Actor.staff(reviewer)
    with pytest.raises(services.IllegalTransition):
        services.removal_request_shred_personal_data(request=request, actor=actor)  # still open
    services.removal_request_withdraw(request=request, actor=services.SUBJECT)

    assert services.removal_request_shred_personal_data(request=request, actor=actor) is True
    assert services.removal_request_shred_personal_data(request=request, actor=actor) is False
    request.refresh_from_db()
    with pytest.raises(DataKeyShredded):
        selectors.removal_request_pii(request=request)
    assert AuditEvent.objects.filter(action="request.personal_data_shredded").count() == 1
    # The subject's status page still works, and shows that nothing personal remains.
    html = client.get(f"/status/?t={result.status_token}").content.decode()
    assert "(erased)" in html and "Withdrawn" in html


def test_the_stored_email_index_is_keyed_by_the_configured_blind_index_key(
    make_request: Any, settings: Any
) -> None:
    """The index is HMAC-SHA-256 under VAULT_BLIND_INDEX_KEY: another key gives another index for the
    same address, and the index is what a keyed hash computed here gives (an unkeyed or empty-keyed
    hash would let anyone holding a dump test addresses offline)."""
    import base64
    import hashlib
    import hmac

    from vault.services import reset_key_caches

    indexes = []
    try:
        for byte in (b"\x01", b"\x02"):
            key = byte * 32
            settings.VAULT_BLIND_INDEX_KEY = base64.b64encode(key).decode()
            reset_key_caches()
            address = "Same.Person@Example.org"
            stored = make_request(
                email=address, right="erasure" if byte == b"\x01" else "opt_out", jurisdictions=["US-CA"]
            ).request.email_blind_index
            expected = hmac.new(key, b"email\x00same.person@example.org", hashlib.sha256).hexdigest()
            assert stored == expected
            assert stored != hmac.new(b"", b"email\x00same.person@example.org", hashlib.sha256).hexdigest()
            indexes.append(stored)
    finally:
        reset_key_caches()
    assert indexes[0] != indexes[1]
