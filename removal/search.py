"""Face search over the index: a small backend interface and the exact in-memory numpy backend.

Discovery asks one question: which indexed faces lie within `max_distance` (L2, the identity
verification model's metric) of a probe embedding, nearest first. `FaceSearchBackend` is that
question; `NumpyExactBackend` answers it exactly from a copy of the embeddings that each process keeps
in memory and that every search checks against the database. An operator who outgrows one
machine sets `FACE_SEARCH_BACKEND` to the dotted path of another implementation (faiss, a vector
store); see docs/face-index.md.

Whatever adds or deletes faces tells the index so in the same transaction:
`face_index_note_addition()` (and stamps the faces with the version it returns) or
`face_index_note_deletion(face_ids)` (which logs the ids). That is how every process learns, with one
query per search, whether its copy is current, and catches up by reading only what changed.

The probe is only read: no backend may add it to the index (the headshot is a probe, not an
enrolment).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import secrets
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from removal.models.face_index import (
    EMBEDDING_BYTES,
    EMBEDDING_DIMENSIONS,
    EMBEDDING_DTYPE,
    FACE_ID_DTYPE,
    FACE_INDEX_STATE_ID,
    Face,
    FaceIndexDeletion,
    FaceIndexState,
)

logger = logging.getLogger(__name__)

DEFAULT_BACKEND: Final = "removal.search.NumpyExactBackend"
# Rows scanned per step: 65,536 x 128 float32 = 32 MB of the index read per step, and the step's own
# temporaries are a few vectors of 65,536 floats (plus the rows that pass the first pass).
DEFAULT_CHUNK_ROWS: Final = 65_536
# Rows fetched from the database per step while loading (a server-side cursor on PostgreSQL).
DEFAULT_LOAD_ROWS: Final = 10_000
# What one face costs in memory: its embedding, half its squared norm, its id and its photo's id.
BYTES_PER_FACE: Final = EMBEDDING_BYTES + 4 + 8 + 16
PHOTO_ID_BYTES: Final = 16
# The exact pass works on at most this many rows at once (8,192 x 128 float64 = 8 MB).
_EXACT_ROWS: Final = 8_192
# A bound, with a margin of 4, on the float32 rounding error of |a|^2/2 - a.q relative to
# |a|^2 + |q|^2 + threshold^2: gamma_n = n u for a dot product of n terms in any summation order
# (BLAS blocks and fuses them) plus the two operations after it; u = 2^-24 for float32.
_ROUNDING_MARGIN: Final = 4 * (EMBEDDING_DIMENSIONS + 2) * 2.0**-24
# How long deletions stay in the log (`FaceIndexDeletion`). Which generations a process will still ask
# for cannot be known (a worker may sit idle for weeks, or be gone), so the log is cut by age: a copy
# older than the oldest row left reloads in full, which is what every deletion cost before the log. A
# week outlasts any worker that searches at all regularly, and a week of purges is a few MB of ids.
DELETION_LOG_RETENTION: Final = timedelta(days=7)
# Past this share of the copy's rows deleted, the copy is reloaded rather than marked (the reload
# drops them): dead rows still cost their memory and their share of every scan.
MAX_DEAD_FRACTION: Final = 0.2


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
    database stays the source of truth; an external index is a copy that `refresh` can rebuild). The
    transactions that add or delete faces have already called `face_index_note_addition` or
    `face_index_note_deletion`, whatever the backend.
    """

    def search(self, probe: np.ndarray, *, max_distance: float, limit: int) -> list[Match]:
        """Faces within `max_distance` of `probe` (128 floats), nearest first, at most `limit`.

        Equal distances are ordered by face id. Every face committed before the search starts is
        considered; no face deleted before it starts is returned.
        """
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


# --- Telling the index about writes ---------------------------------------------------------------

# Connections whose open transaction bumped the state row. A search in such a transaction sees its own
# uncommitted faces or deletions; they must not enter the process's copy, which outlives the
# transaction (were it rolled back, the next transaction would reuse the version number for other
# faces, and the copy would claim to hold them).
_UNCOMMITTED_WRITERS: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()


