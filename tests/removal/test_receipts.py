"""Deletion receipts: issued once per completed request, signed, free of personal data, and checkable by
anyone (page, command, public keys) without the database."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from ledger.models import AuditEvent
from removal import services
from removal.models import DeletionReceipt, RemovalRequest, Status
from removal.receipts import (
    RECEIPT_MAX_BYTES,
    ReceiptNotIssuable,
    ReceiptProblem,
    deletion_receipt_for,
    deletion_receipt_issue,
    receipt_verify,
)
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME
from vault import signing
from vault.canonical import canonical_json

pytestmark = pytest.mark.django_db

CATEGORIES = [("photos", 12), ("thumbnails", 12), ("face_records", 14), ("headshot", 1)]
OTHER_KEY = base64.b64encode(b"D" * 32).decode()
FORGER_KEY = base64.b64encode(b"E" * 32).decode()


@pytest.fixture(autouse=True)
def _fresh_keys_and_limits() -> Iterator[None]:
    # Some tests rotate SIGNING_KEYS; the rate limit counts in the cache.
    signing.reset_signing_key_cache()
    cache.clear()
    yield
    signing.reset_signing_key_cache()
    cache.clear()


def in_purging(request: RemovalRequest) -> RemovalRequest:
    """Where the purge's last step finds a request (tests/removal/test_purge.py walks the way there)."""
    RemovalRequest.objects.filter(id=request.id).update(status=Status.PURGING)
    request.refresh_from_db()
    return request


@pytest.fixture
def purging_request(removal_request: RemovalRequest) -> RemovalRequest:
    return in_purging(removal_request)


def complete_with_receipt(
    request: RemovalRequest, reviewer: Any, categories: list[tuple[str, int]] = CATEGORIES
) -> DeletionReceipt:
    """What the purge's last step does: complete the request and issue its receipt in one transaction."""
    with transaction.atomic():
        completed = services.removal_request_complete_purge(
            request=request, actor=services.Actor.staff(reviewer)
        )
        return deletion_receipt_issue(
            request=completed, categories=categories, completed_at=completed.status_changed_at
        )


@pytest.fixture
def receipt(purging_request: RemovalRequest, reviewer: Any) -> DeletionReceipt:
    return complete_with_receipt(purging_request, reviewer)


def our_keys() -> signing.PublicKeyRing:
    return signing.configured_public_keys()


def resign(document: dict[str, Any], spec: str) -> str:
    """A receipt signed with another key: what a forger holding some key could produce."""
    ring = signing.SigningKeyRing.parse(spec)
    unsigned = {k: v for k, v in document.items() if k != "signature"} | {"key_id": ring.active_id}
    _, signature = ring.sign(canonical_json(unsigned).encode())
    return canonical_json({**unsigned, "signature": signing.b64url_encode(signature)})


# --- Issuing --------------------------------------------------------------------------------------


def test_a_completed_request_gets_a_signed_receipt_that_verifies(
    receipt: DeletionReceipt, purging_request: RemovalRequest
) -> None:
    request = RemovalRequest.objects.get(id=purging_request.id)
    document = json.loads(receipt.document)
    assert receipt.document == canonical_json(document), "stored exactly as canonical JSON"
    assert document["type"] == "deletion-receipt" and document["version"] == 1
    assert document["issuer"] == "testserver" and document["key_id"] == receipt.key_id == "test-sk1"
    assert document["reference"] == request.reference
    assert document["completed_at"] == request.status_changed_at.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert document["categories"] == [
        {"category": "photos", "items": 12},
        {"category": "thumbnails", "items": 12},
        {"category": "face_records", "items": 14},
        {"category": "headshot", "items": 1},
    ]
    check = receipt_verify(receipt.document, public_keys=our_keys())
    assert check.valid and check.problem is None and check.contents is not None
    assert check.contents.reference == request.reference
    assert check.contents.categories == (
        ("photos", 12),
        ("thumbnails", 12),
        ("face_records", 14),
        ("headshot", 1),
    )
    assert deletion_receipt_for(request=request) == receipt


