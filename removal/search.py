"""Face search over the index: a small backend interface and the exact numpy backend.

Discovery asks one question: which indexed faces lie within `max_distance` (L2, the identity
verification model's metric) of a probe embedding, nearest first. `FaceSearchBackend` is that
question; `NumpyExactBackend` answers it exactly by streaming the embeddings out of the database in
batches, so memory stays bounded by one batch whatever the index size. An operator who outgrows one
machine sets `FACE_SEARCH_BACKEND` to the dotted path of another implementation (faiss, a vector
store); see docs/face-index.md.

The probe is only read: no backend may add it to the index (the headshot is a probe, not an
enrolment).
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

from removal.models.face_index import EMBEDDING_BYTES, EMBEDDING_DIMENSIONS, EMBEDDING_DTYPE, Face

DEFAULT_BACKEND: Final = "removal.search.NumpyExactBackend"
# 50,000 x 128 float32 = 25 MB per batch matrix (besides the driver's chunk of at most 10,000 rows).
DEFAULT_BATCH_SIZE: Final = 50_000


@dataclass(frozen=True)
class Match:
    """An indexed face near the probe, and how near (L2 distance)."""

    face_id: int
    photo_id: uuid.UUID
    distance: float


@runtime_checkable
class FaceSearchBackend(Protocol):
    """What discovery needs from a face index. Implementations must never store the probe.

    `add` and `remove` are called after faces are committed to or deleted from the database (the
    database stays the source of truth; an external index is a copy that `refresh` can rebuild).
    """

    def search(self, probe: np.ndarray, *, max_distance: float, limit: int) -> list[Match]:
        """Faces within `max_distance` of `probe` (128 floats), nearest first, at most `limit`."""
        ...

    def add(self, faces: Sequence[Face]) -> None:
        """Faces just added to the database."""
        ...

    def remove(self, face_ids: Iterable[int]) -> None:
        """Faces just deleted from the database (e.g. by a purge)."""
        ...

    def refresh(self) -> None:
        """Rebuild whatever the backend keeps beside the database."""
        ...


class NumpyExactBackend:
    """Exact L2 search that reads the embeddings from the database on every search, in batches.

    Nothing is cached between searches, so `add`, `remove` and `refresh` have nothing to do and a
    purged face can never be returned afterwards. Peak memory: one batch (`batch_size` x 128 float32)
    plus at most `limit` matches. Time is linear in the index size and dominated by reading the rows:
    about 1 s per 200,000 faces with SQLite on one core, so a few million faces per search at most;
    beyond that, replace the backend.
    """

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.batch_size = batch_size

    def search(self, probe: np.ndarray, *, max_distance: float, limit: int) -> list[Match]:
        query = _as_probe(probe)
        if limit < 1 or max_distance < 0:
            return []
        max_squared = max_distance * max_distance
        # The best `limit` matches so far, as a max-heap on (distance, face id): the root is the worst.
        best: list[tuple[float, int, uuid.UUID]] = []
        for ids, photo_ids, matrix in self._batches():
            # In place, so the batch matrix is the only one in memory. Not |a|^2 + |b|^2 - 2a.b: in
            # float32 that expansion cancels catastrophically for near-identical faces (an error of
            # about 1e-4 at distance 0, enough to misorder the nearest matches).
            np.subtract(matrix, query, out=matrix)
            squared = np.einsum("ij,ij->i", matrix, matrix)
            hits = np.flatnonzero(squared <= max_squared)
            if hits.size > limit:
                hits = hits[np.argpartition(squared[hits], limit - 1)[:limit]]
            for index in hits.tolist():
                entry = (-float(squared[index]), -ids[index], photo_ids[index])
                if len(best) < limit:
                    heapq.heappush(best, entry)
                elif entry > best[0]:
                    heapq.heapreplace(best, entry)
        matches = [
            Match(face_id=-negated_id, photo_id=photo_id, distance=float(np.sqrt(-negated_squared)))
            for negated_squared, negated_id, photo_id in best
        ]
        return sorted(matches, key=lambda match: (match.distance, match.face_id))

    def add(self, faces: Sequence[Face]) -> None:
        """Nothing to do: every search reads the database."""

    def remove(self, face_ids: Iterable[int]) -> None:
        """Nothing to do: every search reads the database."""

    def refresh(self) -> None:
        """Nothing to do: every search reads the database."""

    def _batches(self) -> Iterator[tuple[list[int], list[uuid.UUID], np.ndarray]]:
        """(face ids, photo ids, embeddings matrix) of at most `batch_size` rows each, in id order.

        Each row's bytes are copied straight into a preallocated matrix, so a batch costs one
        `batch_size` x 128 float32 matrix and nothing of the same order besides.
        """
        rows = (
            Face.objects.order_by("id")
            .values_list("id", "photo_id", "embedding")
            .iterator(chunk_size=min(self.batch_size, 10_000))
        )
        while True:
            matrix = np.empty((self.batch_size, EMBEDDING_DIMENSIONS), dtype=EMBEDDING_DTYPE)
            target = matrix.data.cast("B")
            ids: list[int] = []
            photo_ids: list[uuid.UUID] = []
            for face_id, photo_id, embedding in itertools.islice(rows, self.batch_size):
                if len(embedding) != EMBEDDING_BYTES:
                    raise ValueError(
                        f"face {face_id}: embedding is {len(embedding)} bytes, not {EMBEDDING_BYTES}"
                    )
                start = len(ids) * EMBEDDING_BYTES
                target[start : start + EMBEDDING_BYTES] = embedding
                ids.append(face_id)
                photo_ids.append(photo_id)
            target.release()
            if not ids:
                return
            yield ids, photo_ids, matrix[: len(ids)]
            if len(ids) < self.batch_size:
                return


def get_search_backend() -> FaceSearchBackend:
    """The backend named by `settings.FACE_SEARCH_BACKEND` (a dotted path), exact numpy by default."""
    backend_class = import_string(getattr(settings, "FACE_SEARCH_BACKEND", DEFAULT_BACKEND))
    backend: FaceSearchBackend = backend_class()
    return backend


def _as_probe(probe: np.ndarray) -> np.ndarray:
    query = np.asarray(probe, dtype=np.float32).reshape(-1)
    if query.shape != (EMBEDDING_DIMENSIONS,):
        raise ValueError(f"a probe is {EMBEDDING_DIMENSIONS} floats")
    return query
