"""The log's management commands, and the sequencer as the real process it runs as."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ledger import merkle
from ledger.models import AuditEvent, Checkpoint
from ledger.services import ledger_sequence
from ledger.verify_bundle import verify_consistency, verify_inclusion
from tests.ledger.conftest import execute, triggers_off, write_events

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sequence_once_verify_and_proofs(tmp_path: Path) -> None:
    events = write_events(4)
    assert "sequenced 4 event(s); the signed log has 4 entries" in _call("ledger_sequencer", "--once")
    assert "Log intact: 4 entries under 1 signed checkpoint(s)" in _call("ledger_verify")
    assert "Log intact" in _call("audit_verify")
    tree = merkle.MemoryTree([bytes(e.leaf_hash) for e in AuditEvent.objects.order_by("leaf_index")])
    proof = json.loads(_call("ledger_proof", "inclusion", str(events[2].event_id)))
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    verify_inclusion(proof["leaf_index"], 4, tree.leaves[proof["leaf_index"]], path, tree.root())
    write_events(3)
    ledger_sequence()
    grown = merkle.MemoryTree([bytes(e.leaf_hash) for e in AuditEvent.objects.order_by("leaf_index")])
    consistency = json.loads(_call("ledger_proof", "consistency", "4", "7"))["consistency"]
    verify_consistency(4, 7, [base64.b64decode(h) for h in consistency], tree.root(), grown.root())
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(Checkpoint.objects.get(tree_size=4).note)
    assert "Log intact: 7 entries" in _call("ledger_verify", "--checkpoint", str(saved), "--rebuild-tiles")


@pytest.mark.postgres
def test_ledger_verify_fails_loudly_when_the_log_is_broken() -> None:
    write_events(2)
    ledger_sequence()
    with triggers_off():
        execute("DELETE FROM ledger_auditevent WHERE leaf_index = 1")
    with pytest.raises(CommandError, match=r"Log NOT intact: 1 problem\(s\)"):
        _call("ledger_verify")
    with pytest.raises(CommandError, match="cannot read the checkpoint"):
        _call("ledger_verify", "--checkpoint", "/nonexistent/checkpoint.txt")


def test_a_proof_for_an_unknown_entry_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="neither a leaf index nor an event id"):
        _call("ledger_proof", "inclusion", "zzz")
    with pytest.raises(CommandError, match="not a signed size"):
        _call("ledger_proof", "consistency", "1", "2")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sequencer_process_signs_a_new_event_within_two_seconds_and_stops_on_sigterm() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "LEDGER_SEQUENCE_INTERVAL_SECONDS": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "ledger_sequencer"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "ledger sequencer: every 0.2 s" in process.stdout.readline()
        write_events(1)
        committed = time.monotonic()
        while not Checkpoint.objects.filter(tree_size=1).exists():
            assert time.monotonic() - committed < 2.0, "no checkpoint within 2 s of the commit"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _test_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