def test_issuing_is_recorded_in_the_audit_trail_with_the_receipts_hash(receipt: DeletionReceipt) -> None:
    import hashlib

    event = AuditEvent.objects.get(action="request.receipt_issued")
    details = json.loads(event.payload)["details"]
    assert event.object_id == str(receipt.request_id) and event.actor == "system"
    assert details == {
        "key_id": "test-sk1",
        "receipt_sha256": hashlib.sha256(receipt.document.encode()).hexdigest(),
    }


def test_issuing_twice_returns_the_first_receipt_unchanged(receipt: DeletionReceipt) -> None:
    request = RemovalRequest.objects.get(id=receipt.request_id)
    with transaction.atomic():
        again = deletion_receipt_issue(
            request=request, categories=[("photos", 99)], completed_at=datetime.now(UTC)
        )
    assert again.pk == receipt.pk and again.document == receipt.document
    assert DeletionReceipt.objects.count() == 1
    assert AuditEvent.objects.filter(action="request.receipt_issued").count() == 1


def test_a_receipt_is_refused_for_a_request_that_is_not_completed(purging_request: RemovalRequest) -> None:
    with pytest.raises(ReceiptNotIssuable, match="completed request only"), transaction.atomic():
        deletion_receipt_issue(request=purging_request, categories=CATEGORIES, completed_at=datetime.now(UTC))
    assert not DeletionReceipt.objects.exists()


def test_the_receipt_rolls_back_with_a_completion_that_fails(
    purging_request: RemovalRequest, reviewer: Any
) -> None:
    def complete_then_fail() -> None:
        with transaction.atomic():
            complete_with_receipt(purging_request, reviewer)
            raise RuntimeError("the purge's last step failed after the receipt was signed")

    with pytest.raises(RuntimeError):
        complete_then_fail()
    purging_request.refresh_from_db()
    assert purging_request.status == Status.PURGING and not DeletionReceipt.objects.exists()


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([("photos", 1), ("Selfies!", 2)], "malformed receipt category 'Selfies!'"),
        ([("photos", 1), ("photos", 2)], "given twice"),
        ([("photos", -1)], "whole number"),
        ([("photos", True)], "whole number"),
    ],
)
def test_categories_a_receipt_cannot_state_are_refused(
    purging_request: RemovalRequest, reviewer: Any, categories: list[tuple[str, int]], message: str
) -> None:
    with pytest.raises(ReceiptNotIssuable, match=message):
        complete_with_receipt(purging_request, reviewer, categories)
    assert not DeletionReceipt.objects.exists()


def test_an_operator_targets_own_category_is_stated_after_ours(
    purging_request: RemovalRequest, reviewer: Any
) -> None:
    receipt = complete_with_receipt(purging_request, reviewer, [("crm_contacts", 3), ("photos", 2)])
    assert json.loads(receipt.document)["categories"] == [
        {"category": "photos", "items": 2},
        {"category": "crm_contacts", "items": 3},
    ]


def test_categories_are_listed_in_one_fixed_order_whatever_the_callers_order(
    purging_request: RemovalRequest, reviewer: Any
) -> None:
    receipt = complete_with_receipt(
        purging_request, reviewer, [("downstream_notices", 2), ("personal_data", 2), ("photos", 0)]
    )
    codes = [entry["category"] for entry in json.loads(receipt.document)["categories"]]
    assert codes == ["photos", "personal_data", "downstream_notices"]


def test_the_receipt_holds_no_personal_data_photo_embedding_or_url(
    receipt: DeletionReceipt, purging_request: RemovalRequest
) -> None:
    document = json.loads(receipt.document)
    assert set(document) == {
        "type",
        "version",
        "issuer",
        "reference",
        "received_at",
        "completed_at",
        "issued_at",
        "categories",
        "key_id",
        "signature",
    }
    text = receipt.document.lower()
    for personal in (SUBJECT_NAME, "Quintero", "Zoë", SUBJECT_EMAIL, "zoe.quintero", "example.org"):
        assert personal.lower() not in text
    assert str(purging_request.id) not in text, "the internal id is not handed out"
    assert purging_request.status_token_hash not in text
    assert "http" not in text and "/" not in document["issuer"]


