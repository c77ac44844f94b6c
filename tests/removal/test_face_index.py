"""The face index: ingesting photos (detect, embed, store) and the `ingest_photos` command."""

from __future__ import annotations

import io
import logging
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from identity.images import decode_image
from removal import face_index
from removal.face_index import (
    PHOTO_PREFIX,
    THUMBNAIL_MAX_SIDE,
    THUMBNAIL_PREFIX,
    IngestResult,
    photo_ingest,
    photo_list_with_faces,
)
from removal.models import Face, Photo

pytestmark = pytest.mark.django_db

FIXTURES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.jpg")
# One face each, except the astronaut photo: its mission patch is a weak second detection (score
# about 0.1) that the index keeps, because a purge must rather over-collect candidates than miss one.
FACES_PER_PHOTO = {"obama.jpg": 1, "obama2.jpg": 1, "obama3.jpg": 1, "biden.jpg": 1, "astronaut.jpg": 2}


def ingest_all(photos: dict[str, bytes]) -> dict[str, IngestResult]:
    return {name: photo_ingest(data=photos[name]) for name in FIXTURES}


def _stored(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return handle.read()


def test_ingest_creates_one_face_row_per_detected_face(photos: dict[str, bytes], face_models: Any) -> None:
    results = ingest_all(photos)

    assert {name: result.outcome for name, result in results.items()} == dict.fromkeys(FIXTURES, "ingested")
    assert {name: result.faces for name, result in results.items()} == FACES_PER_PHOTO
    assert Photo.objects.count() == 5
    assert Face.objects.count() == sum(FACES_PER_PHOTO.values())
    for name, result in results.items():
        assert result.photo is not None
        assert result.photo.faces.count() == FACES_PER_PHOTO[name]


def test_ingest_records_size_digest_and_source_url(photos: dict[str, bytes], face_models: Any) -> None:
    result = photo_ingest(data=photos["obama2.jpg"], source_url="https://example.org/a.jpg")

    photo = Photo.objects.get()
    assert result.photo == photo
    assert (photo.width, photo.height) == (417, 800)
    assert len(photo.content_sha256) == 64
    assert photo.source_url == "https://example.org/a.jpg"
    assert photo.ingested_at is not None


def test_ingest_stores_embeddings_as_512_little_endian_float32_bytes(
    photos: dict[str, bytes], face_models: Any
) -> None:
    photo_ingest(data=photos["obama2.jpg"])

    face = Face.objects.get()
    assert len(bytes(face.embedding)) == 512
    embedding = face.embedding_array()
    assert embedding.dtype == np.dtype("<f4")
    assert embedding.shape == (128,)
    image = decode_image(photos["obama2.jpg"])
    [box] = face_models.detect_faces(image, upsample=1)
    np.testing.assert_array_equal(embedding, face_models.embed_face(image, box))
    assert 0 <= face.left < face.right <= 417
    assert 0 <= face.top < face.bottom <= 800


def test_ingest_stores_the_original_and_a_thumbnail_without_metadata(
    photos: dict[str, bytes], face_models: Any
) -> None:
    with Image.open(io.BytesIO(photos["biden.jpg"])) as source:
        exif = source.getexif()
        exif[0x010E] = "a description that must not be kept"
        tagged = io.BytesIO()
        source.save(tagged, format="JPEG", exif=exif)

    result = photo_ingest(data=tagged.getvalue())

    assert result.photo is not None
    assert result.photo.storage_key != result.photo.thumbnail_key
    with Image.open(io.BytesIO(_stored(result.photo.storage_key))) as original:
        assert original.format == "JPEG"
        assert original.size == (352, 800)
        assert not original.getexif()
    with Image.open(io.BytesIO(_stored(result.photo.thumbnail_key))) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert max(thumbnail.size) == THUMBNAIL_MAX_SIDE
        assert thumbnail.size == (113, 256)


def test_reingesting_the_same_bytes_is_skipped_as_a_duplicate(
    photos: dict[str, bytes], face_models: Any
) -> None:
    first = photo_ingest(data=photos["obama3.jpg"])

    again = photo_ingest(data=photos["obama3.jpg"])

    assert again.outcome == "duplicate"
    assert again.photo == first.photo
    assert again.faces == 0
    assert Photo.objects.count() == 1
    assert Face.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"not an image at all, just text", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "corrupt"),
    ],
)
def test_an_undecodable_file_is_reported_as_rejected(data: bytes, reason: str) -> None:
    result = photo_ingest(data=data)

    assert result == IngestResult(outcome="rejected", reason=reason)
    assert Photo.objects.count() == 0


def _stored_files() -> set[str]:
    # The test storage lives for the whole session: compare before and after, never against empty.
    names: set[str] = set()
    for folder in (PHOTO_PREFIX, THUMBNAIL_PREFIX):
        if default_storage.exists(folder):
            names.update(f"{folder}/{name}" for name in default_storage.listdir(folder)[1])
    return names


def test_a_truncated_photo_is_rejected_and_stores_nothing(photos: dict[str, bytes]) -> None:
    before = _stored_files()

    result = photo_ingest(data=photos["biden.jpg"][:2000])

    assert result.outcome == "rejected"
    assert Photo.objects.count() == 0
    assert _stored_files() == before


