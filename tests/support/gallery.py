"""A face-index gallery for discovery and purge tests (a pytest plugin, see tests/conftest.py).

`gallery`: photos of the subject among other people's, ingested through `photo_ingest` with real
faces. The subject is the person in obama*.jpg: the headshot is obama.jpg (never in the index); the
gallery holds obama2, obama3, a mirrored obama2, a smaller re-encoded obama3 and a group photo of
obama3 beside biden, and, of other people, biden, a mirrored biden and the astronaut (two faces).
The dlib work per image is done once per session; every test ingests into its own database.

`verified_request`: an erasure request in `verified`, with the subject's sealed headshot probe
(`make_verified_request` makes more, with other names and addresses).
`reviewed`: the same after discovery, every candidate confirmed (ready for the purge's approval).

`clone_photo`: more photos of the same faces, fast (copied files and rows): the chaos tests need
hundreds of the subject's photos without running the face model hundreds of times.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image, ImageOps

from identity import pipeline
from identity import services as identity_services
from removal import face_index
from removal.face_index import PHOTO_PREFIX, THUMBNAIL_PREFIX, photo_ingest
from removal.models import Candidate, Face, Photo, RemovalRequest, Right, Status
from removal.search import face_index_note_addition
from removal.services.common import Actor, subject_ref
from removal.services.discovery import candidates_decide, removal_request_discover

HEADSHOT = "obama.jpg"
SUBJECT_IMAGES = ("obama2.jpg", "obama3.jpg", "obama2-mirrored", "obama3-small", "group")
OTHER_IMAGES = ("biden.jpg", "biden-mirrored", "astronaut.jpg")


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def gallery_images(photos: dict[str, bytes]) -> dict[str, bytes]:
    def load(name: str) -> Image.Image:
        return Image.open(io.BytesIO(photos[name])).convert("RGB")

    obama3, biden = load("obama3.jpg"), load("biden.jpg")
    group = Image.new("RGB", (obama3.width + biden.width, max(obama3.height, biden.height)), "white")
    group.paste(obama3, (0, 0))
    group.paste(biden, (obama3.width, 0))
    return {
        "obama2.jpg": photos["obama2.jpg"],
        "obama3.jpg": photos["obama3.jpg"],
        "obama2-mirrored": _jpeg(ImageOps.mirror(load("obama2.jpg"))),
        "obama3-small": _jpeg(obama3.resize((obama3.width * 4 // 5, obama3.height * 4 // 5)), quality=70),
        "group": _jpeg(group),
        "biden.jpg": photos["biden.jpg"],
        "biden-mirrored": _jpeg(ImageOps.mirror(biden)),
        "astronaut.jpg": photos["astronaut.jpg"],
    }


@dataclass
class Gallery:
    photos: dict[str, Photo]

    @property
    def subject(self) -> list[Photo]:
        return [self.photos[name] for name in SUBJECT_IMAGES]

    @property
    def others(self) -> list[Photo]:
        return [self.photos[name] for name in OTHER_IMAGES]


_FACES_BY_PIXELS: dict[bytes, Any] = {}


@pytest.fixture
def gallery(photos: dict[str, bytes], face_models: Any, db: None, monkeypatch: pytest.MonkeyPatch) -> Gallery:
    real_faces_of = face_index._faces_of

    def faces_once_per_session(image: Any) -> Any:
        key = hashlib.sha256(image.pixels.tobytes()).digest()
        if key not in _FACES_BY_PIXELS:
            _FACES_BY_PIXELS[key] = real_faces_of(image)
        return _FACES_BY_PIXELS[key]

    monkeypatch.setattr(face_index, "_faces_of", faces_once_per_session)
    ingested = {}
    for name, data in gallery_images(photos).items():
        result = photo_ingest(data=data, source_url=f"https://photos.example.net/{uuid.uuid4().hex}.jpg")
        assert result.outcome == "ingested" and result.photo is not None, name
        ingested[name] = result.photo
    return Gallery(ingested)


@pytest.fixture
def make_verified_request(make_request: Any, photos: dict[str, bytes], face_models: Any) -> Any:
    """`make_verified_request(**fields)`: an erasure in `verified` whose subject's headshot (obama.jpg)
    is sealed as the probe; `fields` as `make_request` takes them."""

    def make(**fields: Any) -> RemovalRequest:
        request = make_request(**{"right": Right.ERASURE, "jurisdictions": ["US-CA"], **fields}).request
        result = pipeline.verify_headshot(headshot=photos[HEADSHOT], policy=pipeline.policy_from_settings())
        identity_services.headshot_probe_store(
            subject_ref=subject_ref(request),
            data_key=request.data_key,
            jpeg=result.headshot_jpeg,
            embedding=result.headshot_embedding,
        )
        RemovalRequest.objects.filter(id=request.id).update(status=Status.VERIFIED)
        request.refresh_from_db()
        return request

    return make


@pytest.fixture
def verified_request(make_verified_request: Any) -> RemovalRequest:
    """An erasure in `verified` whose subject's headshot (obama.jpg) is sealed as the probe."""
    return make_verified_request()