def test_a_receipt_still_verifies_on_the_page_after_personal_data_is_shredded(
    client: Any, receipt: DeletionReceipt, reviewer: Any
) -> None:
    request = RemovalRequest.objects.get(id=receipt.request_id)
    assert services.removal_request_shred_personal_data(request=request, actor=services.Actor.staff(reviewer))
    response = client.post(reverse("removal:receipt_verify"), {"document": receipt.document})
    assert "Valid: signed by testserver with key test-sk1" in response.content.decode()


# --- Verification (pure) --------------------------------------------------------------------------


def _tampered(document: str, change: Any) -> str:
    data = json.loads(document)
    change(data)
    return json.dumps(data)


def _other_char_at(text: str, position: int) -> str:
    # A base64 letter in the middle: every one of its bits is data (the last letters' low bits may be
    # padding, so changing those can leave the decoded signature as it was).
    return text[:position] + ("B" if text[position] != "B" else "C") + text[position + 1 :]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["categories"][0].update(items=11), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d.update(reference="RR-AAAA-BBBB"), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d["categories"][1].update(category="face_records"), ReceiptProblem.MALFORMED),
        (lambda d: d["categories"][1].update(category="downstream_notices"), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d["categories"].pop(), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d.update(completed_at="2020-01-01T00:00:00Z"), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d.update(received_at=d["received_at"].replace("Z", "+00:00")), ReceiptProblem.MALFORMED),
        (lambda d: d.update(issuer="privacy.example.com"), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d.update(key_id="test-sk2"), ReceiptProblem.UNKNOWN_KEY),
        (lambda d: d.update(signature=_other_char_at(d["signature"], 10)), ReceiptProblem.BAD_SIGNATURE),
        (lambda d: d.update(signature="not base64!"), ReceiptProblem.MALFORMED),
        (lambda d: d.update(note="added later"), ReceiptProblem.MALFORMED),
        (lambda d: d.pop("issued_at"), ReceiptProblem.MALFORMED),
        (lambda d: d.update(type="audit-checkpoint"), ReceiptProblem.WRONG_TYPE),
        (lambda d: d.update(version=2), ReceiptProblem.WRONG_VERSION),
        (lambda d: d.update(version="1"), ReceiptProblem.WRONG_VERSION),
        (lambda d: d.update(version=1.0), ReceiptProblem.WRONG_VERSION),
        (lambda d: d.update(version=True), ReceiptProblem.WRONG_VERSION),
    ],
    ids=[
        "count",
        "reference",
        "category-repeated",
        "category-renamed",
        "category-removed",
        "completion-date",
        "date-format",
        "issuer",
        "key-id",
        "signature",
        "signature-encoding",
        "field-added",
        "field-removed",
        "type",
        "version-2",
        "version-string",
        "version-float",
        "version-bool",
    ],
)
def test_any_change_to_a_receipt_makes_it_invalid_with_a_reason(
    receipt: DeletionReceipt, change: Any, problem: ReceiptProblem
) -> None:
    check = receipt_verify(_tampered(receipt.document, change), public_keys=our_keys())
    assert not check.valid and check.contents is None
    assert check.problem == problem and check.reason


def test_a_changed_byte_anywhere_in_the_signed_text_is_caught(receipt: DeletionReceipt) -> None:
    # Every letter and digit of the document, field names and signature included, changed in place.
    document = receipt.document
    for position, char in enumerate(document):
        if not char.isalnum():
            continue
        replacement = "7" if char != "7" else "8"
        altered = document[:position] + replacement + document[position + 1 :]
        assert not receipt_verify(altered, public_keys=our_keys()).valid, f"change at {position} unnoticed"


