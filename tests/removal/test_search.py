"""Face search: the backend interface, exact batched search, and the probe staying out of the index."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from identity.images import decode_image
from removal.face_index import photo_ingest
from removal.models import Face, Photo
from removal.search import FaceSearchBackend, Match, NumpyExactBackend, get_search_backend

pytestmark = pytest.mark.django_db

THRESHOLD = 0.6


@pytest.fixture
def obama_probe(photos: dict[str, bytes], face_models: Any) -> np.ndarray:
    """The embedding of obama.jpg, as discovery computes a headshot's: never ingested itself."""
    embedding: np.ndarray = face_models.headshot_embedding(decode_image(photos["obama.jpg"]))
    return embedding


def test_search_finds_the_obama_photos_and_not_biden_or_the_astronaut(
    photos: dict[str, bytes], obama_probe: np.ndarray
) -> None:
    ingested = {
        name: photo_ingest(data=photos[name])
        for name in ("obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.jpg")
    }
    photo_of = {name: result.photo.id for name, result in ingested.items() if result.photo is not None}

    matches = NumpyExactBackend().search(obama_probe, max_distance=THRESHOLD, limit=10)

    assert {match.photo_id for match in matches} == {photo_of["obama2.jpg"], photo_of["obama3.jpg"]}
    assert all(match.distance < THRESHOLD for match in matches)
    assert [match.distance for match in matches] == sorted(match.distance for match in matches)


def test_a_search_never_adds_the_probe_to_the_index(
    photos: dict[str, bytes], obama_probe: np.ndarray
) -> None:
    photo_ingest(data=photos["obama2.jpg"])
    photo_ingest(data=photos["biden.jpg"])
    faces_before, photos_before = Face.objects.count(), Photo.objects.count()

    get_search_backend().search(obama_probe, max_distance=THRESHOLD, limit=10)

    assert (Face.objects.count(), Photo.objects.count()) == (faces_before, photos_before)
    probe_bytes = np.asarray(obama_probe, dtype="<f4").tobytes()
    assert not Face.objects.filter(embedding=probe_bytes).exists()


def _synthetic_index(rows: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, list[int], list[uuid.UUID]]:
    """A probe and `rows` embeddings spread from very near it to far away, spread over 20 photos."""
    rng = np.random.default_rng(seed)
    probe = rng.normal(0, 0.09, 128).astype(np.float32)
    spread = rng.uniform(0.0, 0.12, rows)[:, None]
    embeddings = (probe + rng.normal(0, 1, (rows, 128)) * spread).astype("<f4")
    photos = Photo.objects.bulk_create(
        Photo(
            storage_key=f"synthetic/{number}",
            thumbnail_key=f"synthetic/{number}-thumb",
            content_sha256=hashlib.sha256(f"synthetic {number}".encode()).hexdigest(),
            width=100,
            height=100,
        )
        for number in range(20)
    )
    faces = Face.objects.bulk_create(
        (
            Face(photo=photos[index % 20], embedding=embedding.tobytes(), left=0, top=0, right=10, bottom=10)
            for index, embedding in enumerate(embeddings)
        ),
        batch_size=2000,
    )
    face_ids = list(Face.objects.order_by("id").values_list("id", flat=True))
    assert len(face_ids) == len(faces) == rows
    photo_ids = [photos[index % 20].id for index in range(rows)]
    return probe, embeddings, face_ids, photo_ids


def _reference(
    probe: np.ndarray,
    embeddings: np.ndarray,
    face_ids: list[int],
    photo_ids: list[uuid.UUID],
    *,
    max_distance: float,
) -> dict[int, tuple[uuid.UUID, float]]:
    """Everything in one matrix, in float64: the obvious way, for comparison."""
    distances = np.linalg.norm(embeddings.astype(np.float64) - probe.astype(np.float64), axis=1)
    return {
        face_ids[index]: (photo_ids[index], float(distances[index]))
        for index in np.flatnonzero(distances <= max_distance)
    }


def test_batched_search_gives_the_same_matches_as_an_unbatched_reference() -> None:
    probe, embeddings, face_ids, photo_ids = _synthetic_index(10_000, seed=7)
    expected = _reference(probe, embeddings, face_ids, photo_ids, max_distance=THRESHOLD)
    assert 1000 < len(expected) < 9000  # the threshold cuts through the index, not around it

    matches = NumpyExactBackend(batch_size=1000).search(probe, max_distance=THRESHOLD, limit=10_000)

    assert {match.face_id: match.photo_id for match in matches} == {
        face_id: photo for face_id, (photo, _) in expected.items()
    }
    for match in matches:
        assert match.distance == pytest.approx(expected[match.face_id][1], abs=1e-5)
    assert [match.distance for match in matches] == sorted(match.distance for match in matches)


