"""Building and reading the face index (`removal.models.face_index`): services and selectors.

`photo_ingest` decodes a photo strictly (the same decoder as subject uploads: these files come from
the web too), finds every face with the identity verification model, and stores the photo, its
thumbnail and one `Face` row per face. Nothing here logs a photo's bytes, URL or embeddings.

A photo with any face close to a suppression template (a subject who consented to being refused in
future, `removal.services.suppression`) is refused before anything of it is stored.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from identity.faces import detect_faces, embed_face
from identity.images import DecodedImage, ImageRejected, decode_image, fit_within
from removal.models.face_index import EMBEDDING_DTYPE, Face, Photo
from removal.search import face_index_note_addition, get_search_backend
from removal.services.suppression import SuppressionList

# Scraped photos are larger than phone uploads (press photos, scans); decoding stays bounded.
INGEST_MAX_BYTES: Final = 50 * 1024 * 1024
INGEST_MAX_PIXELS: Final = 80_000_000
# Faces smaller than the HOG window (80 px) are found only upsampled; one doubling catches faces
# down to about 40 px, which still embed well enough to be a candidate that staff review.
DETECT_UPSAMPLE: Final = 1
# Detection time grows with the pixel count (and 4x with the upsample): large photos are analysed
# at this size, and boxes are mapped back to the original's coordinates.
DETECT_MAX_SIDE: Final = 2000
THUMBNAIL_MAX_SIDE: Final = 256
PHOTO_PREFIX: Final = "face-index/photos"
THUMBNAIL_PREFIX: Final = "face-index/thumbnails"

IngestOutcome = Literal["ingested", "duplicate", "rejected", "suppressed"]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one file: `photo` and `faces` when ingested (or the existing photo when a
    duplicate); `reason` (an `ImageRejected` code) when rejected. A suppressed photo has neither:
    nothing of it was stored."""

    outcome: IngestOutcome
    photo: Photo | None = None
    faces: int = 0
    reason: str = ""


@dataclass
class IngestSummary:
    photos: int = 0
    faces: int = 0
    duplicates: int = 0
    rejected: int = 0
    suppressed: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, result: IngestResult) -> None:
        if result.outcome == "ingested":
            self.photos += 1
            self.faces += result.faces
        elif result.outcome == "duplicate":
            self.duplicates += 1
        elif result.outcome == "suppressed":
            self.suppressed += 1
        else:
            self.rejected += 1
            self.rejected_reasons[result.reason] = self.rejected_reasons.get(result.reason, 0) + 1


def photo_ingest(
    *, data: bytes, source_url: str = "", suppression: SuppressionList | None = None
) -> IngestResult:
    """Add one photo and its faces to the index; a duplicate (same SHA-256), an undecodable file or a
    suppressed face is reported in the result, never raised.

    Pass one `suppression` list for a whole run (the command does): its templates are decrypted once,
    not per photo. Without one, a module-wide list is used, which re-reads them only when they change.

    Call it outside a transaction (the command does): files are not transactional, and this removes
    them again only when its own transaction fails, not when an outer one rolls back later.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = _photo_with_digest(digest)
    if existing is not None:
        return IngestResult(outcome="duplicate", photo=existing)
    try:
        image = decode_image(data, max_bytes=INGEST_MAX_BYTES, max_pixels=INGEST_MAX_PIXELS)
    except ImageRejected as exc:
        return IngestResult(outcome="rejected", reason=exc.code)

    boxes_and_embeddings = _faces_of(image)
    suppression = suppression if suppression is not None else _SHARED_SUPPRESSION_LIST
    if suppression.matches_any([embedding for _, embedding in boxes_and_embeddings]):
        # The subject asked us never to hold their face again: nothing of the photo is kept.
        return IngestResult(outcome="suppressed")
    original = _encode_jpeg(image, quality=92)
    thumbnail = _encode_jpeg(_thumbnail(image), quality=85)

    photo = Photo(
        content_sha256=digest,
        source_url=source_url,
        width=image.width,
        height=image.height,
    )
    saved: list[str] = []
    try:
        # Files first, under random names (storage may rename on collision, so keep what it returns);
        # they are removed again below if the rows are not committed.
        photo.storage_key = default_storage.save(
            f"{PHOTO_PREFIX}/{uuid.uuid4().hex}.jpg", ContentFile(original)
        )
        saved.append(photo.storage_key)
        photo.thumbnail_key = default_storage.save(
            f"{THUMBNAIL_PREFIX}/{uuid.uuid4().hex}.jpg", ContentFile(thumbnail)
        )
        saved.append(photo.thumbnail_key)
        with transaction.atomic():
            photo.save(force_insert=True)
            # After the photo's insert, which fails first on a duplicate: the state row stays locked
            # (other ingests and purges wait) only for the faces' insert and the commit.
            version = face_index_note_addition() if boxes_and_embeddings else 0
            faces = Face.objects.bulk_create(
                Face(
                    photo=photo,
                    embedding=np.asarray(embedding, dtype=EMBEDDING_DTYPE).tobytes(),
                    left=box[0],
                    top=box[1],
                    right=box[2],
                    bottom=box[3],
                    index_version=version,
                )
                for box, embedding in boxes_and_embeddings
            )
            # An external index (faiss, a vector store) learns of the faces only once they exist.
            transaction.on_commit(lambda: get_search_backend().add(faces))
    except IntegrityError:
        # Another ingest of the same bytes committed between our lookup and our insert.
        _delete_files(saved)
        return IngestResult(outcome="duplicate", photo=_photo_with_digest(digest))
    except BaseException:
        _delete_files(saved)
        raise
    return IngestResult(outcome="ingested", photo=photo, faces=len(boxes_and_embeddings))


# For callers that pass no list: one per process. It decrypts nothing until first asked, and after
# that only when the entries change (see SuppressionList).
_SHARED_SUPPRESSION_LIST = SuppressionList()


def photo_count() -> int:
    return Photo.objects.count()


def face_count() -> int:
    return Face.objects.count()


def photo_list_with_faces() -> Iterator[Photo]:
    """Every photo with its faces prefetched, oldest first (for operators and tests, not for search:
    search reads embeddings in batches into memory through `removal.search`)."""
    return Photo.objects.prefetch_related("faces").order_by("ingested_at", "id").iterator(chunk_size=500)


def _photo_with_digest(digest: str) -> Photo | None:
    return Photo.objects.filter(content_sha256=digest).first()


def _faces_of(image: DecodedImage) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    working = fit_within(image, max_side=DETECT_MAX_SIDE)
    scale_x = image.width / working.width
    scale_y = image.height / working.height
    found = []
    for box in detect_faces(working, upsample=DETECT_UPSAMPLE):
        if box.right <= box.left or box.bottom <= box.top:
            continue  # clipped to nothing at the border
        embedding = embed_face(working, box)
        original_box = (
            round(box.left * scale_x),
            round(box.top * scale_y),
            round(box.right * scale_x),
            round(box.bottom * scale_y),
        )
        found.append((original_box, embedding))
    return found


def _thumbnail(image: DecodedImage) -> DecodedImage:
    return fit_within(image, max_side=THUMBNAIL_MAX_SIDE)


def _encode_jpeg(image: DecodedImage, *, quality: int) -> bytes:
    # The decoded pixels carry no metadata (EXIF, GPS, ICC): the stored copy has none either.
    out = io.BytesIO()
    image.to_pil().save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