def test_a_receipt_signed_with_another_key_under_our_key_id_is_refused(receipt: DeletionReceipt) -> None:
    forged = resign(json.loads(receipt.document), f"test-sk1:{FORGER_KEY}")
    check = receipt_verify(forged, public_keys=our_keys())
    assert check.problem == ReceiptProblem.BAD_SIGNATURE and "not signed with this key" in check.reason


def test_a_receipt_signed_with_a_key_we_do_not_publish_names_the_unknown_key(
    receipt: DeletionReceipt,
) -> None:
    forged = resign(json.loads(receipt.document), f"forger:{FORGER_KEY}")
    check = receipt_verify(forged, public_keys=our_keys())
    assert check.problem == ReceiptProblem.UNKNOWN_KEY and "forger" in check.reason


def test_after_rotation_new_receipts_use_the_new_key_and_old_ones_still_verify(
    settings: Any, receipt: DeletionReceipt, make_request: Any, reviewer: Any
) -> None:
    settings.SIGNING_KEYS = f"test-sk2:{OTHER_KEY},{django_settings.SIGNING_KEYS}"
    signing.reset_signing_key_cache()
    assert receipt_verify(receipt.document, public_keys=our_keys()).valid
    newer = in_purging(make_request(email="someone.else@example.net").request)
    new_receipt = complete_with_receipt(newer, reviewer)
    assert new_receipt.key_id == "test-sk2"
    assert receipt_verify(new_receipt.document, public_keys=our_keys()).valid

    settings.SIGNING_KEYS = f"test-sk2:{OTHER_KEY}"  # the old key retired: its receipts name an unknown key
    signing.reset_signing_key_cache()
    assert receipt_verify(receipt.document, public_keys=our_keys()).problem == ReceiptProblem.UNKNOWN_KEY


def test_layout_and_key_order_do_not_matter_only_the_content_is_signed(receipt: DeletionReceipt) -> None:
    data = json.loads(receipt.document)
    pretty = json.dumps(dict(reversed(list(data.items()))), indent=2, ensure_ascii=True)
    assert receipt_verify(pretty, public_keys=our_keys()).valid
    assert receipt_verify("\ufeff" + receipt.document, public_keys=our_keys()).valid
    assert receipt_verify(b"\xef\xbb\xbf" + receipt.document.encode(), public_keys=our_keys()).valid


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("", "not valid JSON (line 1, column 1)"),
        ("{", "not valid JSON"),
        ("[1, 2]", "is a JSON object"),
        ('"deletion-receipt"', "is a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        ('{"type": "deletion-receipt", "type": "deletion-receipt"}', "appears twice"),
        ('{"type": "deletion-receipt", "version": NaN}', "not allow (NaN)"),
        ("[" * 5000 + "]" * 5000, "not valid JSON"),
        (" " * (RECEIPT_MAX_BYTES + 1), "too large"),
    ],
    ids=["empty", "truncated", "array", "string", "not-utf8", "duplicate-key", "nan", "deep", "too-large"],
)
def test_malformed_input_is_refused_with_a_clear_reason(document: str | bytes, reason: str) -> None:
    check = receipt_verify(document, public_keys=our_keys())
    assert check.problem == ReceiptProblem.MALFORMED and reason in check.reason


def test_checking_a_receipt_needs_no_database(
    receipt: DeletionReceipt, django_assert_num_queries: Any
) -> None:
    document, keys = receipt.document, our_keys()
    with django_assert_num_queries(0):
        assert receipt_verify(document, public_keys=keys).valid
        assert not receipt_verify(document.replace('"items":12', '"items":13', 1), public_keys=keys).valid


def test_reasons_are_given_in_the_readers_language(receipt: DeletionReceipt) -> None:
    altered = receipt.document.replace('"items":12', '"items":13', 1)
    with translation.override("fr"):
        french = receipt_verify(altered, public_keys=our_keys()).reason
    with translation.override("de"):
        german = receipt_verify(altered, public_keys=our_keys()).reason
    assert "signature" in french.lower() and "Signatur" in german
    assert len({french, german, receipt_verify(altered, public_keys=our_keys()).reason}) == 3


