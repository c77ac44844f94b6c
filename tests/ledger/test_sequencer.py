"""Events wait without a lock; the sequencer numbers them in batches and signs each new tree."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from ledger import merkle, selectors
from ledger.models import AuditEvent, Checkpoint, Tile
from ledger.services import event_append, ledger_sequence, ledger_sequencer_run, sequenced_size
from ledger.tiles import TileStore, tiles_append, tiles_from_leaves
from ledger.verify_bundle import open_checkpoint, verify_inclusion
from tests.ledger.conftest import write_events
from vault.signing import configured_public_keys

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_an_event_is_written_without_a_position_and_outside_a_transaction_refused() -> None:
    (event,) = write_events(1)
    assert event.leaf_index is None and event.sequenced_at is None
    assert bytes(event.leaf_hash) == merkle.leaf_hash(event.payload.encode())
    assert selectors.event_inclusion(event) is None  # not citable before it is sequenced
    with pytest.raises(RuntimeError, match="in the transaction of the change"):
        event_append(actor="system", action="x", object_type="t", object_id="1")


def test_the_sequencer_numbers_waiting_events_in_order_and_signs_the_tree() -> None:
    events = write_events(5)
    result = ledger_sequence()
    assert (result.sequenced, result.tree_size) == (5, 5)
    stored = list(AuditEvent.objects.order_by("id"))
    assert [e.leaf_index for e in stored] == [0, 1, 2, 3, 4]
    assert all(e.sequenced_at is not None for e in stored)
    tree = merkle.MemoryTree([bytes(e.leaf_hash) for e in stored])
    checkpoint = Checkpoint.objects.get()
    assert bytes(checkpoint.root_hash) == tree.root()
    opened = open_checkpoint(checkpoint.note, configured_public_keys(), origin="testserver/ledger")
    assert (opened.size, opened.root) == (5, tree.root())
    proof = selectors.event_inclusion(AuditEvent.objects.get(id=events[3].id))
    assert proof is not None
    verify_inclusion(3, 5, proof.leaf_hash, proof.path, tree.root())


def test_nothing_waiting_signs_nothing_and_batches_are_bounded() -> None:
    assert ledger_sequence().checkpoint is None
    write_events(7)
    first = ledger_sequence(max_batch=3)
    assert (first.sequenced, first.tree_size) == (3, 3)
    assert ledger_sequence(max_batch=3).tree_size == 6
    assert ledger_sequence(max_batch=3).tree_size == 7
    assert ledger_sequence().checkpoint is None
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [3, 6, 7]


def test_tiles_grow_across_tile_boundaries_exactly_like_a_tree_built_at_once() -> None:
    # 256 leaves fill a tile: sizes around one and two tiles, and a second row, must all agree.
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(600)]
    reference = merkle.MemoryTree(leaves)
    start = 0
    for step in [1, 254, 1, 1, 100, 155, 1, 87]:
        tiles_append(start, leaves[start : start + step])
        start += step
        store = TileStore(start)
        assert merkle.root_hash(store, start) == reference.root(start), start
        for index in {0, start // 2, start - 1}:
            assert merkle.inclusion_proof(store, index, start) == merkle.inclusion_proof(
                reference, index, start
            )
    assert Tile.objects.filter(level=1).count() == 1
    assert tiles_from_leaves(leaves[:start]) == start
    assert merkle.root_hash(TileStore(start), start) == reference.root(start)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_sequencer_waits_while_one_holds_the_lock() -> None:
    write_events(2)
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [0x4C45444745])
            assert cursor.fetchone()[0]
            assert ledger_sequence().sequenced == 0  # the lock is taken: this round does nothing
            cursor.execute("ROLLBACK")
    finally:
        other.close()
    assert ledger_sequence().sequenced == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_share_or_skip_a_position() -> None:
    def writer() -> None:
        try:
            for _ in range(10):
                with transaction.atomic():
                    event_append(actor="system", action="request.received", object_type="t", object_id="x")
        finally:
            connection.close()

    stop = threading.Event()

    def sequencer_loop() -> None:
        try:
            ledger_sequencer_run(interval=0.01, stop=stop)
        finally:
            connection.close()

    sequencer = threading.Thread(target=sequencer_loop)
    sequencer.start()
    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    sequencer.join()
    ledger_sequence()
    positions = AuditEvent.objects.order_by("leaf_index").values_list("leaf_index", flat=True)
    assert list(positions) == list(range(40))
    assert sequenced_size() == 40 == selectors.current_size()
