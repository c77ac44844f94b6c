"""The purge issue's benchmarks, on PostgreSQL: face discovery, and purge throughput.

Run from the project root:

    .venv/bin/python bench/purge.py                                  # every part written so far
    .venv/bin/python bench/purge.py --part discovery                 # 100,000 then 1,000,000 faces
    .venv/bin/python bench/purge.py --part discovery --sizes 100000 --repeat 50   # a quicker look
    .venv/bin/python bench/purge.py --part purge                     # 10,000 photos purged

Every part runs in this process against a throwaway database: `removal_bench_<pid>` is created on the
PostgreSQL at 127.0.0.1:5432 (trust auth, user `postgres`), migrated with `manage.py migrate`, and
dropped at the end, also after a failure, a timeout or Ctrl-C. Django is set up in-process with
production-style settings (DEBUG off, fresh secrets, no Redis, a temporary VAR_DIR).

Discovery (`--part discovery`): how fast `removal.search.NumpyExactBackend` answers discovery's
question over 100,000 and 1,000,000 indexed faces, how much memory its in-memory copy takes, and how
its search compares with a bare numpy computation over the same matrix (target: within 1.5x).

1. The index grows through `--sizes` (each step adds faces to the previous ones), filled as another
   process's ingest would: one transaction per step that bumps `FaceIndexState.version` first and
   stamps its faces with it, the rows written with binary COPY. Embeddings are synthetic: random
   directions, norms 0.9-1.1, float32, so nearly every face is about 1.4 from the probe; each step
   plants `--planted` near-duplicates of the probe, from 1e-4 to 0.55 away, two of them identical (a
   tie that face ids must order). Four faces per photo. Then VACUUM ANALYZE.
2. Per size: when the previous size's copy is still loaded, one search first measures catching up
   (the new faces appended to the copy). Then `refresh()` drops the copy and the cold search reads the
   whole index from the database and searches it (RSS before and after, the peak in between); its
   matches are checked against a float64 brute force over the generated embeddings (same faces, same
   order, same distances) and must include every planted face.
3. Warm: `--repeat` rounds, each timing in turn: our search (`backend.search`: the scan, then one
   query for the state row and the matches' existence); our scan alone (no database); the bare baseline
   over the same in-memory matrix, i.e. the full distance vector |a|^2 - 2 a.q + |q|^2 with the row
   norms precomputed (one matrix-vector product) and argpartition for the top `--limit`, then those
   sorted; and the matrix-vector product alone. Medians and p95 over the rounds, ratios of medians.
   `--naive` rounds also time the textbook float32 exact computation (a - q, einsum), for scale. The
   product is timed both with BLAS (`matrix @ probe`, multithreaded) and with `np.einsum` (one thread,
   what the backend uses); the ratios are to the faster, so the baseline is the strictest of the two.
4. Deletions: `--deleted` faces (10,000; two of them planted near-duplicates, the rest at random) are
   deleted in transactions of `--delete-batch` (500), each calling `face_index_note_deletion(ids)` and
   deleting the rows, as the purge's batches do. Then the next search is timed: it catches up from the
   deletion log (marking the rows in the loaded copy) instead of reloading; compare it with the cold
   load above. Its matches are checked as the cold search's are (the deleted faces no longer count),
   and it must not have reloaded. Then `--repeat` warm rounds on the copy with those rows marked,
   against the bare baseline measured in step 3 (same matrix). The deleted faces stay deleted for the
   next sizes, so an index of size N holds N minus the faces deleted so far.

The ratio warm/bare must be at most `--max-ratio` (the issue's 1.5) for the exit status to be 0. The
machine is shared: the load average is printed with the figures; compare the ratios, measured in one
run, rather than absolute times.

Purge (`--part purge`): how long the purge takes for a subject with `--photos` (10,000) confirmed
photos on the file system storage, against a bare delete of the same kind of files and rows (target:
within 3x).

1. Set-up, not measured: `--photos` photos of other people and `--photos` of the subject, each with a
   small JPEG and its thumbnail written under the media root, one face row (noted in the face index as
   an ingest would) and a confirmed candidate; the subject's request waits for approval. VACUUM ANALYZE.
2. Ours: `purge_approve` (one job per configured target, each with its plan, in one transaction), then
   every purge-phase job run to the end by `purge_job_run` in this process, one after the other, as
   the worker would: claims and leases, batches of deletions committed with their progress, the final
   check that nothing planned is left (a stat per file, a query per batch), the audit events, and the
   completion with its signed receipt and notice. Enqueues are counted instead of sent (no broker).
3. Checks: the request completed, none of the subject's rows or files remain, everyone else's do.
4. Bare: as many new photos (files, face rows, candidates) set up the same way, then `os.unlink` of
   their 2 x `--photos` files and one transaction deleting their candidate, face and photo rows by id
   (`_raw_delete`: no ORM collector, no signals).

The ratio ours/bare must be at most `--max-purge-ratio` (3) for the exit status to be 0.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script (`python bench/purge.py`): the project root is not on sys.path by itself.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench._support import (  # noqa: E402
    HOST,
    PG_PORT,
    PG_USER,
    BenchError,
    django_env,
    manage,
    percentile,
    reset_peak_rss,
    run_guarded,
    server_version,
    throwaway_database,
)

PARTS = ("discovery", "purge", "all")
MAX_FACES = 1_000_000  # the largest index; the machine is shared
FACES_PER_PHOTO = 4
DIMENSIONS = 128
STATEMENT_TIMEOUT_MS = 900_000
COPY_BLOCK = 50_000  # faces generated and copied at a time

_START = time.monotonic()


# --- Configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    part: str
    sizes: tuple[int, ...]
    repeat: int
    naive: int
    limit: int
    max_distance: float
    planted: int
    chunk_rows: int
    seed: int
    timeout: float
    max_ratio: float
    photos: int
    max_purge_ratio: float
    deleted: int
    delete_batch: int

    @property
    def deadline(self) -> float:
        return _START + self.timeout


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description="The purge issue's benchmarks on PostgreSQL, in-process: face discovery over 100k and "
        "1M faces (--part discovery); purge throughput for 10,000 photos (--part purge).",
    )
    parser.add_argument("--part", choices=PARTS, default="all", help="which part to run (default all)")
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="index sizes, ascending, comma-separated; each adds to the previous (default 100000,1000000)",
    )
    parser.add_argument("--repeat", type=int, default=30, help="warm rounds per size (default 30)")
    parser.add_argument(
        "--naive", type=int, default=5, help="rounds of the textbook a - q computation, for scale (default 5)"
    )
    parser.add_argument("--limit", type=int, default=500, help="search(limit=...) (default 500)")
    parser.add_argument(
        "--max-distance", type=float, default=0.6, help="search(max_distance=...) (default 0.6)"
    )
    parser.add_argument(
        "--planted", type=int, default=12, help="near-duplicates of the probe planted per step (default 12)"
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=65_536, help="NumpyExactBackend(chunk_rows=...) (default 65536)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="hard limit on the whole run, seconds (default 1800)"
    )
    parser.add_argument(
        "--max-ratio", type=float, default=1.5, help="fail if warm / bare exceeds this (0: report only)"
    )
    parser.add_argument(
        "--deleted",
        type=int,
        default=10_000,
        help="faces deleted per size after the warm rounds, then the catch-up timed (default 10000; 0: off)",
    )
    parser.add_argument(
        "--delete-batch", type=int, default=500, help="faces deleted per transaction (default 500)"
    )
    parser.add_argument(
        "--photos", type=int, default=10_000, help="the subject's confirmed photos to purge (default 10000)"
    )
    parser.add_argument(
        "--max-purge-ratio",
        type=float,
        default=3.0,
        help="fail if ours / bare exceeds this (0: off)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(size) for size in args.sizes.split(","))
    except ValueError:
        parser.error("--sizes: integers separated by commas")
    if not sizes or any(size < 1 for size in sizes) or list(sizes) != sorted(set(sizes)):
        parser.error("--sizes must be positive and strictly ascending")
    if sizes[-1] > MAX_FACES:
        parser.error(f"--sizes is capped at {MAX_FACES:,} faces")
    if not 2 <= args.planted <= sizes[0]:
        parser.error("--planted must be between 2 and the first size")
    if args.repeat < 1 or args.naive < 0 or args.limit < 1 or args.chunk_rows < 1 or args.timeout <= 0:
        parser.error("--repeat, --limit, --chunk-rows, --timeout must be positive; --naive >= 0")
    if not 1 <= args.photos <= 100_000 or args.max_purge_ratio < 0:
        parser.error("--photos must be between 1 and 100000; --max-purge-ratio >= 0")
    if args.deleted < 0 or args.delete_batch < 1:
        parser.error("--deleted must be >= 0 and --delete-batch positive")
    if args.deleted and not 2 <= args.deleted < sizes[0] // 5:
        # Past a fifth of the copy, the search reloads it in full instead of catching up.
        parser.error("--deleted must be at least 2 and under a fifth of the first size")
    if args.deleted and args.planted < 2 * len(sizes) + 2:
        parser.error("--planted: two planted faces are deleted per size; plant more")
    if not 0 < args.max_distance < 1.0 or args.max_ratio < 0:
        parser.error("--max-distance must be in (0, 1) (planted faces lie below 0.55); --max-ratio >= 0")
    return Config(
        part=args.part,
        sizes=sizes,
        repeat=args.repeat,
        naive=args.naive,
        limit=args.limit,
        max_distance=args.max_distance,
        planted=args.planted,
        chunk_rows=args.chunk_rows,
        seed=args.seed,
        timeout=args.timeout,
        max_ratio=args.max_ratio,
        photos=args.photos,
        max_purge_ratio=args.max_purge_ratio,
        deleted=args.deleted,
        delete_batch=args.delete_batch,
    )


def check_time(config: Config) -> None:
    if time.monotonic() > config.deadline:
        raise BenchError(f"hard timeout of {config.timeout:.0f} s reached")


# --- Shared: the database, Django, memory, statistics ---------------------------------------------


class Bench:
    """The throwaway database, seen by Django (the code under test) and by a psycopg connection of its
    own (filling it, as another process would)."""

    def __init__(self, *, config: Config, db_name: str) -> None:
        self.config = config
        self.db_name = db_name
        self.pg: psycopg.Connection | None = None
        self.failures: list[str] = []

    def start_django(self, env: dict[str, str]) -> None:
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")

    def connect_pg(self) -> psycopg.Connection:
        pg = psycopg.connect(
            host=HOST, port=PG_PORT, user=PG_USER, dbname=self.db_name, autocommit=True, connect_timeout=10
        )
        pg.execute("SET synchronous_commit = off")  # this session only: filling, not what is measured
        pg.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        pg.execute("SET maintenance_work_mem = '256MB'")
        self.pg = pg
        return pg

    def vacuum_analyze(self, *tables: str) -> float:
        assert self.pg is not None
        began = time.perf_counter()
        for table in tables:
            self.pg.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        return time.perf_counter() - began

    def setting(self, name: str) -> str:
        assert self.pg is not None
        row = self.pg.execute("SELECT current_setting(%s)", (name,)).fetchone()
        return str(row[0]) if row else "?"

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = function()
    return time.perf_counter() - began, result


# --- Discovery ------------------------------------------------------------------------------------


@dataclass
class SizeReport:
    faces: int
    populate_s: float = 0.0
    vacuum_s: float = 0.0
    catch_up_s: float | None = None
    catch_up_faces: int = 0
    cold_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    peak_mb: float | None = None
    index_mb: float = 0.0
    matches: int = 0
    warm: list[float] = field(default_factory=list)
    scan: list[float] = field(default_factory=list)
    bare_blas: list[float] = field(default_factory=list)
    bare_einsum: list[float] = field(default_factory=list)
    product_blas: list[float] = field(default_factory=list)
    product_einsum: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    deleted: int = 0
    delete_transactions: int = 0
    delete_s: float = 0.0
    deletion_catch_up_s: float | None = None
    warm_marked: list[float] = field(default_factory=list)

    @property
    def bare(self) -> float:
        """The faster bare baseline on this machine (median)."""
        return min(statistics.median(self.bare_blas), statistics.median(self.bare_einsum))

    @property
    def product(self) -> float:
        return min(statistics.median(self.product_blas), statistics.median(self.product_einsum))

    @property
    def ratio(self) -> float:
        return statistics.median(self.warm) / self.bare


class SyntheticIndex:
    """The embeddings as generated, kept here too: the reference the search is checked against."""

    def __init__(self, *, config: Config) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.probe = _unit_rows(self.rng, 1)[0]
        self.embeddings = np.empty((config.sizes[-1], DIMENSIONS), dtype=np.float32)
        self.size = 0
        self.planted: list[int] = []  # face ids, deleted ones taken out
        self.alive = np.ones(config.sizes[-1] + 1, dtype=bool)  # by face id; 0 unused
        self.alive[0] = False

    def grow(self, bench: Bench, target: int) -> None:
        """Faces `size + 1`..`target` (their ids), in one transaction that notes the addition."""
        assert bench.pg is not None
        first, count = self.size, target - self.size
        block = _unit_rows(self.rng, count)
        # Planted rows spread through the step, at distances from 1e-4 up, the last two identical.
        positions = self.rng.choice(count, size=self.config.planted, replace=False)
        distances = np.geomspace(1e-4, 0.55, self.config.planted - 1)
        for position, distance in zip(positions, [*distances, distances[-1]], strict=True):
            direction = _unit_rows(self.rng, 1)[0]
            block[position] = self.probe + direction * np.float32(distance)
        block[positions[-1]] = block[positions[-2]]
        self.embeddings[first:target] = block
        self.planted.extend(int(first + position + 1) for position in positions)

        with bench.pg.transaction():
            # As ingest does (`face_index_note_addition`): the state row first, its version on every face.
            row = bench.pg.execute(
                "UPDATE removal_faceindexstate SET version = version + 1 WHERE id = 1 RETURNING version"
            ).fetchone()
            if row is None:
                raise BenchError("removal_faceindexstate has no row: did the migration run?")
            version = int(row[0])
            now = datetime.now(UTC)
            for start in range(first, target, COPY_BLOCK):
                stop = min(start + COPY_BLOCK, target)
                _copy_block(bench.pg, self.embeddings, start, stop, version=version, now=now)
                check_time(self.config)
            bench.pg.execute(
                "SELECT setval(pg_get_serial_sequence('removal_face', 'id'), %s)", (target,), prepare=False
            )
        self.size = target

    def reference(self, *, max_distance: float, limit: int) -> list[tuple[int, float]]:
        """(face id, distance) within `max_distance`, nearest first then by id: float64, chunk by chunk."""
        probe = self.probe.astype(np.float64)
        found: list[tuple[float, int]] = []
        for start in range(0, self.size, 65_536):
            rows = self.embeddings[start : min(start + 65_536, self.size)].astype(np.float64) - probe
            distances = np.sqrt(np.einsum("ij,ij->i", rows, rows))
            alive = self.alive[start + 1 : start + 1 + distances.size]
            found.extend(
                (float(distances[i]), start + int(i) + 1)
                for i in np.flatnonzero((distances <= max_distance) & alive)
            )
        return [(face_id, distance) for distance, face_id in sorted(found)[:limit]]


def _unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.standard_normal((count, DIMENSIONS), dtype=np.float32)
    rows *= (rng.uniform(0.9, 1.1, count) / np.linalg.norm(rows, axis=1)).astype(np.float32)[:, None]
    return rows


def _photo_id(number: int) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.md5(f"bench-photo-{number}".encode()).digest(), version=4)  # noqa: S324


def _copy_block(
    pg: psycopg.Connection, embeddings: np.ndarray, start: int, stop: int, *, version: int, now: datetime
) -> None:
    """Faces `start + 1`..`stop` and their photos (four faces each), with binary COPY."""
    first_photo, last_photo = start // FACES_PER_PHOTO, (stop - 1) // FACES_PER_PHOTO
    with pg.cursor() as cursor:
        with cursor.copy(
            "COPY removal_photo (id, storage_key, thumbnail_key, source_url, content_sha256, width, height, "
            "ingested_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "text", "text", "text", "text", "int4", "int4", "timestamptz"])
            for number in range(first_photo, last_photo + 1):
                if number * FACES_PER_PHOTO < start:
                    continue  # written with the previous block
                copy.write_row(
                    (
                        _photo_id(number),
                        f"face-index/photos/bench-{number}.jpg",
                        f"face-index/thumbnails/bench-{number}.jpg",
                        "",
                        hashlib.sha256(f"bench-photo-{number}".encode()).hexdigest(),
                        640,
                        480,
                        now,
                    )
                )
        with cursor.copy(
            'COPY removal_face (id, photo_id, embedding, "left", "top", "right", "bottom", created_at, '
            "index_version) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "uuid", "bytea", "int4", "int4", "int4", "int4", "timestamptz", "int8"])
            block = embeddings[start:stop].astype("<f4")
            for offset in range(stop - start):
                index = start + offset
                copy.write_row(
                    (
                        index + 1,
                        _photo_id(index // FACES_PER_PHOTO),
                        block[offset].tobytes(),
                        10,
                        10,
                        90,
                        90,
                        now,
                        version,
                    )
                )


def _bare(
    matrix: np.ndarray, squared_norms: np.ndarray, probe: np.ndarray, limit: int, *, blas: bool
) -> np.ndarray:
    """The obvious fast way over the same matrix: every distance by the expansion, top `limit`, sorted.

    The product by BLAS (`matrix @ probe`, multithreaded) or by `np.einsum` (one thread).
    """
    product = matrix @ probe if blas else np.einsum("ij,j->i", matrix, probe)
    distances = squared_norms - 2 * product + probe @ probe
    top = np.argpartition(distances, limit)[:limit] if limit < distances.size else np.arange(distances.size)
    return top[np.argsort(distances[top])]


def _naive(matrix: np.ndarray, probe: np.ndarray, limit: int) -> np.ndarray:
    """The textbook exact float32 way: a - q for every row (an N x 128 temporary), einsum, top `limit`."""
    differences = matrix - probe
    distances = np.einsum("ij,ij->i", differences, differences)
    top = np.argpartition(distances, limit)[:limit] if limit < distances.size else np.arange(distances.size)
    return top[np.argsort(distances[top])]


def discovery(bench: Bench, config: Config) -> list[SizeReport]:
    from removal.search import NumpyExactBackend

    backend = NumpyExactBackend(chunk_rows=config.chunk_rows)
    index = SyntheticIndex(config=config)
    reports = []
    for size in config.sizes:
        report = SizeReport(faces=size)
        added = size - index.size
        print(f"discovery, {size:,} faces: adding {added:,} ...", flush=True)
        began = time.perf_counter()
        index.grow(bench, size)
        report.populate_s = time.perf_counter() - began
        report.vacuum_s = bench.vacuum_analyze("removal_face", "removal_photo")
        print(f"  added in {report.populate_s:.1f} s, VACUUM ANALYZE {report.vacuum_s:.1f} s", flush=True)
        _measure_size(bench, backend, index, report, config=config)
        reports.append(report)
    backend.refresh()
    return reports


def _measure_size(
    bench: Bench, backend: Any, index: SyntheticIndex, report: SizeReport, *, config: Config
) -> None:
    probe = index.probe
    search_args = {"max_distance": config.max_distance, "limit": config.limit}

    def ours() -> Any:
        return backend.search(probe, **search_args)

    if backend.cached_index() is not None:
        held = backend.cache_info().faces
        report.catch_up_s, _ = timed(ours)
        report.catch_up_faces = backend.cache_info().faces - held

    backend.refresh()
    gc.collect()
    report.rss_before_mb = current_rss_mb()
    peak_reset = reset_peak_rss()
    report.cold_s, matches = timed(ours)
    report.peak_mb = peak_rss_mb() if peak_reset else None
    report.rss_after_mb = current_rss_mb()
    report.index_mb = backend.cache_info().nbytes / 2**20
    report.matches = len(matches)
    _check_matches(bench, index, matches, config=config, size=report.faces)

    snapshot = backend.cached_index()
    assert snapshot is not None
    matrix = snapshot.embeddings
    squared_norms = 2 * snapshot.half_squared_norms
    print(f"  cold search {report.cold_s:.2f} s; {config.repeat} warm rounds ...", flush=True)
    for _ in range(config.repeat):
        check_time(config)
        elapsed, again = timed(ours)
        report.warm.append(elapsed)
        if again != matches:
            bench.failures.append(
                f"{report.faces:,} faces: a warm search found other matches than the cold one"
            )
        # The same scan without the database (the state row, the existence check).
        report.scan.append(timed(lambda: backend._nearest([snapshot], probe, **search_args))[0])
        report.bare_blas.append(
            timed(lambda: _bare(matrix, squared_norms, probe, config.limit, blas=True))[0]
        )
        report.bare_einsum.append(
            timed(lambda: _bare(matrix, squared_norms, probe, config.limit, blas=False))[0]
        )
        report.product_blas.append(timed(lambda: matrix @ probe)[0])
        report.product_einsum.append(timed(lambda: np.einsum("ij,j->i", matrix, probe))[0])
    for _ in range(config.naive):
        report.naive.append(timed(lambda: _naive(matrix, probe, config.limit))[0])
    if config.deleted:
        _measure_deletions(bench, backend, index, report, config=config)


def _measure_deletions(
    bench: Bench, backend: Any, index: SyntheticIndex, report: SizeReport, *, config: Config
) -> None:
    """Delete faces as the purge does, then time the search that catches up with them (step 4)."""
    from django.db import connection, transaction

    from removal.models import Face
    from removal.search import face_index_note_deletion

    probe = index.probe
    search_args = {"max_distance": config.max_distance, "limit": config.limit}
    # Two planted faces, so that the check below sees deleted matches go; the rest at random.
    planted = index.planted[:2]
    candidates = np.flatnonzero(index.alive[: index.size + 1])
    candidates = np.setdiff1d(candidates, index.planted)
    chosen = index.rng.choice(candidates, size=config.deleted - len(planted), replace=False)
    victims = [*planted, *(int(face_id) for face_id in chosen)]
    print(f"  deleting {len(victims):,} faces in transactions of {config.delete_batch:,} ...", flush=True)
    began = time.perf_counter()
    for start in range(0, len(victims), config.delete_batch):
        check_time(config)
        batch = victims[start : start + config.delete_batch]
        with transaction.atomic():
            face_index_note_deletion(batch)
            Face.objects.filter(id__in=batch)._raw_delete(connection.alias)
        report.delete_transactions += 1
    report.delete_s = time.perf_counter() - began
    report.deleted = len(victims)
    index.alive[victims] = False
    index.planted = [face_id for face_id in index.planted if face_id not in set(planted)]

    before = backend.cache_info()
    report.deletion_catch_up_s, matches = timed(lambda: backend.search(probe, **search_args))
    after = backend.cache_info()
    if after.full_loads != before.full_loads:
        bench.failures.append(f"{report.faces:,} faces: the search after the deletions reloaded the index")
    if after.dead_faces - before.dead_faces != len(victims):
        bench.failures.append(
            f"{report.faces:,} faces: {after.dead_faces - before.dead_faces:,} rows marked deleted, "
            f"not {len(victims):,}"
        )
    _check_matches(bench, index, matches, config=config, size=report.faces)
    if set(victims) & {match.face_id for match in matches}:
        bench.failures.append(f"{report.faces:,} faces: a deleted face was returned")
    print(
        f"  deleted in {report.delete_s:.1f} s; catch-up search {1000 * report.deletion_catch_up_s:.0f} ms; "
        f"{config.repeat} warm rounds ...",
        flush=True,
    )
    for _ in range(config.repeat):
        check_time(config)
        elapsed, again = timed(lambda: backend.search(probe, **search_args))
        report.warm_marked.append(elapsed)
        if again != matches:
            bench.failures.append(
                f"{report.faces:,} faces: a warm search after the deletions found other matches"
            )


def _check_matches(
    bench: Bench, index: SyntheticIndex, matches: list[Any], *, config: Config, size: int
) -> None:
    expected = index.reference(max_distance=config.max_distance, limit=config.limit)
    got = [(match.face_id, match.distance) for match in matches]
    if [face_id for face_id, _ in got] != [face_id for face_id, _ in expected]:
        bench.failures.append(f"{size:,} faces: matches differ from the float64 brute force")
    elif any(abs(a - b) > 1e-9 for (_, a), (_, b) in zip(got, expected, strict=True)):
        bench.failures.append(f"{size:,} faces: distances differ from the float64 brute force")
    missing = set(index.planted) - {face_id for face_id, _ in got}
    if missing and len(index.planted) <= config.limit:
        bench.failures.append(f"{size:,} faces: {len(missing)} planted near-duplicates not found")


def print_discovery(reports: list[SizeReport], config: Config, bench: Bench) -> None:
    def ms(values: list[float] | float, p: float | None = None) -> str:
        if isinstance(values, float):
            return f"{1000 * values:.1f}"
        if not values:
            return "-"
        return f"{1000 * (statistics.median(values) if p is None else percentile(values, p)):.1f}"

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print()
    print("== Discovery: removal.search.NumpyExactBackend (in-process, PostgreSQL, 127.0.0.1) ==")
    print(
        f"machine        : {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__} "
        f"({blas.get('name')} {blas.get('version')}), PostgreSQL {server_version()} "
        f"(shared_buffers {bench.setting('shared_buffers')})"
    )
    print(
        "load average   : {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the end of the run".format(*os.getloadavg())
    )
    print(
        f"data           : random float32 directions, norms 0.9-1.1, {FACES_PER_PHOTO} faces per photo; "
        f"{config.planted} near-duplicates of the probe planted per step (1e-4 .. 0.55, one tie)"
    )
    print(
        f"search         : max_distance {config.max_distance}, limit {config.limit}, chunk_rows "
        f"{config.chunk_rows:,}; {config.repeat} warm rounds, medians (and p95 of ours)"
    )
    print()
    columns = (
        f"{'faces':>9}  {'cold':>7}  {'catch-up':>17}  {'warm p50':>8}  {'warm p95':>8}  {'scan':>6}  "
        f"{'bare':>6}  {'product':>7}  {'naive':>6}  {'warm/bare':>9}  {'warm/product':>12}"
    )
    print("latency, ms")
    print(columns)
    for r in reports:
        catch_up = f"{1000 * r.catch_up_s:.0f} (+{r.catch_up_faces:,})" if r.catch_up_s is not None else "-"
        print(
            f"{r.faces:>9,}  {1000 * r.cold_s:>7.0f}  {catch_up:>17}  {ms(r.warm):>8}  {ms(r.warm, 95):>8}  "
            f"{ms(r.scan):>6}  {ms(r.bare):>6}  {ms(r.product):>7}  {ms(r.naive):>6}  "
            f"{r.ratio:>8.2f}x  {statistics.median(r.warm) / r.product:>11.2f}x"
        )
    print(
        "  cold: refresh(), then the first search (loads the whole index). catch-up: the first search\n"
        "  after the step's faces were added, with the previous copy loaded (appends them).\n"
        "  warm: backend.search() (the scan, then one query: state row and the matches' existence).\n"
        "  scan: the same scan without the database. bare: |a|^2 - 2a.q + |q|^2 over the whole matrix\n"
        "  (norms precomputed), argpartition top-limit, sort. product: the matrix-vector product alone.\n"
        "  naive: a - q, einsum, top-limit (float32). bare and product: the faster of BLAS `@`\n"
        "  (multithreaded) and np.einsum (one thread), each timed every round:"
    )
    for r in reports:
        print(
            f"{r.faces:>9,} faces: bare {ms(r.bare_blas)} / {ms(r.bare_einsum)}, "
            f"product {ms(r.product_blas)} / {ms(r.product_einsum)} (@ / einsum)"
        )
    print()
    print("memory, MiB")
    print(
        f"{'faces':>9}  {'index arrays':>12}  {'RSS before':>10}  {'RSS after':>9}  "
        f"{'RSS delta':>9}  {'peak delta':>10}"
    )
    for r in reports:
        peak = f"{r.peak_mb - r.rss_before_mb:.0f}" if r.peak_mb is not None else "n/a"
        print(
            f"{r.faces:>9,}  {r.index_mb:>12.0f}  {r.rss_before_mb:>10.0f}  {r.rss_after_mb:>9.0f}  "
            f"{r.rss_after_mb - r.rss_before_mb:>9.0f}  {peak:>10}"
        )
    print("  around the cold search; peak: the high-water mark during it (VmHWM after a reset)")
    if config.deleted:
        print()
        print(
            f"deletions, then the next search: {config.deleted:,} faces deleted per size in transactions of "
            f"{config.delete_batch:,}, each calling face_index_note_deletion(ids), as the purge does"
        )
        print(
            f"{'faces':>9}  {'deleted':>8}  {'txns':>5}  {'deleting s':>10}  {'catch-up ms':>11}  "
            f"{'cold ms':>8}  {'catch-up/cold':>13}  {'warm after p50':>14}  {'p95':>6}  {'after/bare':>10}"
        )
        for r in reports:
            if r.deletion_catch_up_s is None:
                continue
            print(
                f"{r.faces:>9,}  {r.deleted:>8,}  {r.delete_transactions:>5}  {r.delete_s:>10.1f}  "
                f"{1000 * r.deletion_catch_up_s:>11.0f}  {1000 * r.cold_s:>8.0f}  "
                f"{r.deletion_catch_up_s / r.cold_s:>12.3f}x  {ms(r.warm_marked):>14}  "
                f"{ms(r.warm_marked, 95):>6}  {statistics.median(r.warm_marked) / r.bare:>9.2f}x"
            )
        print(
            "  catch-up: the first search after the deletions (scan of the stale copy, state row, the\n"
            "  deletion log, rows marked, scan again), with no reload; cold: the full load + search above.\n"
            "  warm after: searches on the copy with those rows marked; after/bare: its median against the\n"
            "  bare baseline over the same matrix. faces: as generated; deletions accumulate over sizes."
        )
    print()
    for r in reports:
        print(
            f"{r.faces:>9,} faces: {r.matches} matches; populated in {r.populate_s:.1f} s "
            f"(+ VACUUM ANALYZE {r.vacuum_s:.1f} s)"
        )
    target = f" (target: within {config.max_ratio:g}x)" if config.max_ratio else ""
    for r in reports:
        print(f"ratio warm/bare at {r.faces:,} faces: {r.ratio:.2f}x{target}")
        if config.max_ratio and r.ratio > config.max_ratio:
            bench.failures.append(f"{r.faces:,} faces: warm/bare {r.ratio:.2f} exceeds {config.max_ratio:g}")
        if r.warm_marked:
            marked = statistics.median(r.warm_marked) / r.bare
            print(f"ratio warm/bare at {r.faces:,} faces, {r.deleted:,} rows marked deleted: {marked:.2f}x")
            if config.max_ratio and marked > config.max_ratio:
                bench.failures.append(
                    f"{r.faces:,} faces: warm/bare with rows marked deleted {marked:.2f} exceeds "
                    f"{config.max_ratio:g}"
                )


# --- Purge ----------------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    photos: int
    approve_s: float = 0.0
    jobs_s: dict[str, float] = field(default_factory=dict)
    ours_s: float = 0.0
    bare_s: float = 0.0
    bare_files_s: float = 0.0
    bare_rows_s: float = 0.0

    @property
    def ratio(self) -> float:
        return self.ours_s / self.bare_s


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def _photos_on_disk(count: int, *, label: str, media_root: Path, request: Any) -> list[Any]:
    """`count` photos, each with its file and thumbnail on the file system, one face row and one
    confirmed candidate of `request`: set up the fast way (bulk inserts, plain writes), not measured."""
    from django.db import transaction

    from removal.face_index import PHOTO_PREFIX, THUMBNAIL_PREFIX
    from removal.models import Candidate, Face, Photo
    from removal.search import face_index_note_addition

    data = _tiny_jpeg()
    for folder in (PHOTO_PREFIX, THUMBNAIL_PREFIX):
        (media_root / folder).mkdir(parents=True, exist_ok=True)
    photos = []
    for number in range(count):
        name = f"{label}-{number}-{uuid.uuid4().hex}.jpg"
        photo = Photo(
            storage_key=f"{PHOTO_PREFIX}/{name}",
            thumbnail_key=f"{THUMBNAIL_PREFIX}/{name}",
            content_sha256=hashlib.sha256(name.encode()).hexdigest(),
            width=64,
            height=64,
        )
        (media_root / photo.storage_key).write_bytes(data)
        (media_root / photo.thumbnail_key).write_bytes(data)
        photos.append(photo)
    embedding = np.random.default_rng(7).normal(size=DIMENSIONS).astype("<f4").tobytes()
    with transaction.atomic():
        version = face_index_note_addition()
        Photo.objects.bulk_create(photos, batch_size=2_000)
        faces = Face.objects.bulk_create(
            (
                Face(photo=p, embedding=embedding, left=0, top=0, right=8, bottom=8, index_version=version)
                for p in photos
            ),
            batch_size=2_000,
        )
        Candidate.objects.bulk_create(
            (Candidate(request=request, face=face, distance=0.3, decision="confirmed") for face in faces),
            batch_size=2_000,
        )
    return photos


def _bench_request(email: str) -> Any:
    from removal import services
    from removal.models import RemovalRequest, Status

    request = services.removal_request_create(
        name="Bench Subject",
        email=email,
        right="erasure",
        jurisdictions=["EU"],
        channel="api",
        actor=services.SUBJECT,
    ).request
    RemovalRequest.objects.filter(id=request.id).update(status=Status.AWAITING_REVIEW)
    request.refresh_from_db()
    return request


def purge(bench: Bench, config: Config, *, media_root: Path) -> PurgeReport:
    """Ours against a bare delete of the same kind of files and rows (see the module docstring)."""
    from django.db import connection, transaction

    import notifications.services
    from removal import services
    from removal.models import Candidate, Face, Photo, PurgeJob, Status
    from removal.services import purge as purge_service

    # No broker here: what approval and completion would wake (the jobs' tasks, the completion
    # notice's delivery) is counted instead; this process runs the jobs itself, one after another.
    woken: list[str] = []

    def count_job(job_id: uuid.UUID | str, *, countdown: float = 0) -> None:
        woken.append(str(job_id))

    def skip_delivery(message_id: str, *, countdown: float | None = None) -> None:
        pass

    # The on_commit hooks look these functions up in their modules at call time.
    purge_service._enqueue = count_job
    notifications.services._enqueue_delivery = skip_delivery

    report = PurgeReport(photos=config.photos)
    print(
        f"\npurge          : {config.photos:,} confirmed photos of one subject among {config.photos:,} "
        "of other people, file system storage",
        flush=True,
    )
    others = _photos_on_disk(
        config.photos,
        label="other",
        media_root=media_root,
        request=_bench_request("someone.else@example.org"),
    )
    request = _bench_request("bench.subject@example.org")
    subject = _photos_on_disk(config.photos, label="subject", media_root=media_root, request=request)
    bench.vacuum_analyze("removal_photo", "removal_face", "removal_candidate")
    connection.close()  # a fresh connection, as a worker would have

    began = time.perf_counter()
    with transaction.atomic():
        jobs = purge_service.purge_approve(request=request, actor=services.SYSTEM)
    report.approve_s = time.perf_counter() - began
    for job in jobs:
        if job.phase != PurgeJob.Phase.PURGE or job.status != PurgeJob.Status.PENDING:
            continue
        job_began = time.perf_counter()
        status = purge_service.purge_job_run(job_id=job.id)
        report.jobs_s[job.target] = time.perf_counter() - job_began
        if status != PurgeJob.Status.DONE:
            raise BenchError(f"purge job {job.target} ended {status}, not done")
    report.ours_s = time.perf_counter() - began

    request.refresh_from_db()
    if request.status != Status.COMPLETED:
        bench.failures.append(f"purge: the request ended {request.status}, not completed")
    if Photo.objects.filter(id__in=[p.id for p in subject]).exists():
        bench.failures.append("purge: some of the subject's photo rows remain")
    if any((media_root / p.storage_key).exists() or (media_root / p.thumbnail_key).exists() for p in subject):
        bench.failures.append("purge: some of the subject's files remain")
    if Photo.objects.filter(id__in=[p.id for p in others]).count() != len(others) or not all(
        (media_root / p.storage_key).exists() for p in others
    ):
        bench.failures.append("purge: other people's photos were touched")

    # The bare equivalent: the same number of files unlinked, the same rows (candidates, faces, photos)
    # deleted by id in one transaction, nothing else.
    bare = _photos_on_disk(config.photos, label="bare", media_root=media_root, request=request)
    ids = [p.id for p in bare]
    bench.vacuum_analyze("removal_photo", "removal_face", "removal_candidate")
    connection.close()
    began = time.perf_counter()
    for photo in bare:
        os.unlink(media_root / photo.storage_key)
        os.unlink(media_root / photo.thumbnail_key)
    report.bare_files_s = time.perf_counter() - began
    rows_began = time.perf_counter()
    with transaction.atomic():
        Candidate.objects.filter(face__photo_id__in=ids)._raw_delete(connection.alias)
        Face.objects.filter(photo_id__in=ids)._raw_delete(connection.alias)
        Photo.objects.filter(id__in=ids)._raw_delete(connection.alias)
    report.bare_rows_s = time.perf_counter() - rows_began
    report.bare_s = time.perf_counter() - began
    if Photo.objects.filter(id__in=ids).exists():
        bench.failures.append("purge: the bare delete left rows")
    return report


def print_purge(report: PurgeReport, config: Config, bench: Bench) -> None:
    per_second = report.photos / report.ours_s
    print(f"approve        : {report.approve_s * 1000:.0f} ms (jobs and their plans, in one transaction)")
    for target, seconds in report.jobs_s.items():
        print(f"job {target:<15}: {seconds:.2f} s")
    print(
        f"ours           : {report.ours_s:.2f} s for {report.photos:,} photos ({per_second:,.0f} photos/s; "
        f"{2 * report.photos:,} files, {report.photos:,} photo and face rows, receipt and completion)"
    )
    print(
        f"bare           : {report.bare_s:.2f} s (unlink {report.bare_files_s:.2f} s, DELETE "
        f"{report.bare_rows_s:.2f} s)"
    )
    target = f" (target <= {config.max_purge_ratio:g}x)" if config.max_purge_ratio else ""
    print(f"ratio ours/bare: {report.ratio:.2f}x{target}; load average {os.getloadavg()[0]:.1f}")
    if config.max_purge_ratio and report.ratio > config.max_purge_ratio:
        bench.failures.append(f"purge: ours/bare {report.ratio:.2f} exceeds {config.max_purge_ratio:g}")


# --- Main -----------------------------------------------------------------------------------------


def _run(config: Config) -> int:
    db_name = f"removal_bench_{os.getpid()}"
    var_dir = Path(tempfile.mkdtemp(prefix="removal-bench-"))
    (var_dir / "static").mkdir()
    try:
        with throwaway_database(db_name) as database_url:
            env = django_env(database_url=database_url, var_dir=var_dir)
            print(f"database {db_name}: migrating ...", flush=True)
            manage(["migrate", "--noinput"], env=env, timeout=300)
            bench = Bench(config=config, db_name=db_name)
            try:
                bench.start_django(env)
                bench.connect_pg()
                if config.part in ("discovery", "all"):
                    print_discovery(discovery(bench, config), config, bench)
                if config.part in ("purge", "all"):
                    print_purge(purge(bench, config, media_root=var_dir / "media"), config, bench)
            finally:
                bench.close()
            print(f"checks         : {'all passed' if not bench.failures else 'FAILED'}")
            for failure in bench.failures:
                print(f"  - {failure}")
            return 1 if bench.failures else 0
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    return run_guarded(lambda: _run(config), timeout=config.timeout)


if __name__ == "__main__":
    sys.exit(main())
