"""The request log under load: a bottleneck for intake? How fast are proofs, how soon is an event signed?

Run from the project root (PostgreSQL at 127.0.0.1:5432, trust auth, user `postgres`):

    .venv/bin/python bench/ledger.py                          # every part
    .venv/bin/python bench/ledger.py --part proofs --sizes 1000000   # a quicker look

Each part runs against a throwaway database `removal_bench_<pid>` (created from template0, migrated,
always dropped), with Django set up in this process and production-style settings (bench/_support.py).

* `intake`: `removal_request_create`, the service behind the form and the API, from `--clients` threads
  (8), `--requests` submissions per round, in alternating rounds with the log and with event writing
  switched off (every module's `event_append` replaced by a no-op): the ratio of the two throughputs,
  measured in one run, says whether the log is the bottleneck (1.0 = free). The outbox's enqueue is a
  no-op in both (delivery is the worker's job). In-process threads share one interpreter, so absolute
  figures are lower than over HTTP with gunicorn (bench/intake.py); the ratio is what this measures.
* `proofs`: for each of `--sizes` (1,000,000 and 10,000,000), stores the tiles of a tree of that many
  synthetic leaves (tiles_from_leaves, as `ledger_verify --rebuild-tiles` does), then times `--samples`
  inclusion proofs of random leaves and consistency proofs from a random earlier size, each with a cold
  tile cache (as one API call has), and checks every proof with ledger/verify_bundle.py.
* `export`: for each of `--export-requests` (100,000 and 1,000,000), fills the log with a year of that
  many requests (a received event and a closing event each: complied, denied or late; written with
  COPY, the tiles built as `ledger_verify --rebuild-tiles` does, one signed checkpoint), then times
  `manage.py export_request_log` for the whole year in a process of its own and prints that process's
  peak RSS: the figure must not grow with the year (the export reads a thousand requests at a time);
  then checks the bundle with ledger/verify_bundle.py and times that too.
* `delay`: starts the real `manage.py ledger_sequencer` (interval LEDGER_SEQUENCE_INTERVAL_SECONDS,
  default 1 s), commits `--events` events at about 50 per second, and prints the delay from each commit
  to the first signed checkpoint containing it (p50, p99, max), against the 2 s the issue allows.

The load average is printed with the figures: the machine is shared, compare ratios from one run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench._support import (  # noqa: E402
    VENV_BIN,
    BenchError,
    django_env,
    manage,
    percentile,
    run_guarded,
    run_measuring_peak_rss,
    throwaway_database,
)

# Every module that writes events imported `event_append` by name: switching the log off replaces each.
_WRITERS = [
    "removal.services.common",
    "removal.services.downstream",
    "removal.services.suppression",
    "removal.receipts",
]


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg())


def _ms(values: list[float]) -> str:
    return (
        f"p50 {1000 * percentile(values, 50):.2f} ms  p95 {1000 * percentile(values, 95):.2f} ms  "
        f"p99 {1000 * percentile(values, 99):.2f} ms  max {1000 * max(values):.2f} ms"
    )


# --- intake -----------------------------------------------------------------------------------------


def _intake_round(clients: int, requests: int, offset: int) -> float:
    from django.db import connection

    from removal import services
    from removal.models import Channel

    counter = iter(range(offset, offset + requests))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                services.removal_request_create(
                    name=f"Bench Person {n}",
                    email=f"bench-{n}@example.org",
                    right="erasure",
                    jurisdictions=["EU"],
                    channel=Channel.WEB,
                    actor=services.SUBJECT,
                )
        except BaseException as exc:  # reported below: a bench that hides errors measures nothing
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise BenchError(f"intake failed: {errors[0]!r}")
    return requests / elapsed


def part_intake(config: argparse.Namespace) -> None:
    import importlib

    import notifications.services
    from ledger.models import AuditEvent
    from removal.models import RemovalRequest

    notifications.services._enqueue_delivery = lambda *args, **kwargs: None
    modules = [importlib.import_module(name) for name in _WRITERS]
    real = [getattr(module, "event_append") for module in modules]  # noqa: B009

    def switched_off(**kwargs: Any) -> None:
        return None

    def log(on: bool) -> None:
        for module, function in zip(modules, real, strict=True):
            setattr(module, "event_append", function if on else switched_off)  # noqa: B010

    _intake_round(config.clients, 50, 10_000_000)  # warm-up: templates, connections, code
    rates: dict[bool, list[float]] = {True: [], False: []}
    offset = 0
    for _ in range(config.rounds):
        for on in (True, False):
            log(on)
            rates[on].append(_intake_round(config.clients, config.requests, offset))
            offset += config.requests
    log(True)
    events = AuditEvent.objects.filter(action="request.received").count()
    stored = RemovalRequest.objects.count()
    expected_events = config.rounds * config.requests + 50
    if events != expected_events:
        raise BenchError(f"{events} request.received events, expected {expected_events}")
    with_log, without = (
        sorted(rates[True])[len(rates[True]) // 2],
        sorted(rates[False])[len(rates[False]) // 2],
    )
    print(
        f"intake, {config.clients} clients, {config.rounds} rounds of {config.requests}: "
        f"with the log {with_log:.0f}/s, event writing off {without:.0f}/s (medians): "
        f"ratio {with_log / without:.2f} ({stored} requests stored); {_load()}"
    )


# --- proofs -----------------------------------------------------------------------------------------


def _synthetic_leaves(size: int) -> Iterator[bytes]:
    for i in range(size):
        yield hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest()


def part_proofs(config: argparse.Namespace) -> None:
    from ledger import merkle, verify_bundle
    from ledger.tiles import TileStore, tiles_from_leaves

    rng = random.Random(6962)
    for size in config.sizes:
        began = time.perf_counter()
        tiles_from_leaves(_synthetic_leaves(size))
        built = time.perf_counter() - began
        root = merkle.root_hash(TileStore(size), size)
        inclusion: list[float] = []
        consistency: list[float] = []
        for _ in range(config.samples):
            index = rng.randrange(size)
            started = time.perf_counter()
            store = TileStore(size)
            path = merkle.inclusion_proof(store, index, size)
            leaf = store.node(0, index)
            inclusion.append(time.perf_counter() - started)
            verify_bundle.verify_inclusion(index, size, leaf, path, root)
            first = rng.randrange(1, size)
            started = time.perf_counter()
            proof = merkle.consistency_proof(TileStore(size), first, size)
            consistency.append(time.perf_counter() - started)
            verify_bundle.verify_consistency(
                first, size, proof, merkle.root_hash(TileStore(size), first), root
            )
        print(f"proofs at {size:,} entries (tiles stored in {built:.1f} s; {_load()}):")
        print(f"  inclusion   ({config.samples}, cold tile cache): {_ms(inclusion)}")
        print(f"  consistency ({config.samples}, cold tile cache): {_ms(consistency)}")


# --- export -------------------------------------------------------------------------------------------


def _year_of_requests(count: int) -> None:
    """`count` requests of 2025, each a received and a closing event, straight into the log."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from ledger import merkle
    from ledger.entries import JsonValue, leaf_payload
    from ledger.models import AuditEvent
    from ledger.services import ledger_sequence
    from ledger.tiles import tiles_from_leaves

    with connection.cursor() as cursor:
        # The bench's own throwaway database: empty what earlier parts logged through the triggers' door.
        cursor.execute("SET ledger.allow_truncate = 'on'")
        cursor.execute("TRUNCATE ledger_auditevent, ledger_checkpoint, ledger_tile")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    step = timedelta(seconds=365 * 86400 / count)
    leaves: list[bytes] = []
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY ledger_auditevent (event_id, occurred_at, actor, action, object_type, object_id, outcome, "
            "payload, leaf_hash, leaf_index, sequenced_at) FROM STDIN"
        ) as copy,
    ):
        for n in range(count):
            request_id = str(uuid.UUID(int=n + 1))
            received = start + n * step
            due = received + timedelta(days=30)
            closed = received + timedelta(days=40 if n % 10 == 0 else 12)
            to, basis = ("denied", "manifestly_unfounded") if n % 7 == 0 else ("completed", None)
            opened: dict[str, JsonValue] = {
                "reference": f"RR-{n:08d}",
                "received_at": received.isoformat(),
                "respond_by": due.isoformat(),
                "right": "erasure",
                "channel": "web",
                "jurisdictions": ["FR"],
            }
            answered: dict[str, JsonValue] = {
                "from": "verified",
                "to": to,
                **({"basis": basis} if basis else {}),
            }
            closing = "request.deny" if basis else "request.complete_purge"
            for occurred, action, details in (
                (received, "request.received", opened),
                (closed, closing, answered),
            ):
                event_id = uuid.uuid4()
                payload = leaf_payload(
                    event_id=event_id, occurred_at=occurred, actor="system", action=action,
                    object_type="removal_request", object_id=request_id, outcome="ok", details=details,
                )  # fmt: skip
                leaf = merkle.leaf_hash(payload.encode())
                leaves.append(leaf)
                copy.write_row(
                    (event_id, occurred, "system", action, "removal_request", request_id, "ok", payload, leaf,
                     len(leaves) - 1, occurred)
                )  # fmt: skip
    tiles_from_leaves(leaves)
    del leaves
    ledger_sequence()  # signs the imported tree, as after the old chain's migration
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_auditevent")
    assert AuditEvent.objects.count() == 2 * count


