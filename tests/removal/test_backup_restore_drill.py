"""Backup and restore drill (issue 12, item 6): a real pg_dump taken before two erasures, restored
with pg_restore after them, then `purge_replay --since <the dump>`.

The backup holds request A still in review (its approval, purge and the shredding of its personal
data came later) and does not hold request B at all (filed and purged after the dump). The restore
brings back both requests' gallery photos and A's data key; the erasure journal, which lives outside
the database, is all that remembers the two purges. After the replay: every purged photo is gone
again, the other people's photos are all there, A is completed again and its personal data is
unreadable again.
"""

from __future__ import annotations

import shutil
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from ledger.models import AuditEvent
from removal import services
from removal.models import Candidate, Face, Photo, PurgeJob, RemovalRequest, Status
from removal.selectors import removal_request_pii
from removal.services.discovery import candidates_decide, removal_request_discover
from removal.services.purge import purge_approve, purge_sweep
from tests.support.gallery import Gallery
from vault.models import DataKey
from vault.services import DataKeyShredded

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
        reason="pg_dump and pg_restore (PostgreSQL's client) are needed for the restore drill",
    ),
]

A_PHOTOS = ("obama2.jpg", "obama2-mirrored")
B_PHOTOS = ("obama3.jpg", "obama3-small", "group")


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the drill restores a PostgreSQL dump: set DATABASE_URL to a PostgreSQL database")


def _pg(program: str, *args: str) -> None:
    db = connection.settings_dict
    command = [program, "--no-password", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432)]
    command += ["-U", db["USER"] or "postgres", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _review(request: RemovalRequest, reviewer: Any, *, confirm: list[Photo]) -> None:
    """Discovery, then every candidate decided: the given photos confirmed, the rest rejected."""
    removal_request_discover(request_id=request.id)
    confirmed = {photo.id for photo in confirm}
    decisions = {
        candidate.id: "confirmed" if candidate.face.photo_id in confirmed else "rejected"
        for candidate in Candidate.objects.filter(request=request).select_related("face")
    }
    candidates_decide(
        request=request, actor=services.Actor.staff(reviewer), decisions=decisions, user=reviewer
    )


def _purge_until_quiet() -> None:
    """What a worker and beat do: run what is due until nothing is."""
    for _ in range(20):
        if not purge_sweep():
            return
    raise AssertionError("purge jobs still due after 20 sweeps")


def _present(photos: list[Photo]) -> list[str]:
    rows = set(Photo.objects.filter(id__in=[photo.id for photo in photos]).values_list("id", flat=True))
    rows |= set(
        Face.objects.filter(photo_id__in=[photo.id for photo in photos]).values_list("photo_id", flat=True)
    )
    return sorted(str(photo_id) for photo_id in rows)


@override_settings(REQUEST_PERSONAL_DATA_RETENTION_DAYS=0)
def test_a_backup_from_before_two_erasures_restored_after_them_is_purged_again_by_the_journal(
    gallery: Gallery, make_verified_request: Any, reviewer: Any, tmp_path: Path
) -> None:
    a_photos = [gallery.photos[name] for name in A_PHOTOS]
    b_photos = [gallery.photos[name] for name in B_PHOTOS]
    request_a = make_verified_request(name="Anna Beispiel", email="anna@example.org", jurisdictions=["EU"])
    _review(request_a, reviewer, confirm=a_photos)

    # The nightly backup: A is in review, B does not exist yet.
    dump = tmp_path / "backup.dump"
    backup_taken = timezone.now()
    db_name = connection.settings_dict["NAME"]
    _pg("pg_dump", "-Fc", "-f", str(dump), db_name)

    # After it: A approved, purged, its personal data shredded; B filed, reviewed, purged.
    purge_approve(request=request_a, actor=services.Actor.staff(reviewer))
    _purge_until_quiet()
    request_b = make_verified_request(name="Bruno Muster", email="bruno@example.org", jurisdictions=["EU"])
    _review(request_b, reviewer, confirm=b_photos)
    purge_approve(request=request_b, actor=services.Actor.staff(reviewer))
    _purge_until_quiet()
    request_a.refresh_from_db()
    assert request_a.status == Status.COMPLETED
    assert DataKey.objects.get(id=request_a.data_key_id).is_shredded
    assert _present(a_photos + b_photos) == []

    # The database is restored from the backup; files and the journal are not part of it.
    # (9 items below: each of B's 3 photos has a file, a thumbnail and its rows.)
    connections.close_all()
    _pg(
        "pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "-d", db_name, str(dump)
    )
    request_a.refresh_from_db()
    assert request_a.status == Status.AWAITING_REVIEW
    assert not RemovalRequest.objects.filter(id=request_b.id).exists()
    assert _present(a_photos + b_photos) == sorted(str(photo.id) for photo in a_photos + b_photos)
    restored_a = RemovalRequest.objects.select_related("data_key").get(id=request_a.id)
    assert removal_request_pii(request=restored_a).name == "Anna Beispiel"  # readable again

    out = StringIO()
    call_command("purge_replay", "--since", backup_taken.isoformat(), stdout=out)
    _purge_until_quiet()

    printed = out.getvalue()
    assert "1 request(s) purged again (1 of them approved after the backup" in printed, printed
    assert "1 request(s) the backup does not hold: 9 gallery item(s) deleted again at once" in printed, (
        printed
    )
    assert _present(a_photos + b_photos) == []
    assert not any(default_storage.exists(photo.storage_key) for photo in a_photos + b_photos)
    assert Photo.objects.filter(id__in=[photo.id for photo in gallery.others]).count() == len(gallery.others)
    request_a.refresh_from_db()
    assert request_a.status == Status.COMPLETED
    assert DataKey.objects.get(id=request_a.data_key_id).is_shredded
    request_a = RemovalRequest.objects.select_related("data_key").get(id=request_a.id)
    with pytest.raises(DataKeyShredded):
        removal_request_pii(request=request_a)
    assert not Candidate.objects.filter(request=request_a).exists()
    assert not PurgeJob.objects.filter(request=request_a).exclude(status=PurgeJob.Status.DONE).exists()
    assert AuditEvent.objects.filter(object_id=str(request_a.id), action="request.restore_purge").count() == 1

    # Replaying again changes nothing more.
    out = StringIO()
    call_command("purge_replay", "--since", backup_taken.isoformat(), stdout=out)
    _purge_until_quiet()
    assert "(0 of them approved after the backup" in out.getvalue()
    assert Photo.objects.filter(id__in=[photo.id for photo in gallery.others]).count() == len(gallery.others)