def test_a_concurrent_ingest_of_the_same_bytes_ends_as_a_duplicate_without_stray_files(
    photos: dict[str, bytes], face_models: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = photo_ingest(data=photos["obama3.jpg"])
    before = _stored_files()
    lookups = iter([None, first.photo])  # the other ingest commits between our lookup and our insert
    monkeypatch.setattr(face_index, "_photo_with_digest", lambda digest: next(lookups))

    again = photo_ingest(data=photos["obama3.jpg"])

    assert again.outcome == "duplicate"
    assert again.photo == first.photo
    assert Photo.objects.count() == 1
    assert _stored_files() == before


def test_a_failed_insert_removes_the_stored_files(
    photos: dict[str, bytes], face_models: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _stored_files()

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(Face.objects, "bulk_create", fail)

    with pytest.raises(RuntimeError):
        photo_ingest(data=photos["biden.jpg"])

    assert Photo.objects.count() == 0
    assert _stored_files() == before


def test_a_photo_without_faces_is_kept_with_no_face_rows(face_models: Any) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 160, 200)).save(blank, format="PNG")

    result = photo_ingest(data=blank.getvalue())

    assert result.outcome == "ingested"
    assert result.faces == 0
    assert Photo.objects.count() == 1
    assert Face.objects.count() == 0


def test_ingest_logs_nothing_about_the_photo(
    photos: dict[str, bytes], face_models: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        photo_ingest(data=photos["obama2.jpg"], source_url="https://example.org/secret-source.jpg")

    assert "secret-source" not in caplog.text
    assert "obama" not in caplog.text.lower()


def test_photo_list_with_faces_returns_every_photo_with_its_faces(
    photos: dict[str, bytes], face_models: Any
) -> None:
    ingest_all(photos)

    listed = list(photo_list_with_faces())

    assert [len(photo.faces.all()) for photo in listed] == [FACES_PER_PHOTO[name] for name in FIXTURES]


def _write_folder(root: Path, photos: dict[str, bytes]) -> Path:
    folder = root / "scraped"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / "obama2.jpg").write_bytes(photos["obama2.jpg"])
    (folder / "nested" / "biden.jpg").write_bytes(photos["biden.jpg"])
    (folder / "nested" / "deeper" / "astronaut.jpg").write_bytes(photos["astronaut.jpg"])
    (folder / "nested" / "copy-of-obama2.jpg").write_bytes(photos["obama2.jpg"])
    (folder / "broken.jpg").write_bytes(photos["biden.jpg"][:1500])
    return folder


def test_ingest_photos_command_walks_folders_and_prints_a_summary(
    tmp_path: Path, photos: dict[str, bytes], face_models: Any
) -> None:
    folder = _write_folder(tmp_path, photos)
    single = tmp_path / "obama3.jpg"
    single.write_bytes(photos["obama3.jpg"])
    out, err = StringIO(), StringIO()

    call_command("ingest_photos", str(folder), str(single), stdout=out, stderr=err)

    assert out.getvalue() == (
        "photos: 4, faces: 5, duplicates: 1, rejected: 1, suppressed: 0\n  rejected (corrupt): 1\n"
    )
    assert "6/6" in err.getvalue()
    assert "[" + "#" * 30 + "]" in err.getvalue()
    assert Photo.objects.count() == 4
    assert Face.objects.count() == 5


def test_ingest_photos_command_records_source_urls_from_a_file(
    tmp_path: Path, photos: dict[str, bytes], face_models: Any
) -> None:
    photo = tmp_path / "downloaded.jpg"
    photo.write_bytes(photos["biden.jpg"])
    url_file = tmp_path / "urls.tsv"
    url_file.write_text(f"# path<TAB>url\n{photo}\thttps://example.org/biden.jpg\n", encoding="utf-8")

    call_command(
        "ingest_photos", str(photo), source_url_file=str(url_file), no_progress=True, stdout=StringIO()
    )

    assert Photo.objects.get().source_url == "https://example.org/biden.jpg"


def test_ingest_photos_command_refuses_a_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Not a file or folder"):
        call_command("ingest_photos", str(tmp_path / "missing"), stdout=StringIO())


def test_ingest_photos_command_refuses_a_malformed_source_url_file(tmp_path: Path) -> None:
    url_file = tmp_path / "urls.tsv"
    url_file.write_text("no tab here\n", encoding="utf-8")

    with pytest.raises(CommandError, match="line 1"):
        call_command("ingest_photos", str(tmp_path), source_url_file=str(url_file), stdout=StringIO())


def test_ingest_photos_command_refuses_a_source_url_too_long_to_store(tmp_path: Path) -> None:
    url_file = tmp_path / "urls.tsv"
    url_file.write_text(f"a.jpg\thttps://example.org/{'x' * 2048}\n", encoding="utf-8")

    with pytest.raises(CommandError, match="longer than 2048"):
        call_command("ingest_photos", str(tmp_path), source_url_file=str(url_file), stdout=StringIO())
