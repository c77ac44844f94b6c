"""Purge jobs on real Celery workers: the whole flow, and the chaos the engine is built to survive.

Every test here runs `celery worker` processes against this run's PostgreSQL test database and Redis
(keys under the test's own prefix; the chaos test that flushes Redis starts a private redis-server),
with an SMTP server in this process (tests/support/workers.py). This process and the workers share
one file system storage (`shared_media`, tmp_path/var/media): the files a test ingests are the ones a
worker deletes.

The flow test runs the workers on production's settings. The chaos tests run them on
tests/support/chaos_settings.py: the built-in targets with batches of 10, and a storage that journals
every real deletion and can pause a worker at a chosen deletion or database batch, so that the test
SIGKILLs it exactly there (tests/support/chaos_worker.py). The sweeper (beat) runs every second and a
job's lease lasts three seconds, so a dead worker's job is taken over within a few seconds.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.db import OperationalError, transaction
from django.utils import timezone

from identity import selectors as identity_selectors
from ledger.models import AuditEvent
from notifications.models import Message
from removal import services
from removal.face_index import PHOTO_PREFIX, THUMBNAIL_PREFIX
from removal.models import (
    Candidate,
    Channel,
    DeletionReceipt,
    Face,
    Photo,
    PurgeJob,
    RemovalRequest,
    Status,
)
from removal.receipts import receipt_verify
from removal.services import purge
from removal.services.common import subject_ref
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.purge import purge_approve
from removal.tasks import run_purge_job
from tests.conftest import SUBJECT_EMAIL, SUBJECT_NAME
from tests.support.chaos import Journal, KillableWorker, PrivateRedis, files_under, wait_until
from tests.support.gallery import HEADSHOT, Gallery
from tests.support.workers import (
    CeleryWorkers,
    Inbox,
    SmtpServers,
    free_port,
    published_to_the_broker,
    publishing_to_redis_at,
    queries_waiting_on_this_connection,
    worker_arguments,
)
from vault import signing

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

# The purge-phase jobs with work to do. (The downstream job is planned empty here, with no recipient
# configured, and is done at approval without a task.)
PURGE_PHASE = ("photo_files", "thumbnail_files", "face_records", "headshot")
LEASE_SECONDS = 3
BATCH_SIZE = 10
# Copies of each of the subject's five gallery photos: 205 photos, 21 batches in each job.
CLONES_PER_PHOTO = 40
FLOW_TIMEOUT = 45.0


@pytest.fixture(autouse=True)
def _storage_shared_with_the_workers(shared_media: Path) -> Path:
    return shared_media


@pytest.fixture
def inbox(smtp_servers: SmtpServers) -> Inbox:
    return smtp_servers.start(free_port())


class PurgeWorker(KillableWorker):
    def succeeded(self, task: str) -> int:
        return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded in ", self.log()))


StartWorker = Callable[..., PurgeWorker]


@pytest.fixture
def start_worker(
    celery_workers: CeleryWorkers, inbox: Inbox, journal: Journal, tmp_path: Path
) -> StartWorker:
    """Start a worker (with beat if asked): on production's settings, or a chaos worker that journals
    its deletions and may pause at `pause` (tests/support/chaos_worker.py) for the test to kill it."""

    def start(
        *,
        beat: bool = False,
        chaos: bool = True,
        pause: str = "",
        pause_prefix: str = "",
        redis_url: str | None = None,
        queues: str = "celery,mail",
    ) -> PurgeWorker:
        number = celery_workers.next_number
        # One beat at a time; each gets a fresh schedule file so no entry carries a last run over.
        beat_args = ["-B", "-s", str(tmp_path / f"beat-schedule-{number}")] if beat else []
        env = {
            "PURGE_SWEEP_SECONDS": "1",
            "PURGE_LEASE_SECONDS": str(LEASE_SECONDS),
            "PURGE_RETRY_BASE_SECONDS": "1",
        }
        if chaos:
            env |= {
                "DJANGO_SETTINGS_MODULE": "tests.support.chaos_settings",
                "CHAOS_JOURNAL": str(journal.path),
                "CHAOS_BATCH_SIZE": str(BATCH_SIZE),
                "CHAOS_PAUSE": pause,
                "CHAOS_PAUSE_PREFIX": pause_prefix,
            }
        if redis_url:
            env["REDIS_URL"] = redis_url
        return celery_workers.start(
            # `python -m celery` puts the project on sys.path, so tests.support.* imports in the worker.
            [
                sys.executable,
                "-m",
                "celery",
                *worker_arguments(hostname="purge-test", extra=beat_args, queues=queues),
            ],
            name=f"worker {number} ({'chaos, ' if chaos else ''}{'with' if beat else 'without'} beat"
            f"{', pausing at ' + pause if pause else ''})",
            smtp_port=inbox.port,
            env=env,
            kind=PurgeWorker,
        )

    return start


# --- Helpers ---------------------------------------------------------------------------------------


def _status(request: RemovalRequest) -> str:
    return RemovalRequest.objects.values_list("status", flat=True).get(id=request.id)


def _jobs(request: RemovalRequest) -> dict[str, PurgeJob]:
    return {job.target: job for job in PurgeJob.objects.filter(request=request)}


def _completed(request: RemovalRequest) -> Callable[[], bool]:
    def check() -> bool:
        jobs = PurgeJob.objects.filter(request=request, phase=PurgeJob.Phase.PURGE)
        return _status(request) == Status.COMPLETED and all(job.status == "done" for job in jobs)

    return check


def _planned_files(request: RemovalRequest) -> set[str]:
    jobs = _jobs(request)
    return {name for target in ("photo_files", "thumbnail_files", "headshot") for name in jobs[target].plan}


def _rows_free(photo_ids: list[str]) -> bool:
    """Whether no other transaction holds these photo rows (it would be deleting them)."""
    try:
        with transaction.atomic():
            list(Photo.objects.select_for_update(nowait=True).filter(id__in=photo_ids))
    except OperationalError:
        return False
    return True


def _single_file_under(root: Path, prefix: str) -> str:
    [name] = [name for name in files_under(root) if name.startswith(prefix)]
    return name


def _events(request: RemovalRequest, action: str) -> list[dict[str, Any]]:
    return [
        json.loads(event.payload)["details"]
        for event in AuditEvent.objects.filter(object_id=str(request.id), action=f"request.{action}")
    ]


def _confirm_every_candidate(request: RemovalRequest, reviewer: Any) -> None:
    ids = Candidate.objects.filter(request=request).values_list("id", flat=True)
    candidates_decide(
        request=request,
        actor=services.Actor.staff(reviewer),
        decisions=dict.fromkeys(ids, "confirmed"),
        user=reviewer,
    )


def _reviewed_with_many_photos(
    request: RemovalRequest, gallery: Gallery, reviewer: Any, clone_photo: Any, *, clones: int
) -> list[Photo]:
    """Give the subject `clones` more copies of each photo, run discovery here, confirm every candidate;
    returns the subject's photos."""
    subject = [*gallery.subject]
    for photo in gallery.subject:
        subject += clone_photo(photo, clones)
    assert removal_request_discover(request_id=request.id) == len(subject)
    _confirm_every_candidate(request, reviewer)
    request.refresh_from_db()
    return subject


