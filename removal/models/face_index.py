"""The face index: the company's own photo store that purges remove subjects from.

These are photos the company scraped or holds, not data a subject gave us, so they are not sealed
with a per-request key: the purge deletes rows and files outright. They still show people's faces:
nothing here (bytes, embeddings, URLs) is ever written to a log or an audit entry; the audit trail
refers to photos and faces by id only.
"""

from __future__ import annotations

import uuid

import numpy as np
from django.db import models

EMBEDDING_DIMENSIONS = 128
# Little-endian float32, so rows written on one machine read the same on any other.
EMBEDDING_DTYPE = np.dtype("<f4")
EMBEDDING_BYTES = EMBEDDING_DIMENSIONS * EMBEDDING_DTYPE.itemsize
# Little-endian int64: the face ids of a `FaceIndexDeletion`.
FACE_ID_DTYPE = np.dtype("<i8")
SOURCE_URL_MAX_LENGTH = 2048


class Photo(models.Model):
    """One stored photo: the original (re-encoded without metadata) and a thumbnail, in default storage.

    Not encrypted: the company's scraped photos, not subject data (see the module docstring).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Random names in the default storage (file system, or S3 when STORAGE_S3_BUCKET is set).
    storage_key = models.CharField(max_length=255)
    thumbnail_key = models.CharField(max_length=255)
    source_url = models.URLField(max_length=SOURCE_URL_MAX_LENGTH, blank=True)
    # Of the bytes as received: re-ingesting the same file is skipped by this unique lookup.
    content_sha256 = models.CharField(max_length=64, unique=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("ingested_at", "id")

    def __str__(self) -> str:  # ids only: never the source URL
        return f"Photo {self.id}"


class Face(models.Model):
    """One detected face of a photo, with its 128-d embedding (the identity verification model).

    `embedding` is 128 little-endian float32 (512 bytes); `embedding_array()` reads it back. Not
    encrypted (see `Photo`).
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed: the purge deletes a photo's faces and discovery joins matches back to their photo.
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="faces")
    embedding = models.BinaryField()
    left = models.IntegerField()
    top = models.IntegerField()
    right = models.IntegerField()
    bottom = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # `FaceIndexState.version` of the transaction that added the face (see there). Indexed: a search
    # whose in-memory copy is behind loads only the faces above the version it holds.
    index_version = models.BigIntegerField(default=0, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(left__lte=models.F("right")) & models.Q(top__lte=models.F("bottom")),
                name="face_box_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Face {self.id} of photo {self.photo_id}"

    def embedding_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype=EMBEDDING_DTYPE)


FACE_INDEX_STATE_ID = 1


class FaceIndexState(models.Model):
    """The one row (id 1) that tells a process whether its in-memory copy of the index is current.

    `version` grows by one with every transaction that adds faces, and those faces carry it in
    `Face.index_version`; `generation` grows by one with every transaction that deletes faces, and that
    transaction records the ids it deletes in a `FaceIndexDeletion` under the new generation. Both are
    bumped with an UPDATE of this row inside the writing transaction
    (`removal.search.face_index_note_addition` and `face_index_note_deletion`), so the row lock
    serialises those transactions and a version or generation is visible here only once every write
    it or an earlier one describes is committed.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=FACE_INDEX_STATE_ID, editable=False)
    version = models.BigIntegerField(default=0)
    generation = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=FACE_INDEX_STATE_ID), name="face_index_state_single_row"
            ),
        ]

    def __str__(self) -> str:
        return f"Face index version {self.version}, generation {self.generation}"


class FaceIndexDeletion(models.Model):
    """The faces one transaction deleted, under the `FaceIndexState.generation` it bumped to.

    A process whose in-memory copy is at generation g reads the rows above g to learn which faces to
    drop, instead of reloading the whole index. Rows older than a week are pruned
    (`removal.search.DELETION_LOG_RETENTION`); a copy older than what is left reloads in full.

    `face_ids` is the sorted ids as little-endian int64 (`FACE_ID_DTYPE`), not a JSON list: 8 bytes an
    id however large, and numpy reads it as it comes from the database, without a Python int per id.
    Ids only, like the audit trail: never an embedding.
    """

    id = models.BigAutoField(primary_key=True)
    # Unique: one deleting transaction per generation, the state row lock serialising them. Its index
    # serves the range read of a catching-up process.
    generation = models.BigIntegerField(unique=True)
    face_ids = models.BinaryField()
    # Indexed: pruning deletes by age.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"Face index deletion, generation {self.generation}"

    def face_id_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.face_ids), dtype=FACE_ID_DTYPE)