def face_index_note_addition() -> int:
    """Call in the transaction that adds faces, before adding them; stamp each with the version returned
    (`Face(index_version=...)`).

    The UPDATE locks the state row until the transaction ends, so transactions that add faces commit
    one after the other in version order: once a process reads version V, every face stamped V or
    lower is committed, and a process holding version W loads just the faces above W.
    """
    _require_transaction("face_index_note_addition")
    _bump_state(version=F("version") + 1)
    version: int = FaceIndexState.objects.values_list("version", flat=True).get(id=FACE_INDEX_STATE_ID)
    return version


def face_index_note_deletion(face_ids: Sequence[int]) -> None:
    """Call in the transaction that deletes faces (or photos, whose faces go with them), with the ids of
    every face it deletes.

    Bumps the generation and logs the ids under it (`FaceIndexDeletion`), so every process drops those
    faces from its copy on its next search without reloading the rest. The UPDATE locks the state row
    until the transaction ends: generations are taken in commit order, and once a process reads
    generation G, the log rows of every generation up to G are committed. Nothing is noted for no ids.

    Also prunes log rows older than `DELETION_LOG_RETENTION`: the log only grows here, so this is
    where it is kept short (one DELETE on an indexed column).
    """
    _require_transaction("face_index_note_deletion")
    ids = np.unique(np.asarray(face_ids, dtype=np.int64))
    if ids.size == 0:
        return
    _bump_state(generation=F("generation") + 1)
    generation: int = FaceIndexState.objects.values_list("generation", flat=True).get(id=FACE_INDEX_STATE_ID)
    FaceIndexDeletion.objects.create(generation=generation, face_ids=ids.astype(FACE_ID_DTYPE).tobytes())
    FaceIndexDeletion.objects.filter(created_at__lt=timezone.now() - DELETION_LOG_RETENTION).delete()


def _require_transaction(name: str) -> None:
    # Outside a transaction the bump would commit apart from the faces it describes, and a search
    # between the two would load a copy labelled with the wrong counters.
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name}() must be called inside the transaction that writes the faces")


def _bump_state(**changes: Any) -> None:
    if not FaceIndexState.objects.filter(id=FACE_INDEX_STATE_ID).update(**changes):
        # The row is gone (a flushed database: every face went with it). A random generation makes
        # every process's copy, loaded under the old counters, look stale.
        FaceIndexState.objects.get_or_create(
            id=FACE_INDEX_STATE_ID, defaults={"generation": secrets.randbits(62)}
        )
        FaceIndexState.objects.filter(id=FACE_INDEX_STATE_ID).update(**changes)
    writer = transaction.get_connection()
    _UNCOMMITTED_WRITERS.add(writer)
    transaction.on_commit(lambda: _UNCOMMITTED_WRITERS.discard(writer))


def _read_state() -> tuple[int, int]:
    """(version, generation); (0, 0) when the row is missing (a flushed database)."""
    row = FaceIndexState.objects.filter(id=FACE_INDEX_STATE_ID).values_list("version", "generation").first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _deleted_between(after: int, upto: int) -> np.ndarray | None:
    """Ids of the faces deleted by generations `after + 1` .. `upto`, or None if the log lacks any of
    them: pruned, or the state row was recreated under a random generation (then the range holds far
    fewer rows than generations)."""
    blobs = list(
        FaceIndexDeletion.objects.filter(generation__gt=after, generation__lte=upto).values_list(
            "face_ids", flat=True
        )
    )
    # Generations are unique and each deleting transaction logs its own, so a complete log has one
    # row per generation in the range.
    if len(blobs) != upto - after:
        return None
    return np.frombuffer(b"".join(blobs), dtype=FACE_ID_DTYPE).astype(np.int64)


# --- Faces in memory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSnapshot:
    """Faces in memory, row i of each array describing the same face. Read-only views: never modify.

    `embeddings` is one C-contiguous float32 N x 128 matrix; `half_squared_norms` holds |row|^2 / 2
    (computed in float64), or +inf for a face deleted since it was loaded (the scan's first pass never
    keeps such a row, and the exact pass drops it too); `photo_ids` holds each photo's UUID as 16 bytes.
    """

    embeddings: np.ndarray
    half_squared_norms: np.ndarray
    face_ids: np.ndarray
    photo_ids: np.ndarray
    max_squared_norm: float

    @property
    def size(self) -> int:
        return int(self.face_ids.shape[0])

    @property
    def nbytes(self) -> int:
        return int(
            self.embeddings.nbytes
            + self.half_squared_norms.nbytes
            + self.face_ids.nbytes
            + self.photo_ids.nbytes
        )