@dataclass(frozen=True)
class Snapshot:
    """What a purge could change: files, index rows, the request, its receipt, messages, audit trail."""

    files: frozenset[str]
    photos: frozenset[str]
    faces: int
    status: str
    receipts: int
    messages: int
    audit_events: int
    jobs: frozenset[tuple[str, str, int, int]]

    @classmethod
    def take(cls, request: RemovalRequest, media: Path) -> Snapshot:
        return cls(
            files=frozenset(files_under(media)),
            photos=frozenset(str(pk) for pk in Photo.objects.values_list("id", flat=True)),
            faces=Face.objects.count(),
            status=_status(request),
            receipts=DeletionReceipt.objects.filter(request=request).count(),
            messages=Message.objects.count(),
            audit_events=AuditEvent.objects.count(),
            jobs=frozenset(
                PurgeJob.objects.filter(request=request).values_list("target", "status", "attempts", "done")
            ),
        )


def _assert_purged_once(
    request: RemovalRequest,
    *,
    journal: Journal,
    media: Path,
    files_before: set[str],
    subject: list[Photo],
    others: list[Photo],
) -> None:
    """Every planned file was really deleted exactly once and nothing else was; the subject's rows are
    gone and everybody else's remain; every job is done and the request completed once."""
    planned = _planned_files(request)
    deleted = journal.counts()
    assert set(deleted) == planned, "exactly the planned files were deleted, nothing else"
    assert {name: count for name, count in deleted.items() if count > 1} == {}, "no file deleted twice"
    assert files_under(media) == files_before - planned
    assert not Photo.objects.filter(id__in=[p.id for p in subject]).exists()
    assert not Face.objects.filter(photo_id__in=[p.id for p in subject]).exists()
    assert Photo.objects.filter(id__in=[p.id for p in others]).count() == len(others)
    for job in PurgeJob.objects.filter(request=request, phase=PurgeJob.Phase.PURGE):
        assert (job.target, job.status, job.done, job.failed) == (job.target, "done", job.planned, 0)
    assert sorted(event["target"] for event in _events(request, "purge_job_done")) == sorted(PURGE_PHASE)
    assert len(_events(request, "complete_purge")) == 1
    assert DeletionReceipt.objects.filter(request=request).count() == 1


