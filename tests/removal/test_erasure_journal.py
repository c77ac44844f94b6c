"""The erasure journal: every approved purge is written outside the database before anything is
deleted, holds no personal data, and is pruned after its retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import storages
from django.test import override_settings
from django.utils import timezone

from removal import services
from removal.erasure_journal import erasure_journal_entries, erasure_journal_prune, erasure_journal_record
from removal.models import Face, PurgeJob, RemovalRequest
from removal.selectors import removal_request_pii
from removal.services.purge import purge_approve, purge_job_run
from tests.support.gallery import Gallery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_journal() -> Any:
    """The in-memory journal lives as long as the process, and other tests purge: each test here
    starts with an empty one."""
    _clear()
    yield
    _clear()


def _clear() -> None:
    journal = storages["erasure_journal"]
    for day in journal.listdir("")[0]:
        for name in journal.listdir(day)[1]:
            journal.delete(f"{day}/{name}")


def _journal_text() -> str:
    journal = storages["erasure_journal"]
    texts = []
    for day in journal.listdir("")[0]:
        for name in journal.listdir(day)[1]:
            with journal.open(f"{day}/{name}", "rb") as handle:
                texts.append(handle.read().decode())
    return "\n".join(texts)


def test_the_first_job_to_run_journals_the_whole_purge_before_deleting_anything(
    reviewed: RemovalRequest, gallery: Gallery, reviewer: Any
) -> None:
    jobs = {job.target: job for job in purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))}
    assert list(erasure_journal_entries(since=timezone.now() - timedelta(hours=1))) == []

    purge_job_run(job_id=jobs["face_records"].id)

    entries = {
        entry.target: entry for entry in erasure_journal_entries(since=timezone.now() - timedelta(hours=1))
    }
    # Every job of the request, the empty and the waiting ones too, with the plan it was approved with.
    assert set(entries) == set(jobs)
    for target, job in jobs.items():
        assert entries[target].job_id == job.id and entries[target].plan == job.plan
        assert entries[target].request_id == reviewed.id
    assert sorted(entries["face_records"].plan) == sorted(str(photo.id) for photo in gallery.subject)
    assert PurgeJob.objects.filter(request=reviewed, journaled_at__isnull=True).count() == 0
    # Opaque ids only: the journal is kept apart and longer, so nothing in it names the subject.
    pii = removal_request_pii(request=reviewed)
    text = _journal_text()
    assert pii.name not in text and pii.email not in text and pii.email.split("@")[0] not in text
    assert {json.loads(line)["format"] for line in text.splitlines()} == {1}


def test_a_journal_that_cannot_be_written_stops_the_job_before_it_deletes(
    reviewed: RemovalRequest, gallery: Gallery, reviewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = {job.target: job for job in purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))}
    journal = storages["erasure_journal"]

    def unavailable(*args: Any, **kwargs: Any) -> str:
        raise OSError("journal storage unavailable")

    monkeypatch.setattr(journal, "save", unavailable)
    status = purge_job_run(job_id=jobs["face_records"].id)

    assert status == PurgeJob.Status.PENDING  # retried later, like any failed batch
    job = PurgeJob.objects.get(id=jobs["face_records"].id)
    assert job.done == 0 and job.last_error == "OSError" and job.journaled_at is None
    assert Face.objects.filter(photo__in=gallery.subject).count() > 0  # nothing deleted


def test_journaling_twice_writes_each_job_once(reviewed: RemovalRequest, reviewer: Any) -> None:
    purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    first = erasure_journal_record(request_id=reviewed.id)
    PurgeJob.objects.filter(request=reviewed).update(journaled_at=None)  # as after a restore
    erasure_journal_record(request_id=reviewed.id)
    entries = list(erasure_journal_entries(since=timezone.now() - timedelta(hours=1)))
    assert first == len(entries) == PurgeJob.objects.filter(request=reviewed).count()


@override_settings(ERASURE_JOURNAL_RETENTION_DAYS=30)
def test_days_past_the_journal_retention_are_pruned_and_the_rest_kept(
    reviewed: RemovalRequest, reviewer: Any
) -> None:
    purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    written = erasure_journal_record(request_id=reviewed.id)

    assert erasure_journal_prune(now=timezone.now() + timedelta(days=30)) == 0
    assert erasure_journal_prune(now=timezone.now() + timedelta(days=31)) == written
    assert list(erasure_journal_entries(since=timezone.now() - timedelta(days=400))) == []


def test_entries_since_a_moment_leave_out_earlier_ones(reviewed: RemovalRequest, reviewer: Any) -> None:
    purge_approve(request=reviewed, actor=services.Actor.staff(reviewer))
    erasure_journal_record(request_id=reviewed.id)
    assert list(erasure_journal_entries(since=timezone.now() + timedelta(seconds=1))) == []