# --- The public page ------------------------------------------------------------------------------

PAGE = "/receipts/verify/"


def test_the_check_page_has_labelled_fields_and_links_the_public_keys(client: Any) -> None:
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200 and reverse("removal:receipt_verify") == PAGE
    assert '<label for="id_document">Paste the receipt' in html
    assert '<label for="id_upload">Or choose the receipt file' in html
    assert 'enctype="multipart/form-data"' in html and "<script" not in html
    assert 'href="/receipts/public-keys.json"' in html


def test_a_pasted_valid_receipt_shows_who_signed_it_and_what_was_deleted(
    client: Any, receipt: DeletionReceipt
) -> None:
    response = client.post(PAGE, {"document": receipt.document})
    html = response.content.decode()
    reference = json.loads(receipt.document)["reference"]
    assert response.status_code == 200
    assert 'role="status"' in html and "Valid: signed by testserver with key test-sk1" in html
    assert reference in html and "Completed" in html
    assert "<td>Photos</td><td>12</td>" in html
    assert "<td>Face records (face embeddings and search index entries)</td><td>14</td>" in html
    assert "<td>Photo of the face sent with the request</td><td>1</td>" in html


def test_an_uploaded_receipt_file_is_checked_the_same_way(client: Any, receipt: DeletionReceipt) -> None:
    upload = SimpleUploadedFile("receipt.json", receipt.document.encode(), content_type="application/json")
    response = client.post(PAGE, {"upload": upload})
    assert "Valid: signed by testserver" in response.content.decode()


def test_an_altered_receipt_is_shown_as_not_valid_with_the_reason(
    client: Any, receipt: DeletionReceipt
) -> None:
    altered = receipt.document.replace('"items":12', '"items":120', 1)
    response = client.post(PAGE, {"document": altered})
    html = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in html
    assert "<title>Not valid:" in html and "Not valid</h2>" in html
    assert "The signature does not match the contents" in html and "Valid: signed" not in html


def test_the_page_answers_the_same_whether_or_not_the_reference_exists(
    client: Any, receipt: DeletionReceipt
) -> None:
    # A genuine receipt for a reference that is not in the database: nothing is looked up, so it is
    # reported exactly like any other receipt, and so are forgeries of either.
    import re

    data = json.loads(receipt.document)

    def verdict(document: str, *, reference: str) -> str:
        response = client.post(PAGE, {"document": document})
        [section] = re.findall(r"<section.*?</section>", response.content.decode(), flags=re.S)
        return f"{response.status_code} {section.replace(reference, 'REF')}"

    stranger = resign({**data, "reference": "RR-ZZZZ-ZZZZ"}, django_settings.SIGNING_KEYS)
    known = verdict(receipt.document, reference=data["reference"])
    assert known == verdict(stranger, reference="RR-ZZZZ-ZZZZ") and "Valid: signed by testserver" in known
    forged_known = resign(data, f"test-sk1:{FORGER_KEY}")
    forged_unknown = resign({**data, "reference": "RR-ZZZZ-ZZZZ"}, f"test-sk1:{FORGER_KEY}")
    assert verdict(forged_known, reference=data["reference"]) == verdict(
        forged_unknown, reference="RR-ZZZZ-ZZZZ"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Paste the receipt or choose its file."),
        ({"document": "x", "upload": SimpleUploadedFile("r.json", b"{}")}, "not both"),
    ],
)
def test_nothing_or_both_is_a_form_error_with_a_summary(
    client: Any, data: dict[str, Any], message: str
) -> None:
    response = client.post(PAGE, data)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'role="alert"' in html and "Please correct the following" in html and 'aria-invalid="true"' in html
    assert message in html and '<a href="#id_document">' in html


