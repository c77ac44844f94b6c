from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from removal import services
from removal.audit import ChainLink, audit_chain_verify, audit_event_append, event_hash, verify_chain
from removal.models import AuditEvent, RemovalRequest

pytestmark = pytest.mark.django_db


def _append(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_event_append(actor="system", action="test.step", object_type="thing", object_id=i)


def _links() -> list[ChainLink]:
    return [
        ChainLink(seq=e.seq, payload=e.payload, prev_hash=e.prev_hash, hash=e.hash)
        for e in AuditEvent.objects.order_by("seq")
    ]


def test_appended_events_form_an_intact_chain() -> None:
    _append(5)
    report = audit_chain_verify()
    assert report.ok and report.checked == 5
    assert report.head_hash == AuditEvent.objects.latest("seq").hash
    first = AuditEvent.objects.get(seq=1)
    assert first.prev_hash == "0" * 64
    assert json.loads(first.payload)["seq"] == 1


def test_payload_is_canonical_json() -> None:
    _append(1)
    payload = AuditEvent.objects.get().payload
    assert payload == json.dumps(
        json.loads(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        audit_event_append(actor="system", action="x", object_type="t", object_id=1)


def test_chain_check_catches_an_edited_event() -> None:
    _append(4)
    links = _links()
    tampered = json.loads(links[1].payload)
    tampered["outcome"] = "denied"
    links[1] = replace(links[1], payload=json.dumps(tampered, sort_keys=True, separators=(",", ":")))
    report = verify_chain(links)
    assert not report.ok
    assert report.problems == ["event #2: content does not match its hash (edited)"]


def test_chain_check_catches_an_edited_event_whose_hash_was_recomputed() -> None:
    _append(4)
    links = _links()
    forged_payload = links[1].payload.replace("test.step", "test.other")
    links[1] = replace(links[1], payload=forged_payload, hash=event_hash(links[1].prev_hash, forged_payload))
    report = verify_chain(links)
    assert report.problems == ["event #3: does not link to the event before it"]


def test_chain_check_catches_a_deleted_event() -> None:
    _append(4)
    links = _links()
    del links[2]
    report = verify_chain(links)
    assert not report.ok
    assert "event #4: expected #3 (an event is missing or moved)" in report.problems
    assert "event #4: does not link to the event before it" in report.problems


def test_chain_check_catches_swapped_events() -> None:
    _append(4)
    links = _links()
    links[1], links[2] = links[2], links[1]
    report = verify_chain(links)
    assert not report.ok
    assert "event #3: expected #2 (an event is missing or moved)" in report.problems


def test_chain_check_catches_a_renumbered_event() -> None:
    _append(3)
    links = _links()
    links[2] = replace(links[2], seq=7)
    assert "event #7: sequence number differs from the hashed one" in verify_chain(links).problems


def test_concurrent_style_appends_never_share_a_sequence_number(make_request: Any) -> None:
    for i in range(5):
        make_request(email=f"person{i}@example.org")
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 6))


def test_events_hold_ids_and_outcomes_but_no_personal_data(make_request: Any) -> None:
    request = make_request(name="Ådne Ørsted", email="adne.orsted@example.no").request
    services.removal_request_withdraw(request=request, actor=services.SUBJECT)
    for event in AuditEvent.objects.all():
        assert "Ørsted" not in event.payload and "adne" not in event.payload.lower()
        assert str(request.id) in event.payload


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_of_audit_events(removal_request: RemovalRequest) -> None:
    for statement in ("UPDATE removal_auditevent SET actor = 'staff:9'", "DELETE FROM removal_auditevent"):
        with (
            pytest.raises(DatabaseError, match="insert-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 1
    assert audit_chain_verify().ok


@pytest.mark.postgres
def test_edit_by_someone_who_disabled_the_trigger_is_still_detected(removal_request: RemovalRequest) -> None:
    services.removal_request_withdraw(request=removal_request, actor=services.SUBJECT)
    with transaction.atomic(), connection.cursor() as cursor:
        # A database owner can switch the trigger off; the chain is what catches them then.
        cursor.execute("ALTER TABLE removal_auditevent DISABLE TRIGGER removal_auditevent_insert_only")
        cursor.execute(
            "UPDATE removal_auditevent SET payload = replace(payload, '\"withdrawn\"', '\"completed\"') "
            "WHERE seq = 2"
        )
        cursor.execute("DELETE FROM removal_auditevent WHERE seq = 1")
        cursor.execute("ALTER TABLE removal_auditevent ENABLE TRIGGER removal_auditevent_insert_only")
    report = audit_chain_verify()
    assert not report.ok
    assert "event #2: content does not match its hash (edited)" in report.problems
    assert "event #2: expected #1 (an event is missing or moved)" in report.problems


def _tamper(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE removal_auditevent DISABLE TRIGGER removal_auditevent_insert_only")
        cursor.execute(sql)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE removal_auditevent ENABLE TRIGGER removal_auditevent_insert_only")


def test_audit_verify_command_reports_and_exits_nonzero_on_a_broken_chain(capsys: Any) -> None:
    from django.core.management import CommandError, call_command

    _append(2)
    call_command("audit_verify")
    assert "intact: 2 event(s)" in capsys.readouterr().out

    _tamper("UPDATE removal_auditevent SET actor = 'staff:1' WHERE seq = 2")
    with pytest.raises(CommandError, match="BROKEN: 1 problem"):
        call_command("audit_verify")
    assert "event #2: columns differ from the hashed payload" in capsys.readouterr().err
