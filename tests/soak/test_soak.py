"""The soak (issue 12, item 5): mixed traffic while things break, then an account of what survived.

For SOAK_SECONDS (120 here, the short form; `scripts/soak.sh` runs 600) the public files requests
through the API, follows the e-mailed confirmation and status links, and one request in
UPLOAD_EVERY sends a headshot; staff confirm the candidates discovery found and approve the purge.
Meanwhile:

- the worker (with its beat) is SIGKILLed every KILL_EVERY seconds and a new one started;
- the broker, a Redis server of the test's own, is killed once and started again empty;
- the SMTP server is down for SMTP_DOWN_FOR seconds.

Then traffic stops, the services are all up, and the test waits for the work to drain. It prints
its counts and asserts: every accepted submission became a request (lost 0); every purge job of every
approved request is done, and done once (one `purge_job_done` event each: doubled 0); every purged
photo is gone from the database and the files; every e-mail in the outbox was sent and reached the
SMTP server, the only repeats being copies with the same Message-ID (at-least-once delivery); the
audit log verifies.

The web tier runs in this process (Django's test client, on the same database); the worker is a real
`celery worker -B` process on production's settings.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from ledger.models import AuditEvent
from ledger.verification import ledger_verify
from notifications.models import Message
from notifications.services import message_id_header
from removal import services
from removal.models import Candidate, Face, Photo, PurgeJob, RemovalRequest, Status
from removal.models.submissions import IntakeSubmission
from removal.services.discovery import candidates_decide
from removal.services.purge import purge_approve
from tests.support.chaos import KillableWorker, PrivateRedis
from tests.support.gallery import HEADSHOT, Gallery
from tests.support.workers import (
    CeleryWorkers,
    Inbox,
    free_port,
    published_to_the_broker,
    publishing_to_redis_at,
    worker_arguments,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
KILL_EVERY = min(60.0, SOAK_SECONDS / 4)
REDIS_RESTART_AT = SOAK_SECONDS * 0.45
SMTP_DOWN_AT = SOAK_SECONDS * 0.5
SMTP_DOWN_FOR = min(120.0, SOAK_SECONDS / 4)
# The work queued during the traffic drains in about a tenth of its length here; a generous bound.
DRAIN_SECONDS = max(240.0, SOAK_SECONDS * 0.75)
UPLOAD_EVERY = 4
CLONES_PER_UPLOAD = 2
# Fast sweeps and short leases, so a killed worker's work is taken over within seconds.
WORKER_ENV = {
    "PURGE_SWEEP_SECONDS": "1",
    "PURGE_LEASE_SECONDS": "10",
    "PURGE_RETRY_BASE_SECONDS": "1",
    "DISCOVERY_LEASE_SECONDS": "10",
    "OUTBOX_SWEEP_SECONDS": "1",
    "OUTBOX_LEASE_SECONDS": "10",
    # Eight attempts spread over minutes: an SMTP outage of two minutes fails no message.
    "OUTBOX_RETRY_BASE_SECONDS": "3",
    "EMAIL_TIMEOUT": "3",
}


@pytest.fixture(autouse=True)
def _storage_shared_with_the_workers(shared_media: Path) -> Path:
    return shared_media


# --- The SMTP server, which the soak takes down and brings back on the same port ------------------


@dataclass
class Smtp:
    inbox: Inbox
    controller: Controller | None = None
    down_seconds: float = 0.0

    def up(self) -> None:
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.inbox.port, server_hostname="localhost"
        )
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp(Inbox(free_port()))
    server.up()
    yield server
    server.down()


# --- What the soak does and counts -------------------------------------------------------------------


@dataclass
class Subject:
    email: str
    address: str
    uploads: bool
    confirmed: bool = False
    status_seen: bool = False
    uploaded: bool = False
    approved: bool = False
    request_id: uuid.UUID | None = None


@dataclass
class Soak:
    client: Client
    smtp: Smtp
    photos: dict[str, bytes]
    gallery: Gallery
    clone_photo: Any
    reviewer: Any
    subjects: dict[str, Subject] = field(default_factory=dict)
    accepted: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    status_pages: int = 0
    uploads: int = 0
    approvals: int = 0
    purged_photos: set[uuid.UUID] = field(default_factory=set)

    read: int = 0
    links: dict[str, dict[str, str]] = field(default_factory=lambda: {"confirm": {}, "status": {}})

    def read_mail(self) -> None:
        """The newest e-mailed link of each kind (`confirm`, `status`) per recipient, from the messages
        that arrived since the last look."""
        envelopes = list(self.smtp.inbox.envelopes)
        for envelope in envelopes[self.read :]:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            recipient = parseaddr(str(message["To"]))[1]
            for kind, found in self.links.items():
                for token in re.findall(rf"https?://\S+/{kind}/\?t=([\w:.%-]+)", text):
                    found[recipient] = unquote(token)
        self.read = len(envelopes)

    def file_one(self, number: int) -> None:
        address = f"soak-{number}-{uuid.uuid4().hex[:6]}@example.org"
        # Each subject on an address of their own, as the public would be (the limits are per address).
        client_address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        response = self.client.post(
            reverse("removal:api_intake"),
            {"name": f"Soak Subject {number}", "email": address, "right": "erasure", "jurisdictions": ["EU"]},
            content_type="application/json",
            REMOTE_ADDR=client_address,
        )
        if response.status_code == 202:
            self.accepted += 1
            self.subjects[address] = Subject(
                email=address, address=client_address, uploads=number % UPLOAD_EVERY == 0
            )
        else:
            self.refused[response.status_code] += 1

    def follow_links(self) -> None:
        self.read_mail()
        for address, token in self.links["confirm"].items():
            subject = self.subjects.get(address)
            if subject is not None and not subject.confirmed:
                # The link opens a page with a button (mail scanners open links): the person presses it.
                url = reverse("removal:confirm_email")
                assert self.client.get(f"{url}?t={token}", REMOTE_ADDR=subject.address).status_code == 200
                response = self.client.post(url, {"t": token}, REMOTE_ADDR=subject.address)
                assert response.status_code == 200, response.status_code
                subject.confirmed = True
        for address, token in self.links["status"].items():
            subject = self.subjects.get(address)
            if subject is None:
                continue
            if not subject.status_seen:
                page = self.client.get(f"{reverse('removal:status')}?t={token}", REMOTE_ADDR=subject.address)
                assert page.status_code == 200
                subject.status_seen = True
                self.status_pages += 1
            if subject.uploads and subject.confirmed and not subject.uploaded:
                self.upload(subject, token)

    def upload(self, subject: Subject, token: str) -> None:
        # Each purged request gets photos of its own to find, beside whatever is left of the others'.
        self.clone_photo(self.gallery.subject[0], CLONES_PER_UPLOAD)
        headshot = SimpleUploadedFile("headshot.jpg", self.photos[HEADSHOT], content_type="image/jpeg")
        response = self.client.post(
            f"{reverse('removal:verify_identity')}?t={token}",
            {"headshot": headshot},
            REMOTE_ADDR=subject.address,
        )
        assert response.status_code == 302, response.status_code
        subject.uploaded = True
        self.uploads += 1

    def approve_reviewed(self) -> None:
        waiting = RemovalRequest.objects.filter(status=Status.AWAITING_REVIEW)
        for request in waiting.select_related("data_key"):
            candidates = Candidate.objects.filter(request=request).select_related("face")
            decisions = dict.fromkeys((c.id for c in candidates), "confirmed")
            self.purged_photos |= {candidate.face.photo_id for candidate in candidates}
            actor = services.Actor.staff(self.reviewer)
            if decisions:
                candidates_decide(request=request, actor=actor, decisions=decisions, user=self.reviewer)
            purge_approve(request=request, actor=actor)
            self.approvals += 1


def _start_worker(
    celery_workers: CeleryWorkers, smtp: Smtp, redis: PrivateRedis, tmp_path: Path
) -> KillableWorker:
    number = celery_workers.next_number
    return celery_workers.start(
        [
            sys.executable,
            "-m",
            "celery",
            *worker_arguments(hostname="soak", extra=["-B", "-s", str(tmp_path / f"beat-{number}")]),
        ],
        name=f"soak worker {number}",
        smtp_port=smtp.inbox.port,
        env={**WORKER_ENV, "REDIS_URL": redis.url},
        kind=KillableWorker,
    )


def _drained(soak: Soak) -> bool:
    """Nothing left to do: every submission processed, every message sent, every uploaded request past
    discovery and approved, every approved request completed."""
    if IntakeSubmission.objects.exists():
        return False
    if Message.objects.exclude(status=Message.Status.SENT).exists():
        return False
    open_work = RemovalRequest.objects.filter(
        status__in=(Status.VERIFIED, Status.DISCOVERING, Status.AWAITING_REVIEW, Status.PURGING)
    )
    if open_work.exists():
        return False
    return (
        PurgeJob.objects.filter(phase=PurgeJob.Phase.PURGE).exclude(status=PurgeJob.Status.DONE).count() == 0
    )


def test_mixed_traffic_through_worker_kills_a_lost_broker_and_an_smtp_outage_loses_nothing(
    celery_workers: CeleryWorkers,
    private_redis: PrivateRedis,
    smtp: Smtp,
    gallery: Gallery,
    photos: dict[str, bytes],
    face_models: Any,
    clone_photo: Any,
    reviewer: Any,
    tmp_path: Path,
    shared_media: Path,
) -> None:
    cache.clear()  # rate-limit counters: the soak's client is one address filing many requests
    soak = Soak(Client(), smtp, photos, gallery, clone_photo, reviewer)
    worker = _start_worker(celery_workers, smtp, private_redis, tmp_path)
    kills = redis_restarts = 0
    down_since = 0.0
    began = time.monotonic()
    next_kill = KILL_EVERY
    with published_to_the_broker(), publishing_to_redis_at(private_redis.url):
        number = 0
        while (elapsed := time.monotonic() - began) < SOAK_SECONDS:
            number += 1
            soak.file_one(number)
            soak.follow_links()
            soak.approve_reviewed()
            if elapsed >= next_kill:
                worker.kill()
                kills += 1
                worker = _start_worker(celery_workers, smtp, private_redis, tmp_path)
                next_kill += KILL_EVERY
            if not redis_restarts and elapsed >= REDIS_RESTART_AT:
                private_redis.kill()
                time.sleep(1)
                private_redis.start()  # empty: every queued task message is gone
                redis_restarts += 1
            if smtp.controller is not None and SMTP_DOWN_AT <= elapsed < SMTP_DOWN_AT + SMTP_DOWN_FOR:
                smtp.down()
                down_since = time.monotonic()
            elif smtp.controller is None and elapsed >= SMTP_DOWN_AT + SMTP_DOWN_FOR:
                smtp.up()
                smtp.down_seconds = time.monotonic() - down_since
            time.sleep(0.3)
        if smtp.controller is None:
            smtp.up()
            smtp.down_seconds = time.monotonic() - down_since
        traffic_seconds = time.monotonic() - began

        # Drain: links e-mailed late are still followed, reviews still approved, until nothing is left.
        deadline = time.monotonic() + DRAIN_SECONDS
        while not _drained(soak):
            if time.monotonic() > deadline:
                break
            soak.follow_links()
            soak.approve_reviewed()
            time.sleep(0.5)
        drain_seconds = time.monotonic() - began - traffic_seconds

    requests = RemovalRequest.objects.filter(reference__isnull=False)
    lost_requests = soak.accepted - requests.count()
    jobs = list(PurgeJob.objects.filter(phase=PurgeJob.Phase.PURGE, planned__gt=0))
    done_per_job = Counter(
        json.loads(payload)["details"]["job"]
        for payload in AuditEvent.objects.filter(action="request.purge_job_done").values_list(
            "payload", flat=True
        )
    )
    lost_jobs = sum(1 for job in jobs if job.status != PurgeJob.Status.DONE)
    doubled_jobs = sum(1 for job in jobs if done_per_job[str(job.id)] > 1)
    photos_left = Photo.objects.filter(id__in=soak.purged_photos).count()
    photos_left += Face.objects.filter(photo_id__in=soak.purged_photos).count()
    files_left = [
        key
        for job in jobs
        if job.target in ("photo_files", "thumbnail_files")
        for key in job.plan
        if default_storage.exists(key)
    ]
    outbox = list(Message.objects.values_list("id", "status"))
    seen = Counter(str(message["Message-ID"]) for message in smtp.inbox.messages())
    expected_ids = {message_id_header(Message(id=message_id)) for message_id, _ in outbox}
    undelivered = [message_id for message_id, status in outbox if status != Message.Status.SENT]
    # What the undelivered ones are waiting for, if any: their status and how many attempts they had.
    waiting = Counter(
        f"{status} after {attempts} attempt(s)"
        for status, attempts in Message.objects.filter(id__in=undelivered).values_list("status", "attempts")
    )
    missing = expected_ids - set(seen)
    strangers = set(seen) - expected_ids
    repeats = sum(count - 1 for count in seen.values())
    call_command("ledger_sequencer", "--once")  # the sequencer is a process of its own in production
    report = ledger_verify()
    completed = requests.filter(status=Status.COMPLETED).count()

    print(
        f"\nsoak: {traffic_seconds:.0f} s of traffic, {drain_seconds:.0f} s to drain; "
        f"worker SIGKILLed {kills} time(s), broker killed and started empty {redis_restarts} time(s), "
        f"SMTP down {smtp.down_seconds:.0f} s\n"
        f"  requests: {soak.accepted} accepted, {requests.count()} stored, lost {lost_requests}; "
        f"refused {dict(soak.refused)}; {soak.status_pages} status pages, {soak.uploads} headshots, "
        f"{soak.approvals} purges approved, {completed} completed\n"
        f"  purge jobs: {len(jobs)} with work, lost {lost_jobs}, doubled {doubled_jobs}; "
        f"photos left {photos_left}, files left {len(files_left)}\n"
        f"  e-mails: {len(outbox)} in the outbox, delivered {len(outbox) - len(undelivered)}, "
        f"missing at the SMTP server {len(missing)}, copies sent again {repeats} (same Message-ID), "
        f"unknown {len(strangers)}; not sent: {dict(waiting) or 0}\n"
        f"  audit log: {report.entries} entries, {report.checkpoints} checkpoint(s), "
        f"{'verifies' if report.ok else report.problems[:3]}"
    )
    assert soak.accepted > 0 and soak.uploads > 0 and soak.approvals > 0, (
        "the soak did too little to mean much"
    )
    assert kills >= 1 and redis_restarts == 1 and smtp.down_seconds > 0
    assert lost_requests == 0 and not soak.refused
    assert lost_jobs == 0 and doubled_jobs == 0
    assert photos_left == 0 and files_left == []
    assert undelivered == [] and missing == set() and strangers == set()
    assert report.ok and report.entries == AuditEvent.objects.count(), report.problems