def test_an_oversized_upload_is_refused_without_being_checked(client: Any) -> None:
    big = SimpleUploadedFile("photo.jpg", b"{" + b" " * (RECEIPT_MAX_BYTES + 10) + b"}")
    response = client.post(PAGE, {"upload": big})
    html = response.content.decode()
    assert response.status_code == 413
    assert "larger than 16 KB" in html and '<a href="#id_upload">' in html


def test_an_oversized_post_is_refused_by_its_length_before_it_is_read(client: Any) -> None:
    response = client.post(PAGE, {"document": "x" * (5 * RECEIPT_MAX_BYTES)})
    assert response.status_code == 413 and "larger than 16 KB" in response.content.decode()


def test_a_pasted_text_over_the_limit_is_a_form_error(client: Any) -> None:
    response = client.post(PAGE, {"document": "{" + " " * RECEIPT_MAX_BYTES + "}"})
    assert response.status_code == 400 and "too large to be a deletion receipt" in response.content.decode()


def test_checks_are_rate_limited_per_address(client: Any, settings: Any, receipt: DeletionReceipt) -> None:
    settings.RECEIPT_VERIFY_RATE_PER_IP = "2/h"
    for _ in range(2):
        assert client.post(PAGE, {"document": receipt.document}).status_code == 200
    limited = client.post(PAGE, {"document": receipt.document})
    assert limited.status_code == 429 and "Too many checks" in limited.content.decode()
    assert client.get(PAGE).status_code == 200, "reading the page is not limited"


def test_the_page_needs_the_csrf_token(receipt: DeletionReceipt) -> None:
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(PAGE, {"document": receipt.document})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("language", "heading", "valid"),
    [("fr", "Vérifier un reçu de suppression", "Valide"), ("de", "Löschbestätigung prüfen", "Gültig")],
)
def test_the_check_page_speaks_french_and_german(
    client: Any, receipt: DeletionReceipt, language: str, heading: str, valid: str
) -> None:
    assert heading in client.get(PAGE, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    html = client.post(PAGE, {"document": receipt.document}, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<html lang="{language}">' in html and valid in html


# --- Public keys ------------------------------------------------------------------------------------


def test_public_keys_are_published_for_offline_checking(client: Any, settings: Any) -> None:
    response = client.get("/receipts/public-keys.json")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    published = response.json()
    assert (
        list(published) == ["test-sk1"]
        and reverse("removal:receipt_public_keys") == "/receipts/public-keys.json"
    )
    private = django_settings.SIGNING_KEYS.partition(":")[2]
    assert published["test-sk1"] != private and private not in response.content.decode()
    assert signing.public_key_to_b64(our_keys()["test-sk1"]) == published["test-sk1"]

    settings.SIGNING_KEYS = f"test-sk2:{OTHER_KEY},{django_settings.SIGNING_KEYS}"
    signing.reset_signing_key_cache()
    assert list(client.get("/receipts/public-keys.json").json()) == ["test-sk2", "test-sk1"]


def test_published_keys_check_a_receipt_without_our_configuration(
    client: Any, receipt: DeletionReceipt
) -> None:
    downloaded = signing.public_keys_from_json(client.get("/receipts/public-keys.json").json())
    assert receipt_verify(receipt.document, public_keys=downloaded).valid


# --- The command ------------------------------------------------------------------------------------


@pytest.fixture
def receipt_file(tmp_path: Path, receipt: DeletionReceipt) -> Path:
    path = tmp_path / "receipt.json"
    path.write_text(receipt.document, encoding="utf-8")
    return path


def test_command_says_valid_on_one_line(receipt_file: Path, capsys: Any) -> None:
    call_command("receipt_verify", str(receipt_file))
    out = capsys.readouterr().out.strip()
    assert out.startswith("valid: signed by testserver with key test-sk1; reference RR-")
    assert "photos=12, thumbnails=12, face_records=14, headshot=1" in out and "\n" not in out


def test_command_fails_with_exit_status_1_and_the_reason_when_altered(receipt_file: Path) -> None:
    receipt_file.write_text(receipt_file.read_text().replace('"items":12', '"items":2', 1))
    with pytest.raises(CommandError, match=r"^not valid: The signature does not match") as excinfo:
        call_command("receipt_verify", str(receipt_file))
    assert excinfo.value.returncode == 1


def test_command_checks_against_a_downloaded_key_file(
    receipt_file: Path, tmp_path: Path, capsys: Any
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(signing.public_keys_to_json(our_keys())))
    call_command("receipt_verify", str(receipt_file), "--public-keys", str(keys))
    assert capsys.readouterr().out.startswith("valid:")

    keys.write_text(json.dumps({"someone-else": base64.b64encode(b"\x01" * 32).decode()}))
    with pytest.raises(CommandError, match="not one of the issuer's public keys") as excinfo:
        call_command("receipt_verify", str(receipt_file), "--public-keys", str(keys))
    assert excinfo.value.returncode == 1


@pytest.fixture
def key_server() -> Iterator[str]:
    body = json.dumps(signing.public_keys_to_json(signing.configured_public_keys())).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/receipts/public-keys.json"
    server.shutdown()
    server.server_close()
    thread.join()


def test_command_fetches_the_public_keys_from_a_url(receipt_file: Path, key_server: str, capsys: Any) -> None:
    call_command("receipt_verify", str(receipt_file), "--public-keys", key_server)
    assert capsys.readouterr().out.startswith("valid:")


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [str(tmp / "missing.json")], "cannot read the receipt"),
        (lambda tmp: ["RECEIPT", "--public-keys", str(tmp / "missing.json")], "cannot read the public keys"),
        (lambda tmp: ["RECEIPT", "--public-keys", "RECEIPT"], "cannot read the public keys"),
    ],
    ids=["no-receipt", "no-keys", "keys-malformed"],
)
def test_command_exits_2_when_it_cannot_check_at_all(
    receipt_file: Path, tmp_path: Path, make_args: Any, message: str
) -> None:
    args = [str(receipt_file) if a == "RECEIPT" else a for a in make_args(tmp_path)]
    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("receipt_verify", *args)
    assert excinfo.value.returncode == 2