class _Store:
    """Growable arrays of faces. Rows below `size` are never written again, so a snapshot taken earlier
    stays valid while rows are appended after it (or after the arrays are reallocated: it keeps the old
    ones alive). Deleted faces are marked in a new copy of the half norms, for the same reason.

    `dead` rows are marked deleted: still in the arrays, never found."""

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.dead = 0
        self.max_squared_norm = 0.0
        self.embeddings, self.half_squared_norms, self.face_ids, self.photo_ids = _empty_arrays(capacity)

    def reserve(self, count: int) -> None:
        """Room for `count` more faces."""
        capacity = self.face_ids.shape[0]
        if self.size + count <= capacity:
            return
        # Grown by a quarter: appends are rare next to searches, and doubling would hold up to twice
        # the index in memory. Writing into new arrays leaves the old ones to earlier snapshots.
        grown = _empty_arrays(max(self.size + count, capacity + capacity // 4))
        old = (self.embeddings, self.half_squared_norms, self.face_ids, self.photo_ids)
        for target, source in zip(grown, old, strict=True):
            target[: self.size] = source[: self.size]
        self.embeddings, self.half_squared_norms, self.face_ids, self.photo_ids = grown

    def rows_of(self, face_ids: np.ndarray) -> np.ndarray:
        """Rows of `face_ids` not yet marked deleted (ids the copy does not hold are skipped)."""
        return _live_rows_of(self.snapshot(), face_ids)

    def mark_deleted(self, rows: np.ndarray) -> None:
        """`rows` (from `rows_of`) are never found again. The half norms are copied first (4 bytes a
        row): a running search keeps scanning the arrays it started with."""
        if rows.size == 0:
            return
        half_squared_norms = self.half_squared_norms.copy()
        half_squared_norms[rows] = np.inf
        self.half_squared_norms = half_squared_norms
        self.dead += int(rows.size)

    def snapshot(self) -> IndexSnapshot:
        return IndexSnapshot(
            embeddings=self.embeddings[: self.size],
            half_squared_norms=self.half_squared_norms[: self.size],
            face_ids=self.face_ids[: self.size],
            photo_ids=self.photo_ids[: self.size],
            max_squared_norm=self.max_squared_norm,
        )

    def append_from(self, faces: QuerySet[Face], *, load_rows: int) -> None:
        """Read `faces` `load_rows` at a time straight into the arrays: all or nothing."""
        size, max_squared_norm = self.size, self.max_squared_norm
        try:
            for face_ids, photo_ids, matrix in _read_batches(faces, load_rows=load_rows):
                count = len(face_ids)
                self.reserve(count)
                start, stop = self.size, self.size + count
                self.embeddings[start:stop] = matrix
                squared = np.einsum("ij,ij->i", matrix.astype(np.float64), matrix.astype(np.float64))
                self.half_squared_norms[start:stop] = squared / 2
                self.face_ids[start:stop] = face_ids
                self.photo_ids[start:stop] = photo_ids
                self.max_squared_norm = max(self.max_squared_norm, float(squared.max()))
                self.size = stop
        except BaseException:
            # Rows past the old size are unused again; the counters that describe them were not moved.
            self.size, self.max_squared_norm = size, max_squared_norm
            raise


def _live_rows_of(snapshot: IndexSnapshot, face_ids: np.ndarray) -> np.ndarray:
    if face_ids.size == 0 or snapshot.size == 0:
        return np.empty(0, dtype=np.intp)
    # One pass over the ids in memory (numpy picks a lookup table when ids are dense, as sequence ids
    # are): a few ms per million faces, against seconds for a reload.
    rows = np.flatnonzero(np.isin(snapshot.face_ids, face_ids))
    return rows[np.isfinite(snapshot.half_squared_norms[rows])]


def _without(snapshot: IndexSnapshot, face_ids: np.ndarray) -> IndexSnapshot:
    """`snapshot` with `face_ids` marked deleted, in a copy of its half norms: the shared copy is
    untouched."""
    rows = _live_rows_of(snapshot, face_ids)
    if rows.size == 0:
        return snapshot
    half_squared_norms = snapshot.half_squared_norms.copy()
    half_squared_norms[rows] = np.inf
    return dataclasses.replace(snapshot, half_squared_norms=half_squared_norms)


def _empty_arrays(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, half squared norms, face ids, photo ids, for `capacity` faces."""
    return (
        np.empty((capacity, EMBEDDING_DIMENSIONS), dtype=np.float32),
        np.empty(capacity, dtype=np.float32),
        np.empty(capacity, dtype=np.int64),
        np.empty((capacity, PHOTO_ID_BYTES), dtype=np.uint8),
    )


def _read_batches(
    faces: QuerySet[Face], *, load_rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(face ids, photo ids as N x 16 bytes, N x 128 embeddings) of at most `load_rows` faces at a time.

    One batch costs its rows as the driver returns them and a few buffers of the same size: never a
    Python object per face of the whole index.
    """
    if connection.vendor == "postgresql":
        yield from _read_batches_by_copy(faces, load_rows=load_rows)
        return
    rows = faces.values_list("id", "photo_id", "embedding").iterator(chunk_size=load_rows)
    while batch := list(itertools.islice(rows, load_rows)):
        face_ids, photo_ids, embeddings = zip(*batch, strict=True)
        blob = b"".join(embeddings)
        if len(blob) != len(batch) * EMBEDDING_BYTES:
            for face_id, embedding in zip(face_ids, embeddings, strict=True):
                if len(embedding) != EMBEDDING_BYTES:
                    raise _wrong_size(face_id, len(embedding))
        matrix = np.frombuffer(blob, dtype=EMBEDDING_DTYPE).reshape(len(batch), EMBEDDING_DIMENSIONS)
        photo_bytes = b"".join(photo_id.bytes for photo_id in photo_ids)
        yield (
            np.asarray(face_ids, dtype=np.int64),
            np.frombuffer(photo_bytes, dtype=np.uint8).reshape(len(batch), PHOTO_ID_BYTES),
            matrix,
        )


# One row of `COPY (SELECT id, photo_id, embedding ...) TO STDOUT (FORMAT BINARY)` when the embedding
# has the right size: a field count, then each field's length and bytes, integers in network order.
_COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER_BYTES: Final = len(_COPY_SIGNATURE) + 8  # then flags and header-extension length
_COPY_TRAILER: Final = b"\xff\xff"  # a field count of -1
_COPY_ROW_START: Final = [
    ("fields", ">i2"),
    ("id_length", ">i4"),
    ("id", ">i8"),
    ("photo_length", ">i4"),
    ("photo_id", np.uint8, (PHOTO_ID_BYTES,)),
    ("embedding_length", ">i4"),
]
_COPY_ROW: Final = np.dtype([*_COPY_ROW_START, ("embedding", EMBEDDING_DTYPE, (EMBEDDING_DIMENSIONS,))])
_COPY_EXPECTED: Final = {"fields": 3, "id_length": 8, "photo_length": PHOTO_ID_BYTES}


def _read_batches_by_copy(
    faces: QuerySet[Face], *, load_rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`_read_batches` on PostgreSQL: a binary COPY, parsed by numpy a batch at a time.

    Several times faster than the cursor, which has the server write every embedding as hex text
    and, outside a transaction, first copy the whole result for its WITH HOLD cursor.
    """
    select, params = faces.values_list("id", "photo_id", "embedding").query.sql_with_params()
    batch_bytes = load_rows * _COPY_ROW.itemsize
    pending = bytearray()
    header_read = False
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)", params) as copy,
    ):
        for block in copy:
            pending += block
            if not header_read:
                if len(pending) < _COPY_HEADER_BYTES:
                    continue
                if (
                    bytes(pending[: len(_COPY_SIGNATURE)]) != _COPY_SIGNATURE
                    or bytes(pending[_COPY_HEADER_BYTES - 4 : _COPY_HEADER_BYTES]) != b"\0\0\0\0"
                ):
                    raise ValueError("unexpected COPY header from PostgreSQL")
                del pending[:_COPY_HEADER_BYTES]
                header_read = True
            if len(pending) >= batch_bytes:
                yield _copied_rows(pending, len(pending) // _COPY_ROW.itemsize)
    rows = (len(pending) - len(_COPY_TRAILER)) // _COPY_ROW.itemsize
    if rows > 0:
        yield _copied_rows(pending, rows)
    if bytes(pending) != _COPY_TRAILER:
        _raise_on_row_start(pending)


def _copied_rows(pending: bytearray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first `count` rows of `pending`, copied out and removed from it."""
    rows = np.frombuffer(pending, dtype=_COPY_ROW, count=count)
    wrong = rows["embedding_length"] != EMBEDDING_BYTES
    for name, expected in _COPY_EXPECTED.items():
        wrong |= rows[name] != expected
    if wrong.any():
        # Rows after a wrong-size one are misaligned; that one's id and length still read right.
        first = int(np.argmax(wrong))
        raise _wrong_size(int(rows["id"][first]), int(rows["embedding_length"][first]))
    face_ids = rows["id"].astype(np.int64)
    photo_ids = rows["photo_id"].copy()
    embeddings = rows["embedding"].astype(np.float32)
    del rows  # the bytearray cannot shrink while numpy views it
    del pending[: count * _COPY_ROW.itemsize]
    return face_ids, photo_ids, embeddings


def _raise_on_row_start(pending: bytearray) -> None:
    """What remains is not the end marker: a row shorter than the others, or a broken stream."""
    start = np.dtype(_COPY_ROW_START)
    if len(pending) >= start.itemsize:
        row = np.frombuffer(pending, dtype=start, count=1)[0]
        if row["fields"] == 3 and row["embedding_length"] != EMBEDDING_BYTES:
            raise _wrong_size(int(row["id"]), int(row["embedding_length"]))
    raise ValueError("unexpected end of COPY from PostgreSQL")


def _wrong_size(face_id: int, size: int) -> ValueError:
    return ValueError(f"face {face_id}: embedding is {size} bytes, not {EMBEDDING_BYTES}")


@dataclass(frozen=True)
class CacheInfo:
    """What this process holds: faces (found by a search), rows marked deleted (kept until the next
    full load), bytes, the counters they reflect, and how it has caught up so far."""

    faces: int
    dead_faces: int
    nbytes: int
    version: int
    generation: int
    full_loads: int
    appends: int
    deletion_catch_ups: int


class _ProcessCache:
    """This process's copy of the index and the state-row counters it reflects."""

    def __init__(self) -> None:
        # Held while the copy is brought up to date: threads of one process share one copy and load it
        # once. Searching happens outside it, on a snapshot.
        self.lock = threading.Lock()
        self.store: _Store | None = None
        self.version = 0
        self.generation = 0
        self.full_loads = 0
        self.appends = 0
        self.deletion_catch_ups = 0

    def drop(self) -> None:
        with self.lock:
            self.store = None

    def current(self) -> tuple[IndexSnapshot, tuple[int, int]] | None:
        """The copy as it stands and the (version, generation) it reflects, without a query."""
        with self.lock:
            if self.store is None:
                return None
            return self.store.snapshot(), (self.version, self.generation)

    def snapshots(self, state: tuple[int, int], *, private: bool, load_rows: int) -> list[IndexSnapshot]:
        """Snapshots that together hold exactly the faces of `state` (and rows marked deleted).

        `private`: the current transaction wrote faces; what is loaded or marked is searched but not
        kept.
        """
        version, generation = state
        with self.lock:
            store = self.store
            deleted: np.ndarray | None = None
            if store is not None and version >= self.version and generation >= self.generation:
                deleted = (
                    np.empty(0, dtype=np.int64)
                    if generation == self.generation
                    else _deleted_between(self.generation, generation)
                )
            if store is None or deleted is None:
                # No copy yet, a deletion log with gaps (pruned), or a counter that went back (a
                # restored or flushed database): load it all.
                return self._load_everything(state, private=private, load_rows=load_rows)
            # Deletions first, on the rows held before this catch-up: faces appended below are read
            # now, so they exist now (an id deleted and inserted again must stay).
            newer = Face.objects.filter(index_version__gt=self.version, index_version__lte=version)
            if private:
                snapshots = [_without(store.snapshot(), deleted)]
                if version > self.version:
                    delta = _Store(capacity=newer.count())
                    delta.append_from(newer, load_rows=load_rows)
                    snapshots.append(delta.snapshot())
                return snapshots
            if generation != self.generation:
                rows = store.rows_of(deleted)
                if store.dead + rows.size > MAX_DEAD_FRACTION * store.size:
                    return self._load_everything(state, private=False, load_rows=load_rows)
                store.mark_deleted(rows)
                self.generation = generation
                self.deletion_catch_ups += 1
            if version > self.version:
                # Counted first (on the index_version index) so the arrays grow once, not per batch.
                store.reserve(newer.count())
                store.append_from(newer, load_rows=load_rows)
                self.version = version
                self.appends += 1
            return [store.snapshot()]

    def _load_everything(
        self, state: tuple[int, int], *, private: bool, load_rows: int
    ) -> list[IndexSnapshot]:
        """Called with the lock held. Faces above `version` committed after the state was read are left
        to the next search, which will see their version."""
        version, generation = state
        everything = Face.objects.filter(index_version__lte=version)
        if private:
            fresh = _Store(capacity=everything.count())
            fresh.append_from(everything, load_rows=load_rows)
            return [fresh.snapshot()]
        # The old copy goes first, so the process never holds two (running searches keep theirs).
        self.store = None
        fresh = _Store(capacity=everything.count())
        fresh.append_from(everything, load_rows=load_rows)
        self.store, self.version, self.generation = fresh, version, generation
        self.full_loads += 1
        return [fresh.snapshot()]

    def info(self) -> CacheInfo:
        with self.lock:
            snapshot = self.store.snapshot() if self.store is not None else None
            dead = self.store.dead if self.store is not None else 0
            return CacheInfo(
                faces=snapshot.size - dead if snapshot else 0,
                dead_faces=dead,
                nbytes=snapshot.nbytes if snapshot else 0,
                version=self.version,
                generation=self.generation,
                full_loads=self.full_loads,
                appends=self.appends,
                deletion_catch_ups=self.deletion_catch_ups,
            )


_CACHE = _ProcessCache()


# --- The exact backend ----------------------------------------------------------------------------


class NumpyExactBackend:
    """Exact L2 search over a copy of the index that each process keeps in memory.

    The copy is one float32 N x 128 matrix with the faces' ids, photo ids and half squared norms beside
    it: `BYTES_PER_FACE` (540) bytes per face, so 1,000,000 faces cost 540 MB per process that searches
    (and up to a quarter more while it grows). It is loaded on the first search, in batches of
    `load_rows` read straight into the arrays. A process that never searches holds nothing.

    Every search reads `FaceIndexState` (one query, which also checks that the faces found still
    exist, in case a deletion did not note itself). If faces were added since the copy was loaded,
    only those are read and appended; if faces were deleted, their ids are read from the deletion log
    and their rows marked (half norm +inf: the scan skips them at no cost) in a copy of the half
    norms; either way the search is then run again on the updated copy. The whole index is read again
    only when the log no longer reaches back to the copy (pruned after `DELETION_LOG_RETENTION`), or
    when more than `MAX_DEAD_FRACTION` of the rows would be marked (the reload drops them).

    A search scans the matrix `chunk_rows` rows at a time, so its temporaries are bounded by one chunk
    whatever the index size. The first pass uses |a|^2/2 - a.q (a matrix-vector product per chunk, with
    the norms computed at load) and keeps the rows within the threshold widened by a bound on its
    float32 rounding error; the exact distance, |a - q| in float64, is then computed for those rows
    only. The expansion alone would not do: it cancels catastrophically for near-identical faces (an
    error of about 1e-4 at distance 0, enough to misorder the nearest matches).

    Past a few million faces, or when several processes would each hold a copy that does not fit,
    replace the backend (docs/face-index.md).
    """

    def __init__(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, load_rows: int = DEFAULT_LOAD_ROWS) -> None:
        if chunk_rows < 1 or load_rows < 1:
            raise ValueError("chunk_rows and load_rows must be positive")
        self.chunk_rows = chunk_rows
        self.load_rows = load_rows

    def search(self, probe: np.ndarray, *, max_distance: float, limit: int) -> list[Match]:
        query = _as_probe(probe)
        if limit < 1 or max_distance < 0:
            return []

        def scan(snapshots: list[IndexSnapshot]) -> list[Match]:
            return self._nearest(snapshots, query, max_distance=max_distance, limit=limit)

        current = transaction.get_connection()
        if not current.in_atomic_block:
            # Whatever its last transaction wrote is committed or rolled back by now.
            _UNCOMMITTED_WRITERS.discard(current)
        private = current.in_atomic_block and current in _UNCOMMITTED_WRITERS
        held = None if private else _CACHE.current()
        if held is None:
            matches = scan(self._bring_up_to(_read_state(), private=private))
            existing = _count_existing([match.face_id for match in matches])
        else:
            # Scan the copy first, then read the state row and check the matches in one query: if the
            # counters read after the scan are still the copy's, the copy held every face committed
            # before the search started and none deleted before it. Otherwise bring it up to that
            # state (read after the start, so it is enough) and scan again.
            snapshot, counters = held
            matches = scan([snapshot])
            state, existing = _state_and_count_existing([match.face_id for match in matches])
            if state != counters:
                matches = scan(self._bring_up_to(state, private=False))
                existing = _count_existing([match.face_id for match in matches])
        if existing == len(matches):
            return matches
        # A face deleted without `face_index_note_deletion()`: read the index again rather than
        # return fewer matches than there are.
        logger.warning(
            "face search: %d of %d matches no longer exist; reloading the index",
            len(matches) - existing,
            len(matches),
        )
        _CACHE.drop()
        matches = scan(self._bring_up_to(_read_state(), private=private))
        still_there = _existing_face_ids([match.face_id for match in matches])
        return [match for match in matches if match.face_id in still_there]

    def add(self, faces: Sequence[Face]) -> None:
        """Nothing to do: the next search appends them, by their `index_version`."""

    def remove(self, face_ids: Iterable[int]) -> None:
        """Nothing to do: the deleting transaction logged the ids, so the next search drops them."""

    def refresh(self) -> None:
        """Forget this process's copy: the next search loads the index again."""
        _CACHE.drop()

    def cache_info(self) -> CacheInfo:
        return _CACHE.info()

    def cached_index(self) -> IndexSnapshot | None:
        """This process's copy as it stands (for benchmarks and tests), without bringing it up to date."""
        with _CACHE.lock:
            return _CACHE.store.snapshot() if _CACHE.store is not None else None

    def _bring_up_to(self, state: tuple[int, int], *, private: bool) -> list[IndexSnapshot]:
        return _CACHE.snapshots(state, private=private, load_rows=self.load_rows)

    def _chunks(self, snapshot: IndexSnapshot) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, rows, their half squared norms), `chunk_rows` rows at a time: views, not copies."""
        for start in range(0, snapshot.size, self.chunk_rows):
            stop = start + self.chunk_rows
            yield start, snapshot.embeddings[start:stop], snapshot.half_squared_norms[start:stop]

    def _nearest(
        self, snapshots: list[IndexSnapshot], query: np.ndarray, *, max_distance: float, limit: int
    ) -> list[Match]:
        query64 = query.astype(np.float64)
        query_squared = float(query64 @ query64)
        max_squared = max_distance * max_distance
        # The best `limit` so far, as parallel arrays (squared distance, face id, photo id).
        best_squared = np.empty(0, dtype=np.float64)
        best_ids = np.empty(0, dtype=np.int64)
        best_photos = np.empty((0, PHOTO_ID_BYTES), dtype=np.uint8)
        for snapshot in snapshots:
            slack = _ROUNDING_MARGIN * (snapshot.max_squared_norm + query_squared + max_squared)
            cutoff = _float32_not_below((max_squared - query_squared) / 2 + slack)
            for start, rows, half_squared_norms in self._chunks(snapshot):
                # |a - q|^2 / 2 - |q|^2 / 2 = |a|^2 / 2 - a.q, in place in the product's own vector.
                # einsum, not `rows @ query`: a multithreaded BLAS call per chunk stalls on a busy
                # machine (its threads wait for cores other processes hold), and one core is enough
                # to read memory at full speed here.
                approximate = np.einsum("ij,j->i", rows, query)
                np.subtract(half_squared_norms, approximate, out=approximate)
                candidates = np.flatnonzero(approximate <= cutoff)
                for offset in range(0, candidates.size, _EXACT_ROWS):
                    picked = candidates[offset : offset + _EXACT_ROWS]
                    differences = rows[picked].astype(np.float64)
                    differences -= query64
                    squared = np.einsum("ij,ij->i", differences, differences)
                    within = squared <= max_squared
                    # Rows marked deleted (+inf) fail the first pass for any finite cutoff; an infinite
                    # one (max_distance=inf) lets them through, so they are dropped here too.
                    within &= np.isfinite(half_squared_norms[picked])
                    if not within.any():
                        continue
                    found = picked[within] + start
                    best_squared = np.concatenate((best_squared, squared[within]))
                    best_ids = np.concatenate((best_ids, snapshot.face_ids[found]))
                    best_photos = np.concatenate((best_photos, snapshot.photo_ids[found]))
                    if best_ids.size > limit:
                        keep = np.lexsort((best_ids, best_squared))[:limit]
                        best_squared, best_ids, best_photos = (
                            best_squared[keep],
                            best_ids[keep],
                            best_photos[keep],
                        )
        order = np.lexsort((best_ids, best_squared))
        return [
            Match(
                face_id=int(best_ids[index]),
                photo_id=uuid.UUID(bytes=best_photos[index].tobytes()),
                distance=float(np.sqrt(best_squared[index])),
            )
            for index in order.tolist()
        ]


# Ids per existence query: far below SQLite's and PostgreSQL's limits on parameters.
_IDS_PER_QUERY: Final = 1000


def _state_and_count_existing(face_ids: list[int]) -> tuple[tuple[int, int], int]:
    """The state row's (version, generation), (0, 0) if it is missing, and how many of `face_ids`
    exist: one round trip, which is most of a warm search's time past a hundred thousand faces."""
    quote = connection.ops.quote_name
    state_table, face_table, id_column = (
        quote(FaceIndexState._meta.db_table),
        quote(Face._meta.db_table),
        quote("id"),
    )
    head, tail = face_ids[:_IDS_PER_QUERY], face_ids[_IDS_PER_QUERY:]
    # Scalar subqueries, so there is one row even without a state row. Table names come from the
    # models, values are parameters.
    count = (
        f"(SELECT COUNT(*) FROM {face_table} WHERE {id_column} IN ({', '.join(['%s'] * len(head))}))"  # noqa: S608
        if head
        else "0"
    )
    statement = (
        f"SELECT (SELECT version FROM {state_table} WHERE {id_column} = %s), "  # noqa: S608
        f"(SELECT generation FROM {state_table} WHERE {id_column} = %s), {count}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [FACE_INDEX_STATE_ID, FACE_INDEX_STATE_ID, *head])
        version, generation, existing = cursor.fetchone()
    state = (int(version), int(generation)) if version is not None else (0, 0)
    return state, int(existing) + _count_existing(tail)


def _count_existing(face_ids: list[int]) -> int:
    return sum(
        Face.objects.filter(id__in=face_ids[start : start + _IDS_PER_QUERY]).count()
        for start in range(0, len(face_ids), _IDS_PER_QUERY)
    )


def _existing_face_ids(face_ids: list[int]) -> set[int]:
    existing: set[int] = set()
    for start in range(0, len(face_ids), _IDS_PER_QUERY):
        chunk = face_ids[start : start + _IDS_PER_QUERY]
        existing.update(Face.objects.filter(id__in=chunk).values_list("id", flat=True))
    return existing


def _float32_not_below(value: float) -> np.float32:
    rounded = np.float32(value)
    return rounded if float(rounded) >= value else np.nextafter(rounded, np.float32(np.inf))


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
