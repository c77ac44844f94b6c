"""Built-in targets in the face index: photo files, thumbnail files, and photo and face records.

The files' targets plan with storage keys, so they can run before or after the records are deleted:
the three jobs of a request are independent of each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.files.storage import default_storage
from django.db import router

from removal.models import Candidate, Face, Photo
from removal.search import face_index_note_deletion, get_search_backend
from removal.targets import PurgeContext, PurgeTarget


class _StoredFiles(PurgeTarget):
    """Files in the default storage (file system or S3), one storage key per item."""

    key_field: str

    def plan(self, ctx: PurgeContext) -> list[str]:
        return [getattr(photo, self.key_field) for photo in ctx.confirmed_photos()]

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        self.purge_orphaned(items)

    def purge_orphaned(self, items: Sequence[str]) -> bool:
        for key in items:
            # Deleting a missing file is a no-op in every Django storage backend: a retry is safe.
            default_storage.delete(key)
        return True

    def remaining(self, ctx: PurgeContext, items: Sequence[str]) -> list[str]:
        return [key for key in items if default_storage.exists(key)]


class PhotoFiles(_StoredFiles):
    name = "photo_files"
    category = "photos"
    key_field = "storage_key"


class ThumbnailFiles(_StoredFiles):
    name = "thumbnail_files"
    category = "thumbnails"
    key_field = "thumbnail_key"


class FaceRecords(PurgeTarget):
    """Photo rows, their face rows (embeddings), and the search backend's entries for those faces."""

    name = "face_records"
    category = "face_records"

    def plan(self, ctx: PurgeContext) -> list[str]:
        return [str(photo_id) for photo_id in ctx.confirmed_photo_ids]

    def purge(self, ctx: PurgeContext, items: Sequence[str]) -> None:
        self.purge_orphaned(items)

    def purge_orphaned(self, items: Sequence[str]) -> bool:
        face_ids = list(Face.objects.filter(photo_id__in=items).values_list("id", flat=True))
        if face_ids:
            # The external copy first: if this transaction then fails, the retry removes it again.
            get_search_backend().remove(face_ids)
            # Logged with their ids in this transaction: every process drops them from its in-memory
            # copy of the index before its next search, so a deleted face is never a candidate again.
            face_index_note_deletion(face_ids)
        # Dependents first, each with one DELETE: the ORM's delete() would load every face (with its
        # embedding) and photo into memory to cascade by hand; nothing here has signals to send.
        database = router.db_for_write(Face)
        Candidate.objects.filter(face_id__in=face_ids)._raw_delete(database)
        Face.objects.filter(id__in=face_ids)._raw_delete(database)
        Photo.objects.filter(id__in=items)._raw_delete(database)
        return True

    def remaining(self, ctx: PurgeContext, items: Sequence[str]) -> list[str]:
        left = set(Photo.objects.filter(id__in=items).values_list("id", flat=True))
        left.update(Face.objects.filter(photo_id__in=items).values_list("photo_id", flat=True))
        return sorted(str(photo_id) for photo_id in left)