def test_batched_search_with_a_limit_keeps_the_nearest_across_batches() -> None:
    probe, embeddings, face_ids, photo_ids = _synthetic_index(10_000, seed=11)
    expected = _reference(probe, embeddings, face_ids, photo_ids, max_distance=THRESHOLD)
    nearest = sorted(expected, key=lambda face_id: expected[face_id][1])[:25]

    batched = NumpyExactBackend(batch_size=1000).search(probe, max_distance=THRESHOLD, limit=25)
    unbatched = NumpyExactBackend(batch_size=20_000).search(probe, max_distance=THRESHOLD, limit=25)

    assert [match.face_id for match in batched] == nearest
    assert batched == unbatched


def test_search_reads_the_index_one_bounded_batch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    probe, *_ = _synthetic_index(2_500, seed=3)
    sizes: list[int] = []
    original = NumpyExactBackend._batches

    def recording_batches(self: NumpyExactBackend) -> Iterator[tuple[list[int], list[uuid.UUID], np.ndarray]]:
        for batch in original(self):
            sizes.append(batch[2].shape[0])
            yield batch

    monkeypatch.setattr(NumpyExactBackend, "_batches", recording_batches)

    NumpyExactBackend(batch_size=1000).search(probe, max_distance=THRESHOLD, limit=10)

    assert sizes == [1000, 1000, 500]


def test_a_corrupt_embedding_row_is_an_error_not_a_misread() -> None:
    photo = Photo.objects.create(
        storage_key="k", thumbnail_key="t", content_sha256="0" * 64, width=1, height=1
    )
    Face.objects.create(photo=photo, embedding=b"\x00" * 100, left=0, top=0, right=1, bottom=1)

    with pytest.raises(ValueError, match="100 bytes, not 512"):
        NumpyExactBackend().search(np.zeros(128, dtype=np.float32), max_distance=THRESHOLD, limit=5)


def test_search_of_an_empty_index_finds_nothing() -> None:
    assert NumpyExactBackend().search(np.zeros(128, dtype=np.float32), max_distance=THRESHOLD, limit=5) == []


def test_search_refuses_a_probe_that_is_not_128_floats() -> None:
    with pytest.raises(ValueError, match="128"):
        NumpyExactBackend().search(np.zeros(64, dtype=np.float32), max_distance=THRESHOLD, limit=5)


def test_numpy_backend_implements_the_backend_interface() -> None:
    backend = NumpyExactBackend()

    assert isinstance(backend, FaceSearchBackend)
    backend.add([])
    backend.remove([1, 2])
    backend.refresh()


class RecordingBackend:
    """Stands in for an operator's own backend (faiss, a vector store)."""

    added: list[int] = []

    def search(self, probe: np.ndarray, *, max_distance: float, limit: int) -> list[Match]:
        return [Match(face_id=1, photo_id=uuid.UUID(int=1), distance=0.0)]

    def add(self, faces: Sequence[Face]) -> None:
        RecordingBackend.added.extend(face.id for face in faces)

    def remove(self, face_ids: Iterable[int]) -> None:
        pass

    def refresh(self) -> None:
        pass


def test_get_search_backend_defaults_to_the_exact_numpy_backend(settings: Any) -> None:
    if hasattr(settings, "FACE_SEARCH_BACKEND"):
        del settings.FACE_SEARCH_BACKEND

    assert isinstance(get_search_backend(), NumpyExactBackend)


def test_get_search_backend_loads_the_dotted_path_from_settings(settings: Any) -> None:
    settings.FACE_SEARCH_BACKEND = f"{__name__}.RecordingBackend"

    backend = get_search_backend()

    assert isinstance(backend, RecordingBackend)
    assert backend.search(np.zeros(128), max_distance=THRESHOLD, limit=1)[0].face_id == 1


def test_ingest_tells_the_configured_backend_about_new_faces_once_committed(
    settings: Any, photos: dict[str, bytes], face_models: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.FACE_SEARCH_BACKEND = f"{__name__}.RecordingBackend"
    RecordingBackend.added.clear()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        photo_ingest(data=photos["astronaut.jpg"])
    assert RecordingBackend.added == []
    for callback in callbacks:
        callback()

    assert sorted(RecordingBackend.added) == sorted(Face.objects.values_list("id", flat=True))
    assert len(RecordingBackend.added) == 2
