"""Purge jobs: approval creates one job per target; jobs delete what staff confirmed, retry, fail
loudly, survive lost messages and dead workers, and complete the request with a signed receipt.

Celery runs eagerly here (config/settings_test.py); the real-worker runs, chaos included, are in
tests/removal/test_purge_worker.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from identity import selectors as identity_selectors
from ledger.models import AuditEvent
from notifications.models import Message
from removal import search, services
from removal.models import (
    Candidate,
    DeletionReceipt,
    Face,
    FaceIndexDeletion,
    Photo,
    PurgeJob,
    RemovalRequest,
    Status,
)
from removal.receipts import receipt_verify
from removal.search import NumpyExactBackend
from removal.selectors import hash_status_token, removal_request_pii
from removal.services.common import subject_ref
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.purge import purge_approve, purge_job_retry, purge_job_run, purge_sweep
from tests.support.gallery import Gallery
from vault import signing

pytestmark = pytest.mark.django_db

PURGE_TARGETS = ("photo_files", "thumbnail_files", "face_records", "downstream_recipients", "headshot")
# Jobs with something to do in these tests: no downstream recipient is configured here (see
# tests/removal/test_downstream.py), so that job is planned empty and done at approval.
BUSY_TARGETS = ("photo_files", "thumbnail_files", "face_records", "headshot")


def _events(request: RemovalRequest, action: str) -> list[dict[str, Any]]:
    return [
        json.loads(event.payload)["details"]
        for event in AuditEvent.objects.filter(object_id=str(request.id), action=f"request.{action}")
    ]


def _files(photos: list[Photo]) -> list[str]:
    return [key for photo in photos for key in (photo.storage_key, photo.thumbnail_key)]


def _approve_without_running(request: RemovalRequest, reviewer: Any) -> list[PurgeJob]:
    # No on-commit callbacks in a test transaction: the jobs are created but no task runs them.
    return purge_approve(request=request, actor=services.Actor.staff(reviewer))


def test_approval_is_refused_while_a_candidate_is_undecided(
    gallery: Gallery, verified_request: RemovalRequest, reviewer: Any
) -> None:
    removal_request_discover(request_id=verified_request.id)
    verified_request.refresh_from_db()
    with pytest.raises(services.InvalidRequest, match="not decided"):
        purge_approve(request=verified_request, actor=services.Actor.staff(reviewer))
    verified_request.refresh_from_db()
    assert verified_request.status == Status.AWAITING_REVIEW and not PurgeJob.objects.exists()


def test_approval_creates_one_job_per_target_with_its_plan(
    reviewed: RemovalRequest, gallery: Gallery, reviewer: Any
) -> None:
    jobs = {job.target: job for job in _approve_without_running(reviewed, reviewer)}

    reviewed.refresh_from_db()
    assert reviewed.status == Status.PURGING
    assert set(jobs) == {*PURGE_TARGETS, "personal_data"}
    subject = gallery.subject
    assert sorted(jobs["photo_files"].plan) == sorted(p.storage_key for p in subject)
    assert sorted(jobs["thumbnail_files"].plan) == sorted(p.thumbnail_key for p in subject)
    assert sorted(jobs["face_records"].plan) == sorted(str(p.id) for p in subject)
    assert len(jobs["headshot"].plan) == 1
    assert all(jobs[name].status == "pending" and jobs[name].next_attempt_at for name in BUSY_TARGETS)
    assert (jobs["downstream_recipients"].status, jobs["downstream_recipients"].planned) == ("done", 0)
    # The request's own personal data waits for the completion (and its retention period).
    assert jobs["personal_data"].phase == "after_completion" and jobs["personal_data"].next_attempt_at is None
    [approved] = _events(reviewed, "approve_purge")
    assert approved["jobs"] == 6 and approved["photos"] == len(subject)


def test_the_purge_deletes_the_subjects_photos_and_headshot_and_keeps_everyone_elses(
    reviewed: RemovalRequest, gallery: Gallery, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))

    reviewed.refresh_from_db()
    assert reviewed.status == Status.COMPLETED
    subject_ids = [p.id for p in gallery.subject]
    assert not Photo.objects.filter(id__in=subject_ids).exists()
    assert not Face.objects.filter(photo_id__in=subject_ids).exists()
    assert not any(default_storage.exists(key) for key in _files(gallery.subject))
    assert Photo.objects.filter(id__in=[p.id for p in gallery.others]).count() == len(gallery.others)
    assert all(default_storage.exists(key) for key in _files(gallery.others))
    assert identity_selectors.headshot_probe_storage_name(subject_ref=subject_ref(reviewed)) is None
    assert not Candidate.objects.filter(request=reviewed).exists()
    assert [
        (j.target, j.status, j.done) for j in PurgeJob.objects.filter(phase="purge").order_by("target")
    ] == [
        ("downstream_recipients", "done", 0),
        ("face_records", "done", 5),
        ("headshot", "done", 1),
        ("photo_files", "done", 5),
        ("thumbnail_files", "done", 5),
    ]
    assert sorted(e["target"] for e in _events(reviewed, "purge_job_done")) == sorted(BUSY_TARGETS)


def test_the_purge_logs_the_deleted_faces_and_a_loaded_index_drops_them_without_reloading(
    reviewed: RemovalRequest,
    gallery: Gallery,
    reviewer: Any,
    django_capture_on_commit_callbacks: Any,
    clone_photo: Callable[[Photo, int], list[Photo]],
) -> None:
    # Other people's faces enough that the purged ones stay below the share that compacts the copy.
    clone_photo(gallery.photos["astronaut.jpg"], 20)
    # As if the gallery's ingest had committed (a test's own on-commit hooks never run): searches
    # keep their copy of the index in memory, as the worker's do.
    search._UNCOMMITTED_WRITERS.discard(transaction.get_connection())
    subject_faces = list(Face.objects.filter(photo__in=gallery.subject))
    probe = subject_faces[0].embedding_array()
    backend = NumpyExactBackend()
    before = {match.face_id for match in backend.search(probe, max_distance=0.6, limit=50)}
    assert before & {face.id for face in subject_faces}
    loaded = backend.cache_info()

    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    matches = backend.search(probe, max_distance=0.6, limit=50)

    # Every face of the purged photos (the group photo's other face too), and nothing else.
    logged = {int(face_id) for row in FaceIndexDeletion.objects.all() for face_id in row.face_id_array()}
    assert logged == {face.id for face in subject_faces}
    assert {match.face_id for match in matches} == before - logged
    info = backend.cache_info()
    assert (info.full_loads, info.deletion_catch_ups) == (loaded.full_loads, loaded.deletion_catch_ups + 1)
    assert info.dead_faces == len(subject_faces)


def test_the_completion_notice_carries_a_receipt_that_verifies(
    reviewed: RemovalRequest, reviewer: Any, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))

    [notice] = [m for m in mailoutbox if "is complete" in m.subject]
    document = notice.body[notice.body.index('{"categories"') :].split("\n")[0]
    # The same receipt as the file the words promise, attached.
    filename = f"deletion-receipt-{reviewed.reference}.json"
    assert f"attached to this e-mail ({filename})" in notice.body
    assert notice.attachments == [(filename, document, "application/json")]
    check = receipt_verify(document, public_keys=signing.configured_public_keys())
    assert check.valid and check.contents is not None
    assert check.contents.reference == reviewed.reference
    assert dict(check.contents.categories) == {
        "photos": 5,
        "thumbnails": 5,
        "face_records": 5,
        "headshot": 1,
        "downstream_notices": 0,
    }
    # Nothing of the subject's photos is in it: no storage key, no photo id, no URL.
    for photo in Photo.objects.all():
        assert str(photo.id) not in document and photo.storage_key not in document
    assert "http" not in document.replace(json.loads(document)["issuer"], "")


def test_a_second_run_of_every_job_changes_nothing(
    reviewed: RemovalRequest, gallery: Gallery, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    others = {(p.id, p.storage_key) for p in Photo.objects.all()}
    faces, events = Face.objects.count(), AuditEvent.objects.count()

    # As if every job's message were delivered again after it finished: not claimed, nothing done.
    for job in PurgeJob.objects.filter(phase="purge"):
        assert purge_job_run(job_id=job.id) is None
    # And as if every job ran again from the start: everything it planned is already gone.
    PurgeJob.objects.filter(phase="purge").update(status="pending", done=0, next_attempt_at=timezone.now())
    for job in PurgeJob.objects.filter(phase="purge"):
        assert purge_job_run(job_id=job.id) == "done"

    assert {(p.id, p.storage_key) for p in Photo.objects.all()} == others
    assert Face.objects.count() == faces
    assert all(default_storage.exists(key) for key in _files(gallery.others))
    # Only the jobs' own "done" events were added: no deletion, no second completion or receipt.
    added = AuditEvent.objects.order_by("id")[events:]
    assert {event.action for event in added} == {"request.purge_job_done"}


def test_a_failing_step_retries_with_backoff_and_then_fails_the_job_alerts_staff_and_keeps_the_request_open(
    reviewed: RemovalRequest, reviewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = {job.target: job for job in _approve_without_running(reviewed, reviewer)}
    job = jobs["photo_files"]

    def storage_down(name: str) -> None:
        raise ConnectionError(f"cannot reach the bucket for {name}")

    monkeypatch.setattr(default_storage, "delete", storage_down)
    with override_settings(PURGE_MAX_ATTEMPTS=3):
        PurgeJob.objects.filter(id=job.id).update(attempt_limit=3)
        statuses = []
        for _ in range(3):
            PurgeJob.objects.filter(id=job.id, status="pending").update(next_attempt_at=timezone.now())
            statuses.append(purge_job_run(job_id=job.id))
            job.refresh_from_db()
            if job.status == "pending":
                # Exponential backoff with jitter: the next try is in the future, not now.
                assert job.next_attempt_at is not None
                assert job.next_attempt_at > timezone.now() + timedelta(seconds=10)

    assert statuses == ["pending", "pending", "failed"]
    assert (job.status, job.attempts, job.done, job.failed, job.last_error) == (
        "failed",
        3,
        0,
        5,
        "ConnectionError",
    )
    reviewed.refresh_from_db()
    assert reviewed.status == Status.PURGING
    [failed] = _events(reviewed, "purge_job_failed")
    assert failed == {
        "job": str(job.id),
        "target": "photo_files",
        "done": 0,
        "failed": 5,
        "error": "ConnectionError",
    }
    alert = Message.objects.get(template="removal/emails/purge_failed")
    assert alert.about == f"removal.purge_job:{job.id}"
    # Staff fix the storage and retry: the job runs again and the request can complete.
    monkeypatch.undo()
    assert purge_job_retry(job=job, actor=services.Actor.staff(reviewer))
    assert purge_job_run(job_id=job.id) == "done"


def test_a_worker_whose_lease_expired_does_not_record_progress_over_the_new_owner(
    reviewed: RemovalRequest, reviewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = next(j for j in _approve_without_running(reviewed, reviewer) if j.target == "face_records")
    from removal.targets import face_index as face_index_targets

    real_purge = face_index_targets.FaceRecords.purge

    def slow_purge(self: Any, ctx: Any, items: Any) -> None:
        real_purge(self, ctx, items)
        # While this worker works, its lease expires and another worker takes the job over.
        PurgeJob.objects.filter(id=job.id).update(lease_token=None)

    monkeypatch.setattr(face_index_targets.FaceRecords, "purge", slow_purge)
    assert purge_job_run(job_id=job.id) is None
    job.refresh_from_db()
    # The stale worker's batch was rolled back with its progress: the new owner does it once.
    assert job.done == 0 and Photo.objects.filter(id__in=job.plan).count() == 5


def test_a_job_that_must_wait_does_not_use_up_an_attempt(
    reviewed: RemovalRequest, reviewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from removal.targets import NotYet
    from removal.targets import face_index as face_index_targets

    def not_yet(self: Any, ctx: Any, items: Any) -> None:
        raise NotYet(120, "waiting for something")

    monkeypatch.setattr(face_index_targets.PhotoFiles, "purge", not_yet)
    job = next(j for j in _approve_without_running(reviewed, reviewer) if j.target == "photo_files")
    assert purge_job_run(job_id=job.id) == "pending"
    job.refresh_from_db()
    assert job.attempts == 0 and job.next_attempt_at is not None
    assert job.next_attempt_at > timezone.now() + timedelta(seconds=100)


def test_the_sweeper_wakes_jobs_whose_worker_died_and_jobs_whose_message_was_lost(
    reviewed: RemovalRequest, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    jobs = {job.target: job for job in _approve_without_running(reviewed, reviewer)}
    # photo_files: a worker claimed it and died (its lease ran out); the rest: messages lost.
    PurgeJob.objects.filter(id=jobs["photo_files"].id).update(
        status="running", attempts=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_sweep() == 4

    reviewed.refresh_from_db()
    assert reviewed.status == Status.COMPLETED
    photo_files = PurgeJob.objects.get(id=jobs["photo_files"].id)
    assert (photo_files.status, photo_files.attempts) == ("done", 2)


def test_a_job_whose_worker_died_on_its_last_attempt_fails_and_alerts_staff_instead_of_looping(
    reviewed: RemovalRequest, reviewer: Any
) -> None:
    jobs = {job.target: job for job in _approve_without_running(reviewed, reviewer)}
    job = jobs["photo_files"]
    # Its worker died on every attempt (the job kills it, say): the last attempt's lease ran out too.
    PurgeJob.objects.filter(id=job.id).update(
        status="running",
        attempts=job.attempt_limit,
        lease_token=uuid.uuid4(),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    purge_sweep()  # the other jobs were due: they run (eagerly here) and are done

    job.refresh_from_db()
    assert (job.status, job.attempts, job.failed, job.last_error) == (
        "failed",
        job.attempt_limit,
        5,
        "LeaseExpired",
    )
    assert job.lease_token is None and job.finished_at is not None
    [failed] = _events(reviewed, "purge_job_failed")
    assert failed == {
        "job": str(job.id),
        "target": "photo_files",
        "done": 0,
        "failed": 5,
        "error": "LeaseExpired",
    }
    assert Message.objects.get(template="removal/emails/purge_failed").about == f"removal.purge_job:{job.id}"
    reviewed.refresh_from_db()
    assert reviewed.status == Status.PURGING
    # Not woken again: staff retry it once they know why it kept killing its workers.
    assert purge_sweep() == 0
    assert purge_job_retry(job=job, actor=services.Actor.staff(reviewer))
    assert purge_job_run(job_id=job.id) == "done"
    reviewed.refresh_from_db()
    assert reviewed.status == Status.COMPLETED


def test_the_request_personal_data_is_shredded_after_its_retention_once_the_outbox_is_empty(
    reviewed: RemovalRequest, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        override_settings(REQUEST_PERSONAL_DATA_RETENTION_DAYS=30),
        django_capture_on_commit_callbacks(execute=True),
    ):
        purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    job = PurgeJob.objects.get(request=reviewed, target="personal_data")
    assert job.status == "pending"
    assert job.next_attempt_at is not None
    assert timedelta(days=29) < job.next_attempt_at - timezone.now() <= timedelta(days=30)
    assert purge_sweep() == 0  # not due

    # Thirty days on, a message about the request is somehow still unsent: the shred waits for it.
    Message.objects.filter(about=subject_ref(reviewed)).update(status="pending")
    PurgeJob.objects.filter(id=job.id).update(next_attempt_at=timezone.now())
    assert purge_job_run(job_id=job.id) == "pending"
    reviewed.data_key.refresh_from_db()
    assert not reviewed.data_key.is_shredded

    Message.objects.filter(about=subject_ref(reviewed)).update(status="sent")
    PurgeJob.objects.filter(id=job.id).update(next_attempt_at=timezone.now())
    assert purge_job_run(job_id=job.id) == "done"
    reviewed.data_key.refresh_from_db()
    assert reviewed.data_key.is_shredded
    assert _events(reviewed, "personal_data_shredded")


def test_approving_with_nothing_confirmed_still_destroys_the_headshot_and_completes(
    gallery: Gallery, verified_request: RemovalRequest, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    removal_request_discover(request_id=verified_request.id)
    ids = Candidate.objects.filter(request=verified_request).values_list("id", flat=True)
    candidates_decide(
        request=verified_request,
        actor=services.Actor.staff(reviewer),
        decisions=dict.fromkeys(ids, "rejected"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=verified_request, actor=services.Actor.staff(reviewer))

    verified_request.refresh_from_db()
    assert verified_request.status == Status.COMPLETED
    assert Photo.objects.count() == len(gallery.subject) + len(gallery.others)
    assert not identity_selectors.has_headshot_probe(subject_ref=subject_ref(verified_request))
    assert dict(PurgeJob.objects.filter(phase="purge").values_list("target", "planned")) == {
        "photo_files": 0,
        "thumbnail_files": 0,
        "face_records": 0,
        "downstream_recipients": 0,
        "headshot": 1,
    }


def test_job_rows_and_task_arguments_hold_no_personal_data(
    reviewed: RemovalRequest,
    reviewer: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from removal import tasks

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.run_purge_job, "apply_async", lambda args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        jobs = _approve_without_running(reviewed, reviewer)

    assert sorted(sent) == sorted((str(job.id),) for job in jobs if job.target in BUSY_TARGETS)
    pii = removal_request_pii(request=reviewed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM removal_purgejob")
        rows = repr(cursor.fetchall())
    for needle in (pii.name, pii.email, *(p.source_url for p in Photo.objects.all())):
        assert needle not in rows


def _status_token(request: RemovalRequest) -> str:
    token = "a-status-link-secret-for-this-test"
    RemovalRequest.objects.filter(id=request.id).update(status_token_hash=hash_status_token(token))
    return token


def test_the_subject_follows_the_purge_and_gets_the_receipt_on_the_status_page_and_api(
    reviewed: RemovalRequest, reviewer: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    token = _status_token(reviewed)
    jobs = {job.target: job for job in _approve_without_running(reviewed, reviewer)}
    purge_job_run(job_id=jobs["photo_files"].id)

    page = client.get(reverse("removal:status"), {"t": token}).content.decode()
    assert "Deleted so far: 5 of 16 items." in page
    api = client.get(reverse("removal:api_status"), HTTP_X_STATUS_TOKEN=token).json()
    assert api["purge_progress"] == {"done": 5, "planned": 16} and api["receipt"] is None

    with django_capture_on_commit_callbacks(execute=True):
        for target in ("thumbnail_files", "face_records", "headshot"):
            purge_job_run(job_id=jobs[target].id)

    page = client.get(reverse("removal:status"), {"t": token}).content.decode()
    receipt = DeletionReceipt.objects.get(request=reviewed)
    assert "Your deletion receipt" in page and "Photos: 5" in page
    assert escape(receipt.document) in page
    # The file to keep, behind the same secret as the page.
    download = client.get(reverse("removal:status_receipt"), {"t": token})
    assert download.status_code == 200 and download["Content-Type"] == "application/json"
    assert (
        download["Content-Disposition"]
        == f'attachment; filename="deletion-receipt-{reviewed.reference}.json"'
    )
    assert download.content.decode() == receipt.document
    assert client.get(reverse("removal:status_receipt"), {"t": "not-the-secret"}).status_code == 404
    api = client.get(reverse("removal:api_status"), HTTP_X_STATUS_TOKEN=token).json()
    assert api["status"] == "completed" and api["purge_progress"] is None
    assert api["receipt"] == receipt.document


def test_after_a_restore_replaying_the_purge_deletes_again_what_came_back_and_nothing_else(
    reviewed: RemovalRequest, gallery: Gallery, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # What a backup taken before the purge holds: the subject's photo rows, faces and files.
    backup = [
        (photo, list(Face.objects.filter(photo=photo)), _read(photo.storage_key), _read(photo.thumbnail_key))
        for photo in gallery.subject
    ]
    with django_capture_on_commit_callbacks(execute=True):
        purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    reviewed.refresh_from_db()
    assert reviewed.status == Status.COMPLETED
    messages = Message.objects.count()

    # The restore brings them back.
    for photo, faces, original, thumbnail in backup:
        photo.save(force_insert=True)
        Face.objects.bulk_create(faces)
        default_storage.save(photo.storage_key, ContentFile(original))
        default_storage.save(photo.thumbnail_key, ContentFile(thumbnail))
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_replay", "--completed-since", "2000-01-01", stdout=out)

    assert "1 request(s) purged again (0 of them approved after the backup" in out.getvalue()
    assert not Photo.objects.filter(id__in=[p.id for p in gallery.subject]).exists()
    assert not any(default_storage.exists(key) for key in _files(gallery.subject))
    assert Photo.objects.filter(id__in=[p.id for p in gallery.others]).count() == len(gallery.others)
    reviewed.refresh_from_db()
    assert reviewed.status == Status.COMPLETED
    assert DeletionReceipt.objects.filter(request=reviewed).count() == 1
    assert Message.objects.count() == messages  # no second completion notice
    [replayed] = _events(reviewed, "purge_replayed")
    assert sorted(replayed["jobs"]) == sorted([*BUSY_TARGETS, "personal_data"])
    assert len(_events(reviewed, "complete_purge")) == 1


def _read(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("value", ["yesterday", "2026-11-20T10:00"])
def test_purge_replay_refuses_a_moment_it_cannot_read(value: str) -> None:
    with pytest.raises(CommandError, match="--since"):
        call_command("purge_replay", "--completed-since", value)
