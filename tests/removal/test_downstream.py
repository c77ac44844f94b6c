"""Downstream recipients (GDPR Art. 19, CCPA §7022(b)(3)): signed webhooks and e-mail notices, with
evidence per recipient, and an operator's own purge target as docs/purge.md shows it.

Webhooks go to a real HTTP server in this process. The purge engine is driven job by job with
`purge_job_run`; request completion (which issues the deletion receipt, `removal.receipts`, not part of
this branch) is replaced by a recorder, so these tests stop at "the job is done".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from ledger.models import AuditEvent
from notifications.models import Message
from notifications.services import message_deliver
from removal import selectors, services
from removal.downstream_signature import signature_verify
from removal.models import (
    Candidate,
    DownstreamRecipient,
    Face,
    Photo,
    PurgeJob,
    RecipientNotice,
    RemovalRequest,
    Status,
)
from removal.services import purge as purge_service
from removal.services.purge import purge_approve, purge_job_run
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-shared-with-the-recipient-0123456789"
TICKET = b'{"ticket":"T-1"}'
DOCS = Path(settings.BASE_DIR) / "docs" / "purge.md"


# --- A recipient's endpoint -----------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    url: str
    received: list[Received] = field(default_factory=list)
    # Answer this status to the next `failures` requests, then 200.
    failures: int = 0
    failure_status: int = 500


class _Handler(BaseHTTPRequestHandler):
    endpoint: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.endpoint.received.append(Received(self.path, dict(self.headers.items()), body))
        status = 200
        if self.endpoint.failures > 0:
            self.endpoint.failures -= 1
            status = self.endpoint.failure_status
        answer = TICKET if status == 200 else b"try later"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    # A class per server: the endpoint it records into is a class attribute.
    handler: type[_Handler] = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.endpoint = Endpoint(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/erasure")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield handler.endpoint
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- Requests, photos, recipients -----------------------------------------------------------------


@pytest.fixture
def completions(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """Requests whose completion a finished job asked for (the real check runs too: with the other
    jobs still waiting, the request stays in `purging`).

    Approval asks too (in case there is nothing to purge anywhere); `_approve` forgets that call.
    """
    calls: list[uuid.UUID] = []
    real = purge_service._complete_if_all_done

    def record(*, request_id: uuid.UUID) -> bool:
        calls.append(request_id)
        return real(request_id=request_id)

    monkeypatch.setattr(purge_service, "_complete_if_all_done", record)
    return calls


def _awaiting_review(
    make_request: Any, photos: int = 2, **overrides: Any
) -> tuple[RemovalRequest, list[Photo]]:
    request = make_request(**overrides).request
    RemovalRequest.objects.filter(id=request.id).update(status=Status.AWAITING_REVIEW)
    request.refresh_from_db()
    found = []
    for _ in range(photos):
        token = uuid.uuid4().hex
        photo = Photo.objects.create(
            storage_key=f"face-index/photos/{token}.jpg",
            thumbnail_key=f"face-index/thumbnails/{token}.jpg",
            source_url="https://pictures.example.net/zoe.jpg",
            content_sha256=hashlib.sha256(token.encode()).hexdigest(),
            width=640,
            height=480,
        )
        face = Face.objects.create(photo=photo, embedding=bytes(512), left=1, top=2, right=30, bottom=40)
        Candidate.objects.create(
            request=request, face=face, distance=0.31, decision=Candidate.Decision.CONFIRMED
        )
        found.append(photo)
    return request, found


def _webhook(url: str, name: str = "Acme Analytics", **fields: Any) -> DownstreamRecipient:
    return services.downstream_recipient_save(
        recipient=DownstreamRecipient(name=name, kind="webhook", endpoint_url=url, **fields),
        actor=services.SYSTEM,
        secret=SECRET,
    )


def _mailbox(email: str = "privacy@partner.example", name: str = "Partner Ltd") -> DownstreamRecipient:
    return services.downstream_recipient_save(
        recipient=DownstreamRecipient(name=name, kind="email", email=email), actor=services.SYSTEM
    )


def _approve(request: RemovalRequest, reviewer: Any, completions: list[uuid.UUID]) -> dict[str, PurgeJob]:
    jobs = purge_approve(request=request, actor=services.Actor.staff(reviewer))
    completions.clear()
    return {job.target: job for job in jobs}


def _run(job: PurgeJob) -> PurgeJob.Status | None:
    """Run the job now, as the sweeper would once its retry or wait is due."""
    PurgeJob.objects.filter(id=job.id, status=PurgeJob.Status.PENDING).update(next_attempt_at=timezone.now())
    return purge_job_run(job_id=job.id)


def _expected_hmac(received: Received) -> str:
    signed = received.headers["X-Removal-Timestamp"].encode() + b"." + received.body
    return hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()


# --- Planning -------------------------------------------------------------------------------------


def test_approval_plans_one_sealed_notice_per_active_recipient(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, _photos = _awaiting_review(make_request)
    active = _webhook(endpoint.url)
    _webhook(endpoint.url, name="Former customer", active=False)
    mailbox = _mailbox()

    job = _approve(request, reviewer, completions)["downstream_recipients"]

    assert job.category == "downstream_notices"
    assert job.status == PurgeJob.Status.PENDING
    assert sorted(job.plan) == sorted([str(active.id), str(mailbox.id)])
    notices = RecipientNotice.objects.filter(request=request)
    assert {n.recipient_id for n in notices} == {active.id, mailbox.id}
    assert all(n.status == RecipientNotice.Status.PENDING and n.attempts == 0 for n in notices)
    assert {n.idempotency_key for n in notices} == {
        f"{request.id}:downstream_recipients:{active.id}",
        f"{request.id}:downstream_recipients:{mailbox.id}",
    }


def test_nothing_is_planned_when_no_photo_was_confirmed(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, _ = _awaiting_review(make_request, photos=0)
    _webhook(endpoint.url)

    job = _approve(request, reviewer, completions)["downstream_recipients"]

    assert job.plan == [] and job.status == PurgeJob.Status.DONE
    assert not RecipientNotice.objects.exists()


def test_the_payload_and_the_secret_are_sealed_at_rest(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, photos = _awaiting_review(make_request)
    _webhook(endpoint.url)
    _approve(request, reviewer, completions)

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload_enc FROM removal_recipientnotice")
        (payload,) = cursor.fetchone()
        cursor.execute("SELECT secret_enc FROM removal_downstreamrecipient")
        (secret,) = cursor.fetchone()
    payload, secret = bytes(payload), bytes(secret)
    for photo in photos:
        assert photo.content_sha256.encode() not in payload
    assert request.reference.encode() not in payload
    assert SECRET.encode() not in secret
    plan = PurgeJob.objects.get(request=request, target="downstream_recipients").plan
    assert not any(photo.content_sha256 in json.dumps(plan) for photo in photos)


# --- Webhooks -------------------------------------------------------------------------------------


def test_webhook_receives_the_signed_payload(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, photos = _awaiting_review(make_request)
    recipient = _webhook(endpoint.url)
    job = _approve(request, reviewer, completions)["downstream_recipients"]

    assert _run(job) == PurgeJob.Status.DONE

    (received,) = endpoint.received
    assert received.path == "/hooks/erasure"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Idempotency-Key"] == f"{request.id}:downstream_recipients:{recipient.id}"
    assert received.headers["X-Removal-Signature"] == f"v1={_expected_hmac(received)}"
    assert signature_verify(
        secret=SECRET,
        timestamp_header=received.headers["X-Removal-Timestamp"],
        signature_header=received.headers["X-Removal-Signature"],
        body=received.body,
    )
    assert not signature_verify(
        secret="another secret entirely, also long enough",
        timestamp_header=received.headers["X-Removal-Timestamp"],
        signature_header=received.headers["X-Removal-Signature"],
        body=received.body,
    )
    assert json.loads(received.body) == {
        "version": 1,
        "request": request.reference,
        "right": "erasure",
        "received_on": request.received_at.astimezone(UTC).date().isoformat(),
        "photo_count": 2,
        "photos": [{"sha256": p.content_sha256} for p in sorted(photos, key=lambda p: p.id)],
    }
    text = received.body.decode()
    assert SUBJECT_EMAIL not in text and SUBJECT_NAME not in text and "embedding" not in text
    assert "pictures.example.net" not in text
    assert completions == [request.id]


def test_the_signature_check_in_the_docs_accepts_our_notices(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, _ = _awaiting_review(make_request, photos=1)
    _webhook(endpoint.url)
    _run(_approve(request, reviewer, completions)["downstream_recipients"])
    (received,) = endpoint.received
    namespace: dict[str, Any] = {}
    exec(_docs_python_block("def notice_is_authentic"), namespace)  # noqa: S102
    check = namespace["notice_is_authentic"]

    assert check(SECRET.encode(), received.headers, received.body)
    assert not check(SECRET.encode(), received.headers, received.body + b" ")
    assert not check(b"wrong secret", received.headers, received.body)


def test_a_500_then_a_200_is_delivered_with_two_attempts_and_the_same_idempotency_key(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, _ = _awaiting_review(make_request)
    recipient = _webhook(endpoint.url)
    job = _approve(request, reviewer, completions)["downstream_recipients"]
    endpoint.failures = 1

    assert _run(job) == PurgeJob.Status.PENDING
    job.refresh_from_db()
    assert job.last_error == "DeliveryFailed" and job.attempts == 1
    notice = RecipientNotice.objects.get(request=request, recipient=recipient)
    # Recorded although the failed batch rolled back.
    assert notice.status == RecipientNotice.Status.FAILED
    assert (notice.attempts, notice.last_status_code, notice.job_id) == (1, 500, job.id)
    assert notice.delivered_at is None

    assert _run(job) == PurgeJob.Status.DONE
    first, second = endpoint.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body
    notice.refresh_from_db()
    assert notice.status == RecipientNotice.Status.DELIVERED
    assert (notice.attempts, notice.last_status_code) == (2, 200)
    assert notice.response_sha256 == hashlib.sha256(TICKET).hexdigest()
    assert notice.delivered_at is not None
    job.refresh_from_db()
    assert job.status == PurgeJob.Status.DONE and job.attempts == 2
    delivered = AuditEvent.objects.get(
        action="request.downstream_notice_delivered", object_id=str(request.id)
    )
    details = json.loads(delivered.payload)["details"]
    assert (details["status_code"], details["recipient"]) == (200, str(recipient.id))
    assert completions == [request.id]


def test_a_recipient_reached_is_not_sent_the_notice_again_when_another_fails(
    make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, _ = _awaiting_review(make_request)
    reached = _webhook(endpoint.url, name="A reachable recipient")
    down = _webhook("http://127.0.0.1:9/nothing-listens-here", name="B unreachable recipient")
    job = _approve(request, reviewer, completions)["downstream_recipients"]

    assert _run(job) == PurgeJob.Status.PENDING
    assert _run(job) == PurgeJob.Status.PENDING

    assert len(endpoint.received) == 1
    notices = {n.recipient_id: n for n in RecipientNotice.objects.filter(request=request)}
    assert notices[reached.id].status == RecipientNotice.Status.DELIVERED
    assert notices[reached.id].attempts == 1
    assert notices[down.id].status == RecipientNotice.Status.FAILED
    assert notices[down.id].attempts == 2
    assert notices[down.id].last_status_code is None
    assert notices[down.id].last_error == "ConnectionError"


def test_a_recipient_that_keeps_failing_fails_the_job_and_alerts_staff(
    make_request: Any,
    reviewer: Any,
    endpoint: Endpoint,
    completions: list[uuid.UUID],
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.PURGE_MAX_ATTEMPTS = 3
    request, photos = _awaiting_review(make_request)
    _webhook(endpoint.url)
    job = _approve(request, reviewer, completions)["downstream_recipients"]
    endpoint.failures, endpoint.failure_status = 100, 503

    statuses = [_run(job) for _ in range(3)]

    assert statuses == [PurgeJob.Status.PENDING, PurgeJob.Status.PENDING, PurgeJob.Status.FAILED]
    assert len(endpoint.received) == 3
    assert len({r.headers["Idempotency-Key"] for r in endpoint.received}) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.last_error) == (PurgeJob.Status.FAILED, 3, "DeliveryFailed")
    notice = RecipientNotice.objects.get(request=request)
    assert (notice.status, notice.attempts, notice.last_status_code) == ("failed", 3, 503)
    alert = Message.objects.get(about=f"removal.purge_job:{job.id}")
    assert alert.template == "removal/emails/purge_failed"
    assert AuditEvent.objects.filter(action="request.purge_job_failed", object_id=str(request.id)).exists()
    assert completions == []
    assert _run(job) is None  # failed for good until staff retry it
    for secret_or_personal in (endpoint.url, "127.0.0.1", SECRET, *(p.content_sha256 for p in photos)):
        assert secret_or_personal not in caplog.text


# --- E-mail recipients ----------------------------------------------------------------------------


def test_an_email_recipient_gets_one_outbox_message_and_the_job_waits_until_it_is_sent(
    make_request: Any,
    reviewer: Any,
    completions: list[uuid.UUID],
    mailoutbox: list[Any],
) -> None:
    request, photos = _awaiting_review(make_request)
    recipient = _mailbox()
    job = _approve(request, reviewer, completions)["downstream_recipients"]
    mailoutbox.clear()

    assert _run(job) == PurgeJob.Status.PENDING
    assert _run(job) == PurgeJob.Status.PENDING

    notice = RecipientNotice.objects.get(request=request)
    (message,) = Message.objects.filter(about=f"removal.downstream:{notice.id}")
    assert notice.message_id == message.id
    assert message.template == "removal/emails/downstream_notice"
    assert message.data_key_id == request.data_key_id
    job.refresh_from_db()
    # Waiting used no attempt, and the job's next look is not before the outbox's next try.
    assert job.attempts == 0 and job.status == PurgeJob.Status.PENDING and job.done == 0
    assert job.next_attempt_at is not None and job.next_attempt_at > timezone.now()

    assert message_deliver(message_id=str(message.id)) == Message.Status.SENT
    assert _run(job) == PurgeJob.Status.DONE

    (sent,) = mailoutbox
    assert sent.to == [recipient.email]
    assert request.reference in sent.subject
    assert all(photo.content_sha256 in sent.body for photo in photos)
    assert notice.idempotency_key in sent.body
    assert SUBJECT_EMAIL not in sent.body and SUBJECT_NAME not in sent.body
    message.refresh_from_db()
    notice.refresh_from_db()
    assert notice.status == RecipientNotice.Status.DELIVERED
    assert notice.delivered_at == message.sent_at
    assert notice.attempts == 1 and notice.job_id == job.id
    assert Message.objects.filter(about=f"removal.downstream:{notice.id}").count() == 1
    assert completions == [request.id]


def test_an_email_the_outbox_gave_up_on_fails_the_attempt(
    make_request: Any, reviewer: Any, completions: list[uuid.UUID]
) -> None:
    request, _ = _awaiting_review(make_request)
    _mailbox()
    job = _approve(request, reviewer, completions)["downstream_recipients"]
    _run(job)
    notice = RecipientNotice.objects.get(request=request)
    assert notice.message_id is not None
    Message.objects.filter(id=notice.message_id).update(
        status=Message.Status.FAILED, attempts=8, last_error="SMTPRecipientsRefused 550"
    )

    assert _run(job) == PurgeJob.Status.PENDING

    job.refresh_from_db()
    notice.refresh_from_db()
    assert (job.attempts, job.last_error) == (1, "DeliveryFailed")
    assert notice.status == RecipientNotice.Status.FAILED
    assert notice.last_error == "outbox: SMTPRecipientsRefused 550"
    assert notice.attempts == 8
    assert Message.objects.filter(about=f"removal.downstream:{notice.id}").count() == 1


# --- Admin ----------------------------------------------------------------------------------------


def test_staff_set_and_rotate_a_webhook_secret_that_is_never_shown_back(staff_client: Any) -> None:
    add_url = reverse("admin:removal_downstreamrecipient_add")
    fields = {"name": "Acme Analytics", "kind": "webhook", "endpoint_url": "https://acme.example/hook"}

    refused = staff_client.post(add_url, {**fields, "active": "on", "secret": "short"})
    assert refused.status_code == 200 and "at least 32 characters" in refused.content.decode()

    response = staff_client.post(add_url, {**fields, "active": "on", "secret": SECRET})
    assert response.status_code == 302
    recipient = DownstreamRecipient.objects.get()
    assert recipient.data_key.purpose == "removal.downstream"
    assert selectors.downstream_recipient_secret(recipient=recipient) == SECRET
    change_url = reverse("admin:removal_downstreamrecipient_change", args=[recipient.pk])
    page = staff_client.get(change_url).content.decode()
    set_at = date_format(timezone.localtime(), "DATETIME_FORMAT").split(",")[0]
    assert SECRET not in page and f"set {set_at}" in page

    rotated = "a-brand-new-secret-for-acme-analytics-2026"
    staff_client.post(change_url, {**fields, "active": "on", "secret": rotated})
    recipient.refresh_from_db()
    assert selectors.downstream_recipient_secret(recipient=recipient) == rotated
    staff_client.post(change_url, {**fields, "secret": ""})  # deactivate, keep the secret
    recipient.refresh_from_db()
    assert not recipient.active
    assert selectors.downstream_recipient_secret(recipient=recipient) == rotated
    actions = list(
        AuditEvent.objects.filter(object_type="downstream_recipient").values_list("action", flat=True)
    )
    assert actions == [
        "downstream_recipient.created",
        "downstream_recipient.changed",
        "downstream_recipient.changed",
    ]
    assert rotated not in json.dumps([e.payload for e in AuditEvent.objects.all()])


def test_request_page_shows_each_notice_without_its_payload(
    staff_client: Any, make_request: Any, reviewer: Any, endpoint: Endpoint, completions: list[uuid.UUID]
) -> None:
    request, photos = _awaiting_review(make_request)
    _webhook(endpoint.url)
    _run(_approve(request, reviewer, completions)["downstream_recipients"])

    page = staff_client.get(
        reverse("admin:removal_removalrequest_change", args=[request.pk])
    ).content.decode()

    assert "downstream notices" in page.lower()
    assert "Acme Analytics" in page and "HTTP 200" in page and "Delivered" in page
    assert hashlib.sha256(TICKET).hexdigest() in page
    assert not any(photo.content_sha256 in page for photo in photos)


# --- An operator's own target (docs/purge.md) -----------------------------------------------------


def _docs_python_block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    return block


def test_the_crm_target_from_the_docs_deletes_the_subjects_rows(
    make_request: Any,
    reviewer: Any,
    completions: list[uuid.UUID],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("acme_purge_targets")
    exec(compile(_docs_python_block("class CrmContacts"), "docs/purge.md", "exec"), module.__dict__)  # noqa: S102
    monkeypatch.setitem(sys.modules, "acme_purge_targets", module)
    settings.PURGE_EXTRA_TARGETS = ["acme_purge_targets.CrmContacts"]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE crm_contacts (id integer PRIMARY KEY, email varchar(254) NOT NULL, "
            "company varchar(200) NOT NULL DEFAULT '')"
        )
        cursor.executemany(
            "INSERT INTO crm_contacts (id, email, company) VALUES (%s, %s, %s)",
            [
                (11, SUBJECT_EMAIL, "Quintero Design"),
                (12, SUBJECT_EMAIL.upper(), "Newsletter"),
                (13, "someone.else@example.org", "Acme"),
            ],
        )
    request, _ = _awaiting_review(make_request, photos=0)

    job = _approve(request, reviewer, completions)["crm_contacts"]

    assert job.plan == ["11", "12"] and job.category == "crm_contacts"
    assert SUBJECT_EMAIL not in json.dumps(job.plan)
    assert _run(job) == PurgeJob.Status.DONE
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_contacts ORDER BY id")
        assert cursor.fetchall() == [(13,)]
    job.refresh_from_db()
    assert (job.done, job.planned, job.attempts) == (2, 2, 1)
    assert completions == [request.id]


@pytest.mark.parametrize(
    ("url", "allow_loopback", "refused"),
    [
        ("http://acme.example/hook", True, True),
        ("http://10.0.0.5/hook", True, True),
        ("http://127.0.0.1:8080/hook", False, True),
        ("http://[::1]:8080/hook", False, True),
        ("http://localhost:8080/hook", False, True),
        ("ftp://acme.example/hook", True, True),
        ("https://acme.example/hook", False, False),
        ("http://127.0.0.1:8080/hook", True, False),
        ("http://[::1]:8080/hook", True, False),
        ("http://localhost:8080/hook", True, False),
    ],
)
def test_a_webhook_must_be_https_unless_loopback_http_is_allowed_explicitly(
    settings: Any, url: str, allow_loopback: bool, refused: bool
) -> None:
    settings.DOWNSTREAM_WEBHOOK_ALLOW_LOOPBACK_HTTP = allow_loopback
    recipient = DownstreamRecipient(name="Acme Analytics", kind="webhook", endpoint_url=url)

    errors = services.downstream_recipient_errors(recipient=recipient, secret=SECRET)

    assert bool(errors.get("endpoint_url")) is refused
    if refused:
        assert errors["endpoint_url"] == ["Use an https:// URL: notices carry personal data."]
        with pytest.raises(services.InvalidRequest):
            services.downstream_recipient_save(recipient=recipient, actor=services.SYSTEM, secret=SECRET)
        assert not DownstreamRecipient.objects.filter(name="Acme Analytics").exists()
