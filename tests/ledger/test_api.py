"""The public log API (RFC 6962 §4 shapes), the checkpoint URLs, and what they must never say."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from ledger import merkle
from ledger.models import AuditEvent
from ledger.services import ledger_sequence
from ledger.verify_bundle import open_checkpoint, verify_consistency, verify_inclusion
from tests.ledger.conftest import write_events
from vault.signing import configured_public_keys, public_keys_from_json

pytestmark = pytest.mark.django_db
b64d = base64.b64decode
ZERO_HASH = base64.b64encode(bytes(32)).decode()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()


@pytest.fixture
def grown_log() -> merkle.MemoryTree:
    write_events(6)
    ledger_sequence()
    write_events(5)
    ledger_sequence()
    return merkle.MemoryTree([bytes(e.leaf_hash) for e in AuditEvent.objects.order_by("leaf_index")])


def test_get_sth_serves_the_latest_signed_head(client: Client, grown_log: merkle.MemoryTree) -> None:
    response = client.get("/ledger/v1/get-sth")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=5"
    sth = response.json()
    assert sth["tree_size"] == 11 and b64d(sth["sha256_root_hash"]) == grown_log.root()
    assert isinstance(sth["timestamp"], int) and b64d(sth["tree_head_signature"])[:2] == b"\x08\x07"


def test_consistency_and_inclusion_proofs_verify_against_the_heads(client: Client, grown_log: Any) -> None:
    proof = client.get("/ledger/v1/get-sth-consistency", {"first": 6, "second": 11})
    assert proof["Cache-Control"] == "public, max-age=31536000, immutable"
    path = [b64d(h) for h in proof.json()["consistency"]]
    verify_consistency(6, 11, path, grown_log.root(6), grown_log.root(11))
    leaf = grown_log.leaves[8]
    query = {"hash": base64.b64encode(leaf).decode(), "tree_size": "11"}
    found = client.get("/ledger/v1/get-proof-by-hash", query)
    body = found.json()
    assert body["leaf_index"] == 8
    verify_inclusion(8, 11, leaf, [b64d(h) for h in body["audit_path"]], grown_log.root())


def test_get_entries_returns_the_exact_hashed_bytes_and_pages(client: Client, grown_log: Any) -> None:
    with override_settings(LEDGER_MAX_ENTRIES_PER_CALL=4):
        page = client.get("/ledger/v1/get-entries", {"start": 2, "end": 10}).json()["entries"]
    assert len(page) == 4
    assert [merkle.leaf_hash(b64d(e["leaf_input"])) for e in page] == grown_log.leaves[2:6]
    tail = client.get("/ledger/v1/get-entries", {"start": 9, "end": 50}).json()["entries"]
    assert len(tail) == 2  # clipped at the signed size


@pytest.mark.parametrize(
    ("url", "params", "status", "detail"),
    [
        ("/ledger/v1/get-sth-consistency", {"first": 6}, 400, "'second' is required"),
        ("/ledger/v1/get-sth-consistency", {"first": "x", "second": 3}, 400, "non-negative integer"),
        ("/ledger/v1/get-sth-consistency", {"first": 7, "second": 3}, 400, "must not be greater"),
        ("/ledger/v1/get-sth-consistency", {"first": 3, "second": 99}, 404, "not a signed size"),
        ("/ledger/v1/get-proof-by-hash", {"hash": "abc", "tree_size": 11}, 400, "32 bytes"),
        ("/ledger/v1/get-proof-by-hash", {"hash": ZERO_HASH, "tree_size": 11}, 404, "no entry with"),
        ("/ledger/v1/get-entries", {"start": 20, "end": 30}, 404, "not in the signed log"),
        ("/ledger/v1/get-entries", {"start": -1, "end": 3}, 400, "non-negative integer"),
        ("/ledger/checkpoints/99", {}, 404, "no signed checkpoint of tree size 99"),
    ],
)  # fmt: skip
def test_bad_questions_get_a_clear_json_error(
    client: Client, grown_log: Any, url: str, params: dict[str, Any], status: int, detail: str
) -> None:
    response = client.get(url, params)
    assert response.status_code == status and detail in response.json()["detail"]
    assert response["Cache-Control"] == "no-store"


def test_the_api_answers_only_get(client: Client, grown_log: Any) -> None:
    assert client.post("/ledger/v1/get-sth").status_code == 405


def test_an_empty_log_says_so(client: Client) -> None:
    assert client.get("/ledger/v1/get-sth").status_code == 404
    assert client.get("/ledger/checkpoint").status_code == 404


def test_checkpoints_are_published_as_signed_notes_with_their_keys(client: Client, grown_log: Any) -> None:
    latest = client.get("/ledger/checkpoint")
    assert latest["Content-Type"] == "text/plain; charset=utf-8"
    keys = public_keys_from_json(client.get("/ledger/public-keys.json").json())
    opened = open_checkpoint(latest.content.decode(), keys, origin="testserver/ledger")
    assert opened.size == 11 and opened.root == grown_log.root()
    older = client.get("/ledger/checkpoints/6")
    assert older["Cache-Control"] == "public, max-age=31536000, immutable"
    assert open_checkpoint(older.content.decode(), configured_public_keys()).root == grown_log.root(6)


@override_settings(LEDGER_API_RATE="3/m")
def test_the_api_is_rate_limited_per_client(client: Client, grown_log: Any) -> None:
    statuses = [client.get("/ledger/v1/get-sth").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/ledger/checkpoint").status_code == 429  # one budget for the whole API
    other = client.get("/ledger/v1/get-sth", REMOTE_ADDR="192.0.2.9")
    assert other.status_code == 200


def test_the_log_holds_no_personal_data_of_a_request(client: Client, make_request: Any) -> None:
    make_request(name="Zoë Quintero", email="zoe.quintero@example.org")
    ledger_sequence()
    size = client.get("/ledger/v1/get-sth").json()["tree_size"]
    entries = client.get("/ledger/v1/get-entries", {"start": 0, "end": size - 1}).json()["entries"]
    text = "".join(b64d(e["leaf_input"]).decode() for e in entries).lower()
    assert entries and "zoe" not in text and "quintero" not in text and "example.org" not in text