def test_command_exit_statuses_from_the_shell(receipt_file: Path, tmp_path: Path) -> None:
    altered = tmp_path / "altered.json"
    altered.write_text(receipt_file.read_text().replace('"items":14', '"items":4', 1))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    manage = [sys.executable, str(Path(django_settings.BASE_DIR) / "manage.py"), "receipt_verify"]
    ok = subprocess.run([*manage, str(receipt_file)], capture_output=True, text=True, env=env, check=False)
    bad = subprocess.run([*manage, str(altered)], capture_output=True, text=True, env=env, check=False)
    assert (ok.returncode, bad.returncode) == (0, 1)
    assert ok.stdout.startswith("valid:") and "not valid: The signature does not match" in bad.stderr


def test_the_standalone_check_in_the_docs_runs_without_our_code(receipt_file: Path, tmp_path: Path) -> None:
    import re

    docs = (Path(django_settings.BASE_DIR) / "docs" / "receipts.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    assert len(code.strip().splitlines()) <= 15
    script, keys = tmp_path / "check_receipt.py", tmp_path / "public-keys.json"
    script.write_text(code, encoding="utf-8")
    keys.write_text(json.dumps(signing.public_keys_to_json(our_keys())), encoding="utf-8")
    altered = tmp_path / "altered.json"
    altered.write_text(receipt_file.read_text().replace('"items":1}', '"items":0}', 1))

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        # Run from an empty folder with a bare environment: nothing of this project is importable.
        return subprocess.run(
            [sys.executable, "-I", str(script), str(path), str(keys)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": os.environ.get("PATH", "")},
            check=False,
        )

    ok, bad = run(receipt_file), run(altered)
    assert ok.returncode == 0 and ok.stdout.startswith("valid: testserver RR-"), ok.stderr
    assert bad.returncode != 0 and "InvalidSignature" in bad.stderr