def part_export(config: argparse.Namespace, env: dict[str, str]) -> None:
    from ledger import verify_bundle

    python = VENV_BIN / "python"
    for count in config.export_requests:
        _year_of_requests(count)
        with tempfile.TemporaryDirectory(prefix="ledger-export-") as out:
            bundle = Path(out) / "bundle"
            # A process of its own, as an operator runs it: its peak RSS is the export's alone (measured
            # through a small wrapper: this process is big after filling the log).
            command = [str(python if python.exists() else sys.executable), "manage.py", "export_request_log"]
            command += ["--since", "2025-01-01", "--until", "2025-12-31", "--jurisdiction", "FR"]
            command += ["--out", str(bundle)]
            began = time.perf_counter()
            child, peak = run_measuring_peak_rss(
                command, cwd=_ROOT, env=env, capture_output=True, text=True, timeout=3600
            )
            elapsed = time.perf_counter() - began
            output = child.stdout + child.stderr
            if child.returncode != 0 or not output.startswith(f"{count} request(s)"):
                raise BenchError(f"the export failed or holds the wrong rows: {output[-2000:]}")
            size = sum(p.stat().st_size for p in bundle.iterdir())
            began = time.perf_counter()
            problems = verify_bundle.bundle_verify(bundle)
            checked = time.perf_counter() - began
            if problems:
                raise BenchError(f"the bundle does not verify: {problems[:3]}")
        print(
            f"export of a year of {count:,} requests ({2 * count:,} entries): {elapsed:.1f} s "
            f"({count / elapsed:,.0f} rows/s), peak RSS of the export process "
            f"{peak if peak is not None else float('nan'):.0f} MiB, "
            f"bundle {size / 2**20:.0f} MiB; offline verification {checked:.1f} s; {_load()}"
        )


