"""ledger_verify catches every kind of tampering the issue names, with a message naming it."""

from __future__ import annotations

import pytest
from django.db import transaction

from ledger.models import AuditEvent, Checkpoint, Tile
from ledger.services import ledger_sequence
from ledger.verification import ledger_verify, tiles_rebuild
from tests.ledger.conftest import execute, triggers_off, write_events

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def log() -> list[AuditEvent]:
    write_events(3)
    ledger_sequence()
    write_events(2)
    ledger_sequence()
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.summary() == "Log intact: 5 entries under 2 signed checkpoint(s), 0 waiting to be sequenced"
    return list(AuditEvent.objects.order_by("leaf_index"))


def _problems(**kwargs: object) -> str:
    report = ledger_verify(**kwargs)  # type: ignore[arg-type]
    assert not report.ok
    return "\n".join(report.problems)


def test_moving_an_event_thirty_days_back_is_caught(log: list[AuditEvent]) -> None:
    with triggers_off():
        execute(
            "UPDATE ledger_auditevent SET occurred_at = occurred_at - interval '30 days' WHERE id = %s",
            [log[1].id],
        )
    assert "entry 1: column occurred_at differs from the hashed event" in _problems()


def test_changing_an_events_type_or_actor_is_caught(log: list[AuditEvent]) -> None:
    with triggers_off():
        execute(
            "UPDATE ledger_auditevent SET object_type = 'purge_job', actor = 'staff:9' WHERE id = %s",
            [log[2].id],
        )
    problems = _problems()
    assert "entry 2: column object_type differs" in problems and "entry 2: column actor differs" in problems


def test_editing_a_payload_breaks_its_leaf_hash_and_the_signed_root(log: list[AuditEvent]) -> None:
    edited = log[0].payload.replace('"n":0', '"n":1')
    with triggers_off():
        execute("UPDATE ledger_auditevent SET payload = %s WHERE id = %s", [edited, log[0].id])
    problems = _problems()
    assert "entry 0: content does not match its leaf hash (edited)" in problems
    assert "checkpoint 3: the stored entries 0 to 2 do not hash to its root" in problems


def test_a_deleted_event_is_caught(log: list[AuditEvent]) -> None:
    with triggers_off():
        execute("DELETE FROM ledger_auditevent WHERE id = %s", [log[2].id])
    assert "entry 2 is missing (the next stored entry is 3)" in _problems()


def test_cutting_off_the_newest_events_is_caught_by_the_checkpoints(log: list[AuditEvent]) -> None:
    with triggers_off():
        execute("DELETE FROM ledger_auditevent WHERE leaf_index >= 3")
    assert "checkpoint 5: the log holds only 3 entries, fewer than the 5 it signed" in _problems()


def test_truncating_everything_is_caught_by_a_checkpoint_the_reader_saved(log: list[AuditEvent]) -> None:
    saved = Checkpoint.objects.get(tree_size=5).note
    with transaction.atomic():
        execute("TRUNCATE ledger_auditevent, ledger_checkpoint, ledger_tile")  # the suite's door is open
    assert ledger_verify().ok  # nothing left to compare with: only an outside copy can tell
    assert "saved checkpoint of size 5: the log holds only 0 entries" in _problems(saved_checkpoints=[saved])


def test_a_rewritten_log_of_the_same_size_is_caught_by_a_saved_checkpoint(log: list[AuditEvent]) -> None:
    saved = Checkpoint.objects.get(tree_size=5).note
    with transaction.atomic():
        execute("TRUNCATE ledger_auditevent, ledger_checkpoint, ledger_tile")
    write_events(5, object_id="forged")
    ledger_sequence()
    assert ledger_verify().ok  # self-consistent, re-signed with our own key…
    problems = _problems(saved_checkpoints=[saved])  # …but not the log the reader saw
    assert "saved checkpoint of size 5: the stored entries 0 to 4 do not hash to its root" in problems


def test_a_forged_or_altered_checkpoint_is_caught(log: list[AuditEvent]) -> None:
    checkpoint = Checkpoint.objects.get(tree_size=5)
    body, _, signature = checkpoint.note.partition("\n\n")
    forged = body.replace("\n5\n", "\n4\n") + "\n\n" + signature
    with triggers_off():
        execute("UPDATE ledger_checkpoint SET note = %s WHERE id = %s", [forged, checkpoint.id])
    assert "checkpoint 5: the checkpoint of size 4 is not signed by key 'test-sk1'" in _problems()


def test_a_saved_checkpoint_with_a_bad_signature_is_reported(log: list[AuditEvent]) -> None:
    note = Checkpoint.objects.get(tree_size=3).note
    assert "saved checkpoint #1: not a signed note" in _problems(saved_checkpoints=[note.split("\n\n")[0]])


def test_damaged_tiles_are_reported_and_rebuilt(log: list[AuditEvent]) -> None:
    Tile.objects.filter(level=0).update(hashes=b"\x00" * 32 * 5)
    assert "the stored tiles do not match the entries" in _problems()
    assert tiles_rebuild() == 5
    assert ledger_verify().ok


def test_waiting_events_are_counted_not_judged(log: list[AuditEvent]) -> None:
    write_events(2)
    report = ledger_verify()
    assert report.ok and report.waiting == 2
