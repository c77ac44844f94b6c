"""A regulator's export, checked by the standalone verifier run as they would run it: every way the
issue names of breaking a bundle is caught with a message naming it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

from ledger.models import Checkpoint
from ledger.services import ledger_sequence
from removal import services
from removal.models import DenialBasis
from tests.ledger.conftest import execute, write_events
from vault.signing import public_key_to_b64

pytestmark = pytest.mark.django_db
VERIFIER = Path(settings.BASE_DIR) / "ledger" / "verify_bundle.py"


def verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The verifier as a regulator runs it: its own file, no Django, no project on the path."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ""}
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(bundle), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        check=False,
    )


def export(out: Path, *extra: str) -> Path:
    today = datetime.now(UTC).date().isoformat()
    call_command("export_request_log", "--since", "2020-01-01", "--until", today, "--out", str(out), *extra)
    return out


@pytest.fixture
def requests(make_request: Any) -> list[Any]:
    made = [
        make_request(email="a@example.org", jurisdictions=["EU"]).request,
        make_request(email="b@example.org", jurisdictions=["US-CA"], right="opt_out").request,
        make_request(email="c@example.org", jurisdictions=["EU", "US-CA"]).request,
    ]
    services.removal_request_deny(
        request=made[0], actor=services.SYSTEM, basis=DenialBasis.MANIFESTLY_UNFOUNDED
    )
    ledger_sequence()
    return made


@pytest.fixture
def bundle(requests: list[Any], tmp_path: Path) -> Path:
    return export(tmp_path / "bundle")


def _rewrite(path: Path, change: Any) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(change(lines)), encoding="utf-8")


def test_a_fresh_bundle_verifies_offline_and_holds_the_7101_columns(
    bundle: Path, requests: list[Any]
) -> None:
    result = verify(bundle)
    assert result.returncode == 0, result.stderr
    assert "VALID: 3 request(s)" in result.stdout
    rows = [json.loads(line) for line in (bundle / "requests.jsonl").read_text().splitlines()]
    by_reference = {row["reference"]: row for row in rows}
    denied = by_reference[requests[0].reference]
    assert (denied["right"], denied["channel"], denied["response"]) == ("erasure", "web", "denied")
    assert denied["denial_basis"] == "manifestly_unfounded" and denied["on_time"] == "yes"
    assert (
        by_reference[requests[1].reference]["response"] == ""
        and by_reference[requests[1].reference]["on_time"] == "open"
    )
    text = "".join(p.read_text() for p in bundle.iterdir())
    assert "example.org" not in text  # no e-mail, name or address can be in the bundle


def test_a_jurisdiction_filter_keeps_only_its_requests(requests: list[Any], tmp_path: Path) -> None:
    bundle = export(tmp_path / "ca", "--jurisdiction", "US-CA")
    references = {
        json.loads(line)["reference"] for line in (bundle / "requests.jsonl").read_text().splitlines()
    }
    assert references == {requests[1].reference, requests[2].reference}
    assert verify(bundle).returncode == 0


def test_any_changed_byte_in_a_file_is_named(bundle: Path) -> None:
    data = bytearray((bundle / "entries.jsonl").read_bytes())
    data[40] ^= 1
    (bundle / "entries.jsonl").write_bytes(bytes(data))
    result = verify(bundle)
    assert result.returncode == 1
    assert "entries.jsonl was changed: its SHA-256 differs from the signed manifest's" in result.stderr


def test_a_dropped_row_is_named(bundle: Path) -> None:
    _rewrite(bundle / "requests.jsonl", lambda lines: lines[:1] + lines[2:])
    result = verify(bundle)
    assert result.returncode == 1 and "was dropped from requests.jsonl" in result.stderr


def test_a_reordered_row_is_named(bundle: Path) -> None:
    _rewrite(bundle / "requests.jsonl", lambda lines: [lines[1], lines[0], *lines[2:]])
    result = verify(bundle)
    assert result.returncode == 1 and "is out of order: the index has it as row 2" in result.stderr


def test_a_row_not_in_the_log_is_named(bundle: Path) -> None:
    def forge(lines: list[str]) -> list[str]:
        row = json.loads(lines[0])
        row.update(reference="RR-FAKE-0001", leaf_indexes=[9999])
        return [*lines, json.dumps(row) + "\n"]

    _rewrite(bundle / "requests.jsonl", forge)
    result = verify(bundle)
    assert result.returncode == 1
    assert "(RR-FAKE-0001) is not in the export's index: a row not in the log" in result.stderr
    assert "(RR-FAKE-0001): entry 9999 is not in the bundle" in result.stderr


def test_a_row_that_says_more_than_its_entries_is_named(bundle: Path) -> None:
    _rewrite(
        bundle / "requests.jsonl",
        lambda lines: [lines[0].replace('"on_time":"yes"', '"on_time":"no"'), *lines[1:]],
    )
    result = verify(bundle)
    assert result.returncode == 1 and "differs from what its log entries say" in result.stderr


def test_a_wrong_signature_is_named(bundle: Path) -> None:
    sig = json.loads((bundle / "manifest.sig").read_text())
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    (bundle / "manifest.sig").write_text(json.dumps(sig))
    result = verify(bundle)
    assert result.returncode == 1 and "the manifest's signature does not verify" in result.stderr


def test_an_unknown_key_is_named(bundle: Path, tmp_path: Path) -> None:
    other = tmp_path / "keys.json"
    other.write_text(
        json.dumps({"someone-else": public_key_to_b64(Ed25519PrivateKey.generate().public_key())})
    )
    result = verify(bundle, "--public-keys", str(other))
    assert result.returncode == 1
    assert "is signed by key 'test-sk1', which is not among the public keys" in result.stderr


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    result = verify(tmp_path)
    assert result.returncode == 2 and "not an export bundle" in result.stderr


def test_consistency_with_a_saved_checkpoint(requests: list[Any], tmp_path: Path) -> None:
    saved = tmp_path / "saved.txt"
    saved.write_text(Checkpoint.objects.order_by("-tree_size").first().note)  # type: ignore[union-attr]
    size = Checkpoint.objects.order_by("-tree_size").first().tree_size  # type: ignore[union-attr]
    write_events(3)
    ledger_sequence()
    bundle = export(tmp_path / "later", "--consistent-with", str(size))
    result = verify(bundle, "--checkpoint", str(saved))
    assert result.returncode == 0, result.stderr
    assert "consistent with your saved checkpoint" in result.stdout


def _rewrite_log(events: int) -> None:
    """What an operator with the database could do: empty the log and write another history."""
    with transaction.atomic():
        execute("TRUNCATE ledger_auditevent, ledger_checkpoint, ledger_tile")
    write_events(events, object_id="rewritten")
    ledger_sequence()


@pytest.mark.postgres
def test_a_log_cut_off_after_the_regulator_saved_a_checkpoint_is_caught(
    requests: list[Any], tmp_path: Path
) -> None:
    saved = tmp_path / "saved.txt"
    latest = Checkpoint.objects.order_by("-tree_size").first()
    assert latest is not None
    saved.write_text(latest.note)
    _rewrite_log(latest.tree_size - 2)
    result = verify(export(tmp_path / "cut"), "--checkpoint", str(saved))
    assert result.returncode == 1
    assert (
        f"fewer than the {latest.tree_size} of the checkpoint you saved: entries were removed"
        in result.stderr
    )


@pytest.mark.postgres
def test_a_rewritten_longer_log_is_caught(requests: list[Any], tmp_path: Path) -> None:
    saved = tmp_path / "saved.txt"
    latest = Checkpoint.objects.order_by("-tree_size").first()
    assert latest is not None
    saved.write_text(latest.note)
    _rewrite_log(latest.tree_size + 5)
    bundle = export(tmp_path / "rewritten", "--consistent-with", str(latest.tree_size))
    result = verify(bundle, "--checkpoint", str(saved))
    assert result.returncode == 1 and "is not an extension of the log of size" in result.stderr


@pytest.mark.postgres
def test_a_forked_log_is_caught(requests: list[Any], tmp_path: Path) -> None:
    saved = tmp_path / "saved.txt"
    latest = Checkpoint.objects.order_by("-tree_size").first()
    assert latest is not None
    saved.write_text(latest.note)
    _rewrite_log(latest.tree_size)
    result = verify(export(tmp_path / "fork"), "--checkpoint", str(saved))
    assert result.returncode == 1
    assert f"two different roots for tree size {latest.tree_size}: the log has forked" in result.stderr


def test_bad_arguments_change_nothing(requests: list[Any], tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a date"):
        call_command(
            "export_request_log", "--since", "yesterday", "--until", "2026-01-01", "--out", str(tmp_path)
        )
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(CommandError, match="is not empty"):
        export(tmp_path / "used")
    with pytest.raises(CommandError, match="the period is empty"):
        call_command(
            "export_request_log",
            "--since",
            "2026-02-01",
            "--until",
            "2026-01-01",
            "--out",
            str(tmp_path / "n"),
        )
    assert not (tmp_path / "n").exists()