# --- delay ------------------------------------------------------------------------------------------


def part_delay(config: argparse.Namespace, env: dict[str, str]) -> None:
    from django.db import transaction

    from ledger.models import AuditEvent, Checkpoint
    from ledger.services import event_append

    python = VENV_BIN / "python"
    sequencer = subprocess.Popen(
        [str(python if python.exists() else sys.executable), "manage.py", "ledger_sequencer"],
        cwd=_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed: dict[int, float] = {}
    try:
        time.sleep(1.0)
        for n in range(config.events):
            with transaction.atomic():
                event = event_append(actor="system", action="bench.event", object_type="bench", object_id=n)
            committed[event.id] = time.time()
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while AuditEvent.objects.filter(leaf_index__isnull=True).exists():
            if time.monotonic() > deadline or sequencer.poll() is not None:
                raise BenchError("the sequencer did not sequence every event within 10 s")
            time.sleep(0.1)
        time.sleep(2 * float(env.get("LEDGER_SEQUENCE_INTERVAL_SECONDS", "1")))
    finally:
        sequencer.terminate()
        try:
            sequencer.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sequencer.kill()
            sequencer.wait()
    checkpoints = list(Checkpoint.objects.order_by("tree_size").values_list("tree_size", "created_at"))
    delays = []
    for event_id, index in AuditEvent.objects.filter(id__in=committed).values_list("id", "leaf_index"):
        assert index is not None
        signed = next(created for size, created in checkpoints if size > index)
        delays.append(signed.timestamp() - committed[event_id])
    print(
        f"commit to signed checkpoint, {len(delays)} events at ~50/s, interval "
        f"{env.get('LEDGER_SEQUENCE_INTERVAL_SECONDS', '1.0')} s: {_ms(delays)} "
        f"({len(checkpoints)} checkpoints; {_load()})"
    )


# --- main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["intake", "proofs", "delay", "export", "all"], default="all")
    parser.add_argument("--export-requests", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="submissions per intake round")
    parser.add_argument("--rounds", type=int, default=3, help="intake rounds of each kind, alternating")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=3600)
    return parser.parse_args(argv)


def _run(config: argparse.Namespace) -> int:
    name = f"removal_bench_{os.getpid()}"
    with throwaway_database(name) as url, tempfile.TemporaryDirectory(prefix="ledger-bench-") as var_dir:
        env = django_env(database_url=url, var_dir=Path(var_dir))
        manage(["migrate", "--noinput"], env=env, timeout=600)
        os.environ.update(env)
        import django

        django.setup()
        parts: dict[str, Callable[[], None]] = {
            "intake": lambda: part_intake(config),
            "delay": lambda: part_delay(config, env),
            "proofs": lambda: part_proofs(config),
            "export": lambda: part_export(config, env),
        }
        try:
            for part, run in parts.items():
                if config.part in (part, "all"):
                    run()
        finally:
            from django.db import connections

            connections.close_all()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    return run_guarded(lambda: _run(config), timeout=config.timeout)


if __name__ == "__main__":
    sys.exit(main())