# --- The whole flow --------------------------------------------------------------------------------


def test_worker_and_beat_discover_and_purge_the_subjects_photos_and_send_a_receipt_that_verifies(
    start_worker: StartWorker,
    inbox: Inbox,
    gallery: Gallery,
    photos: dict[str, bytes],
    face_models: Any,
    reviewer: Any,
    shared_media: Path,
) -> None:
    worker = start_worker(beat=True, chaos=False)

    # The subject asks; the worker e-mails the acknowledgement and the confirmation link.
    with published_to_the_broker():
        request = services.removal_request_create(
            name=SUBJECT_NAME,
            email=SUBJECT_EMAIL,
            right="erasure",
            jurisdictions=["EU"],
            channel=Channel.WEB,
            actor=services.SUBJECT,
        ).request

    def confirmation_links() -> list[str]:
        pattern = r"https?://\S+/confirm/\?t=([\w:.%-]+)"
        return [
            unquote(token)
            for message in inbox.messages()
            for token in re.findall(pattern, message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        ]

    worker.wait_for(lambda: bool(confirmation_links()), what="the confirmation e-mail")
    services.removal_request_confirm_email(signed_token=confirmation_links()[0])
    request.refresh_from_db()

    # The headshot verifies them; verification wakes discovery after commit, and the worker searches.
    with published_to_the_broker():
        services.removal_request_submit_identity(
            request=request, headshot=photos[HEADSHOT], document=None, actor=services.SUBJECT
        )
    worker.wait_for(
        lambda: _status(request) == Status.AWAITING_REVIEW,
        what="discovery on the worker",
        timeout=FLOW_TIMEOUT,
    )
    # The worker ran discovery: its log line follows the task's last commit, so wait for it too.
    worker.wait_for(lambda: worker.succeeded("removal.tasks.discover_photos") >= 1, what="discovery's log")
    candidates = {c.face.photo_id for c in Candidate.objects.filter(request=request).select_related("face")}
    assert candidates == {photo.id for photo in gallery.subject}
    headshot_file = _single_file_under(shared_media, "headshots/")

    # Staff confirm every candidate and approve; the approval wakes the jobs after commit.
    _confirm_every_candidate(request, reviewer)
    request.refresh_from_db()
    files_before = files_under(shared_media)
    with published_to_the_broker():
        purge_approve(request=request, actor=services.Actor.staff(reviewer))
    worker.wait_for(_completed(request), what="the purge to complete", timeout=FLOW_TIMEOUT)

    subject, others = gallery.subject, gallery.others
    subject_files = {key for p in subject for key in (p.storage_key, p.thumbnail_key)}
    assert subject_files < files_before
    assert files_under(shared_media) == files_before - subject_files - {headshot_file}
    assert not identity_selectors.has_headshot_probe(subject_ref=subject_ref(request))
    assert not Photo.objects.filter(id__in=[p.id for p in subject]).exists()
    assert not Face.objects.filter(photo_id__in=[p.id for p in subject]).exists()
    assert Photo.objects.filter(id__in=[p.id for p in others]).count() == len(others)
    assert Face.objects.filter(photo_id__in=[p.id for p in others]).count() == 4  # the astronaut has two
    assert not Candidate.objects.filter(request=request).exists()
    # The worker, not this process, ran the jobs (its log line follows the task's last commit).
    worker.wait_for(
        lambda: worker.succeeded("removal.tasks.run_purge_job") >= len(PURGE_PHASE), what="the jobs' log"
    )

    # The subject's completion notice carries the signed receipt, which verifies.
    def completion_notices() -> list[str]:
        return [
            message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            for message in inbox.messages()
            if message["To"] == SUBJECT_EMAIL and "is complete" in str(message["Subject"])
        ]

    worker.wait_for(lambda: bool(completion_notices()), what="the completion e-mail")
    [notice] = completion_notices()
    document = notice[notice.index('{"categories"') :].split("\n")[0]
    check = receipt_verify(document, public_keys=signing.configured_public_keys())
    assert check.valid and check.contents is not None
    assert check.contents.reference == request.reference
    assert dict(check.contents.categories) == {
        "photos": 5,
        "thumbnails": 5,
        "face_records": 5,
        "headshot": 1,
        # No downstream recipient is configured here (tests/removal/test_downstream.py has them).
        "downstream_notices": 0,
    }

    # A second delivery of every job's message finds nothing to claim and changes nothing.
    before = Snapshot.take(request, shared_media)
    ran = worker.succeeded("removal.tasks.run_purge_job")
    jobs = _jobs(request)
    with published_to_the_broker():
        for job in jobs.values():
            run_purge_job.delay(str(job.id))
    worker.wait_for(
        lambda: worker.succeeded("removal.tasks.run_purge_job") >= ran + len(jobs),
        what="the repeated deliveries",
    )
    assert Snapshot.take(request, shared_media) == before

    # Every job run again from the start (the sweeper wakes them): everything it planned is gone
    # already, so nothing is deleted, and the request is not completed a second time.
    PurgeJob.objects.filter(request=request, phase=PurgeJob.Phase.PURGE).update(
        status="pending", done=0, lease_token=None, lease_expires_at=None, next_attempt_at=timezone.now()
    )
    worker.wait_for(_completed(request), what="the jobs' second run", timeout=FLOW_TIMEOUT)
    after = Snapshot.take(request, shared_media)
    assert (after.files, after.photos, after.faces, after.status, after.receipts, after.messages) == (
        before.files,
        before.photos,
        before.faces,
        before.status,
        before.receipts,
        before.messages,
    )
    assert {(target, status, done) for target, status, _, done in after.jobs} == {
        (target, status, done) for target, status, _, done in before.jobs
    }
    added = AuditEvent.objects.order_by("id")[before.audit_events :]
    every_job = PurgeJob.objects.filter(request=request, phase=PurgeJob.Phase.PURGE).values_list(
        "target", flat=True
    )
    assert sorted(json.loads(event.payload)["details"]["target"] for event in added) == sorted(every_job)
    assert {event.action for event in added} == {"request.purge_job_done"}
    assert completion_notices() == [notice]
    worker.stop()


# --- Chaos: a worker killed mid-purge --------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """Where the first worker pauses to be killed, and what must be true at that moment."""

    pause: str
    prefix: str
    job: str
    done_at_kill: int
    deleted_at_kill: int | None


KILL_POINTS = [
    pytest.param(
        KillPoint("before_deletion:21", THUMBNAIL_PREFIX, "thumbnail_files", 20, 20), id="before-a-batch"
    ),
    pytest.param(KillPoint("after_deletion:15", PHOTO_PREFIX, "photo_files", 10, 15), id="mid-batch"),
    pytest.param(
        KillPoint("after_deletion:30", PHOTO_PREFIX, "photo_files", 20, 30),
        id="after-a-batch-before-its-progress-commits",
    ),
    pytest.param(KillPoint("face_records_batch:3", "", "face_records", 20, None), id="in-face-records"),
    # The headshot's file is gone, its row's deletion not yet committed.
    pytest.param(KillPoint("after_deletion:1", "headshots/", "headshot", 0, 1), id="in-the-headshot"),
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_worker_killed_mid_purge_is_replaced_and_every_file_is_deleted_once(
    point: KillPoint,
    start_worker: StartWorker,
    journal: Journal,
    gallery: Gallery,
    verified_request: RemovalRequest,
    reviewer: Any,
    clone_photo: Any,
    shared_media: Path,
) -> None:
    request = verified_request
    subject = _reviewed_with_many_photos(request, gallery, reviewer, clone_photo, clones=CLONES_PER_PHOTO)
    files_before = files_under(shared_media)
    with published_to_the_broker():
        purge_approve(request=request, actor=services.Actor.staff(reviewer))
    assert len(_planned_files(request)) == 2 * len(subject) + 1

    first = start_worker(pause=point.pause, pause_prefix=point.prefix)
    journal.wait_for_pause(first)
    job = PurgeJob.objects.get(id=_jobs(request)[point.job].id)
    batch = job.plan[job.done : job.done + BATCH_SIZE]
    if point.deleted_at_kill is None:
        # Paused inside the batch's transaction: its rows are deleted there, not yet committed.
        assert not _rows_free(batch)
    first.kill()

    # Killed exactly where intended: the job is held by the dead worker, its progress as committed.
    assert (job.status, job.attempts, job.done) == ("running", 1, point.done_at_kill)
    if point.deleted_at_kill is not None:
        assert len(journal.under(point.prefix)) == point.deleted_at_kill
    else:
        # PostgreSQL rolled the batch back when the connection dropped: the rows are free and there.
        wait_until(lambda: _rows_free(batch), what="the dead worker's transaction to end")
        assert Photo.objects.filter(id__in=batch).count() == BATCH_SIZE
    assert _status(request) == Status.PURGING

    # A new worker (with the sweeper) takes the job over once the dead worker's lease has expired.
    second = start_worker(beat=True)
    second.wait_for(_completed(request), what="every job to complete after the kill", timeout=FLOW_TIMEOUT)

    _assert_purged_once(
        request,
        journal=journal,
        media=shared_media,
        files_before=files_before,
        subject=subject,
        others=gallery.others,
    )
    attempts = dict(
        PurgeJob.objects.filter(request=request, phase="purge", planned__gt=0).values_list(
            "target", "attempts"
        )
    )
    assert attempts == {target: 2 if target == point.job else 1 for target in PURGE_PHASE}
    second.stop()


# --- Chaos: Redis loses every message --------------------------------------------------------------


def test_flushing_redis_with_every_job_waiting_loses_nothing_the_sweeper_wakes_them(
    private_redis: PrivateRedis,
    broker_key_prefix: str,
    start_worker: StartWorker,
    journal: Journal,
    gallery: Gallery,
    verified_request: RemovalRequest,
    reviewer: Any,
    clone_photo: Any,
    shared_media: Path,
) -> None:
    request = verified_request
    subject = _reviewed_with_many_photos(request, gallery, reviewer, clone_photo, clones=2)
    files_before = files_under(shared_media)
    broker = private_redis.client()

    # Approved with no worker running: the jobs' messages wait in (the private) Redis...
    with published_to_the_broker(), publishing_to_redis_at(private_redis.url):
        purge_approve(request=request, actor=services.Actor.staff(reviewer))
    assert broker.llen(f"{broker_key_prefix}celery") == len(PURGE_PHASE)
    # ...and Redis loses them all.
    broker.flushall()
    assert broker.dbsize() == 0
    assert all(
        job.status == "pending"
        for job in PurgeJob.objects.filter(request=request, phase="purge", planned__gt=0)
    )

    worker = start_worker(beat=True, redis_url=private_redis.url)
    worker.wait_for(_completed(request), what="the sweeper to wake every job", timeout=FLOW_TIMEOUT)

    assert worker.succeeded("removal.tasks.sweep_purge") >= 1
    _assert_purged_once(
        request,
        journal=journal,
        media=shared_media,
        files_before=files_before,
        subject=subject,
        others=gallery.others,
    )
    broker.close()
    worker.stop()


class HangingSmtpServer:
    """Accepts connections and never says a word: an SMTP server that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()
        self.thread.join(timeout=5)


def test_a_hanging_smtp_server_holds_the_mailer_and_never_the_purge(
    celery_workers: CeleryWorkers,
    start_worker: StartWorker,
    gallery: Gallery,
    verified_request: RemovalRequest,
    reviewer: Any,
    clone_photo: Any,
) -> None:
    """Mail has its own queue and workers: while the only mailer waits on an SMTP server that never
    answers, the purge runs to the end on the jobs' worker (issue 12: 24 sweeps queued behind two
    stuck mail deliveries, none ran)."""
    request = verified_request
    _reviewed_with_many_photos(request, gallery, reviewer, clone_photo, clones=1)
    hanging = HangingSmtpServer()
    try:
        mailer = celery_workers.start(
            [sys.executable, "-m", "celery", *worker_arguments(hostname="mailer", queues="mail")],
            name="the mailer",
            smtp_port=hanging.port,
            env={"EMAIL_TIMEOUT": "120"},
        )
        sent_before = Message.objects.filter(sent_at__isnull=False).count()
        with published_to_the_broker():
            # Mail first: other people's requests, whose confirmations the mailer now hangs on...
            for n in range(3):
                services.removal_request_create(
                    name=f"Other Person {n}",
                    email=f"other{n}@example.org",
                    right="erasure",
                    jurisdictions=["EU"],
                    channel="web",
                    actor=services.SUBJECT,
                )
            mailer.wait_for(lambda: bool(hanging.connections), what="the mailer to hang", timeout=30)
            # ...then the purge, behind them in time but not in the same queue.
            purge_approve(request=request, actor=services.Actor.staff(reviewer))
        worker = start_worker(chaos=False, queues="celery")
        worker.wait_for(_completed(request), what="the purge, beside a stuck mailer", timeout=FLOW_TIMEOUT)
        # Nothing got through the hanging server; the purge's own notices wait for a mailer.
        assert Message.objects.filter(sent_at__isnull=False).count() == sent_before
        assert Message.objects.filter(sent_at__isnull=True).exists()
        assert worker.succeeded("removal.tasks.run_purge_job") >= 1
        assert "Task notifications.tasks.deliver_message[" not in worker.log()  # never its work
        mailer.stop()
        worker.stop()
    finally:
        hanging.close()


# --- Chaos: a job that kills its worker every time --------------------------------------------------


def test_a_job_that_kills_its_worker_every_time_fails_alerts_staff_and_leaves_the_request_open(
    start_worker: StartWorker,
    inbox: Inbox,
    journal: Journal,
    gallery: Gallery,
    verified_request: RemovalRequest,
    reviewer: Any,
    clone_photo: Any,
    settings: Any,
) -> None:
    request = verified_request
    _reviewed_with_many_photos(request, gallery, reviewer, clone_photo, clones=1)
    settings.PURGE_MAX_ATTEMPTS = 2
    with published_to_the_broker():
        purge_approve(request=request, actor=services.Actor.staff(reviewer))
    job = _jobs(request)["photo_files"]
    assert job.attempt_limit == 2

    # Each worker dies on the job's first file, as if that file crashed it (an OOM, a segfault).
    for attempt in (1, 2):
        journal.marker.unlink(missing_ok=True)
        worker = start_worker(beat=True, pause="before_deletion:1", pause_prefix=PHOTO_PREFIX)
        journal.wait_for_pause(worker, timeout=FLOW_TIMEOUT)
        worker.kill()
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("running", attempt)

    # The next sweep finds the lease of its last attempt expired: the job fails instead of looping.
    journal.marker.unlink(missing_ok=True)
    last = start_worker(beat=True, pause="before_deletion:1", pause_prefix=PHOTO_PREFIX)
    last.wait_for(
        lambda: (
            PurgeJob.objects.get(id=job.id).status == "failed"
            and any("Purge job failed" in subject for subject in inbox.team())
        ),
        what="the job to fail and the team to be told",
        timeout=FLOW_TIMEOUT,
    )
    job.refresh_from_db()
    assert (job.attempts, job.done, job.last_error) == (2, 0, "LeaseExpired")
    assert not journal.marker.exists(), "nobody ran the failed job a third time"
    assert _status(request) == Status.PURGING
    [failed] = _events(request, "purge_job_failed")
    assert (failed["target"], failed["error"]) == ("photo_files", "LeaseExpired")
    last.stop()


# --- Chaos: the same job delivered twice at once ---------------------------------------------------


def test_the_same_job_delivered_twice_at_once_to_two_workers_runs_once(
    start_worker: StartWorker,
    journal: Journal,
    gallery: Gallery,
    verified_request: RemovalRequest,
    reviewer: Any,
    clone_photo: Any,
    shared_media: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = verified_request
    subject = _reviewed_with_many_photos(request, gallery, reviewer, clone_photo, clones=10)
    files_before = files_under(shared_media)
    woken: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(purge, "_enqueue", lambda job_id, countdown=0: woken.append(str(job_id)))
        purge_approve(request=request, actor=services.Actor.staff(reviewer))
    photo_files = _jobs(request)["photo_files"]
    assert str(photo_files.id) in woken

    first, second = start_worker(), start_worker()
    with transaction.atomic():
        # Holding the job's row lock lets both deliveries reach their claim (the conditional UPDATE)
        # and queue up on it: when it is released they race for the same row for real.
        PurgeJob.objects.select_for_update().get(id=photo_files.id)
        with published_to_the_broker():
            run_purge_job.delay(str(photo_files.id))
            run_purge_job.delay(str(photo_files.id))

        first.wait_for(
            lambda: len(queries_waiting_on_this_connection()) >= 2, what="two claims waiting on the job"
        )
        waiting = queries_waiting_on_this_connection()
        assert len(waiting) == 2
        assert all(query.startswith('UPDATE "removal_purgejob" SET "status"') for query in waiting), waiting

    first.wait_for(
        lambda: (
            first.succeeded("removal.tasks.run_purge_job") == 1
            and second.succeeded("removal.tasks.run_purge_job") == 1
        ),
        what="both deliveries to finish",
    )
    with published_to_the_broker():
        for job_id in woken:
            if job_id != str(photo_files.id):
                run_purge_job.delay(job_id)
    first.wait_for(_completed(request), what="the other jobs", timeout=FLOW_TIMEOUT)

    photo_files.refresh_from_db()
    assert (photo_files.status, photo_files.attempts, photo_files.done) == ("done", 1, len(subject))
    assert [e["job"] for e in _events(request, "purge_job_done")].count(str(photo_files.id)) == 1
    assert sorted(journal.under(PHOTO_PREFIX)) == sorted(photo_files.plan)
    _assert_purged_once(
        request,
        journal=journal,
        media=shared_media,
        files_before=files_before,
        subject=subject,
        others=gallery.others,
    )
    for worker in (first, second):
        worker.stop()