def _save(prefix: str, data: bytes) -> str:
    return default_storage.save(f"{prefix}/{uuid.uuid4().hex}.jpg", ContentFile(data))


def _read(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return bytes(handle.read())


@pytest.fixture
def reviewed(gallery: Gallery, verified_request: RemovalRequest, reviewer: Any) -> RemovalRequest:
    """`verified_request` after discovery, with every candidate confirmed (all of them the subject's)."""
    removal_request_discover(request_id=verified_request.id)
    ids = Candidate.objects.filter(request=verified_request).values_list("id", flat=True)
    candidates_decide(
        request=verified_request,
        actor=Actor.staff(reviewer),
        decisions=dict.fromkeys(ids, "confirmed"),
        user=reviewer,
    )
    verified_request.refresh_from_db()
    return verified_request


@dataclass(frozen=True)
class _Original:
    faces: list[Face]
    photo: bytes
    thumbnail: bytes
    width: int
    height: int


@pytest.fixture
def clone_photo() -> Callable[[Photo, int], list[Photo]]:
    """`clone_photo(photo, n)`: n more photos with the same faces, their own files and rows, added to
    the index the way `photo_ingest` adds them (one version for the lot). The photo is read once: it
    can be cloned again after a purge deleted it (the soak does)."""
    originals: dict[uuid.UUID, _Original] = {}

    def original(photo: Photo) -> _Original:
        if photo.id not in originals:
            originals[photo.id] = _Original(
                faces=list(Face.objects.filter(photo=photo)),
                photo=_read(photo.storage_key),
                thumbnail=_read(photo.thumbnail_key),
                width=photo.width,
                height=photo.height,
            )
        return originals[photo.id]

    def clone(photo: Photo, count: int) -> list[Photo]:
        source = original(photo)
        clones = []
        with transaction.atomic():
            version = face_index_note_addition()
            for _ in range(count):
                copy = Photo.objects.create(
                    storage_key=default_storage.save(
                        f"{PHOTO_PREFIX}/{uuid.uuid4().hex}.jpg", ContentFile(source.photo)
                    ),
                    thumbnail_key=default_storage.save(
                        f"{THUMBNAIL_PREFIX}/{uuid.uuid4().hex}.jpg", ContentFile(source.thumbnail)
                    ),
                    content_sha256=uuid.uuid4().hex + uuid.uuid4().hex,
                    width=source.width,
                    height=source.height,
                )
                Face.objects.bulk_create(
                    Face(
                        photo=copy,
                        embedding=bytes(face.embedding),
                        left=face.left,
                        top=face.top,
                        right=face.right,
                        bottom=face.bottom,
                        index_version=version,
                    )
                    for face in source.faces
                )
                clones.append(copy)
        return clones

    return clone
