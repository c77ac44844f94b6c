"""Intake throughput: submissions per second through the public JSON API, on PostgreSQL.

Run from the project root:

    .venv/bin/python bench/intake.py                      # 2000 requests, 8 clients, 2 workers
    .venv/bin/python bench/intake.py --requests 500 --clients 4 --workers 1

What it does, end to end, on this machine only (127.0.0.1):

1. creates a throwaway database `removal_bench_<pid>` on the PostgreSQL at 127.0.0.1:5432 (trust
   auth, user `postgres`) and runs `manage.py migrate` against it;
2. starts `gunicorn config.wsgi` from .venv/bin on a free port with production-style settings
   (DEBUG off, fresh secrets, no Redis: the file-system broker lives in a temporary VAR_DIR) and
   waits for `/healthz`;
3. sends a warm-up (not counted), then `--requests` submissions from `--clients` threads, each
   thread with its own `http.client` connection and every submission a distinct e-mail address;
4. checks that every answer was 202, that the database holds exactly one RemovalRequest per
   submission and that the request log verifies;
5. posts as many to a bare view (bench/bare_urls.py: same gunicorn, middleware and database; it parses
   the JSON and inserts one row) and prints the intake's throughput as a ratio to it;
6. prints the configuration, submissions/s, latency percentiles and row counts;
7. stops gunicorn and drops the database, also after a failure, a timeout or Ctrl-C.

Setup and load are bounded by `--timeout` seconds (a run cut short is reported as failed, with the
figures it got); the final check, shutdown and cleanup have their own short limits. The figures are
for reading, not for asserting: no test depends on them. Exit status is 0 only when every
correctness check passed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script (`python bench/intake.py`): the project root is not on sys.path by itself.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench._support import (  # noqa: E402
    HOST,
    ROOT,
    VENV_BIN,
    BenchError,
    Stop,
    django_env,
    install_stop_handlers,
    manage,
    percentile,
    server_version,
    throwaway_database,
)

INTAKE_PATH = "/api/v1/requests/"
BARE_PATH = "/bench/bare/"
EXPECTED_STATUS = 202


# --- Configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    requests: int
    clients: int
    workers: int
    threads: int
    warmup: int
    timeout: float

    @property
    def deadline(self) -> float:
        return _START + self.timeout


_START = time.monotonic()


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description="Submissions per second through POST /api/v1/requests/ on gunicorn + PostgreSQL.",
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured submissions (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per gunicorn worker (default 1: sync workers; above 1 gunicorn uses gthread)",
    )
    parser.add_argument("--warmup", type=int, default=50, help="uncounted submissions first (default 50)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="hard limit on the whole run, seconds (default 300)"
    )
    args = parser.parse_args(argv)
    for name in ("requests", "clients", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or args.timeout <= 0:
        parser.error("--warmup must be >= 0 and --timeout > 0")
    if args.requests > 1_000_000:
        parser.error("--requests is capped at 1,000,000")
    return Config(
        requests=args.requests,
        clients=args.clients,
        workers=args.workers,
        threads=args.threads,
        warmup=args.warmup,
        timeout=args.timeout,
    )


def remaining(config: Config, cap: float) -> float:
    left = config.deadline - time.monotonic()
    if left <= 0:
        raise BenchError(f"hard timeout of {config.timeout:.0f} s reached")
    return min(cap, left)


# --- Server ---------------------------------------------------------------------------------------


def server_env(*, database_url: str, var_dir: Path) -> dict[str, str]:
    env = django_env(database_url=database_url, var_dir=var_dir)
    env.update({"DJANGO_ALLOWED_HOSTS": HOST, "API_INTAKE_RATE": "1000000/minute"})
    # Production's settings plus the bare view the intake is compared with (bench/bare_urls.py).
    env["DJANGO_SETTINGS_MODULE"] = "bench.bare_settings"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    def __init__(self, *, config: Config, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        command = [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(config.workers),
            "--threads",
            str(config.threads),
            "--chdir",
            str(ROOT),
            "--graceful-timeout",
            "10",
            # Gunicorn 27 otherwise opens a control socket in ~/.gunicorn, shared by every server.
            "--no-control-socket",
        ]
        self._log = log_path.open("wb")
        # Its own session: Ctrl-C reaches only this script, which then stops gunicorn in order.
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_healthy(self, config: Config) -> None:
        limit = time.monotonic() + remaining(config, 60)
        last_error = ""
        while time.monotonic() < limit:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}: {body[:200]!r}"
            except OSError as exc:
                last_error = repr(exc)
            finally:
                conn.close()
            time.sleep(0.2)
        raise BenchError(f"/healthz did not answer 200 in time ({last_error}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process = self.process
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    # The master did not stop its workers in time: end the whole group it leads.
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        finally:
            self._log.close()
        # Workers notice a dead master and exit; make sure none of the group outlives it.
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(1)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


# --- Load -----------------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    total: int
    latencies: list[float] = field(default_factory=list)  # seconds, 202 answers only
    statuses: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    elapsed: float = 0.0
    complete: bool = False

    @property
    def done(self) -> int:
        return sum(self.statuses.values())


def _payload(run_id: str, label: str, index: int) -> bytes:
    return json.dumps(
        {
            "name": f"Bench Subject {index}",
            # Distinct per run, phase and index: no submission is a duplicate of another.
            "email": f"bench-{run_id}-{label}-{index}@example.com",
            "right": "erasure",
            "jurisdictions": ["EU"],
        }
    ).encode()


def run_phase(
    *, label: str, total: int, config: Config, port: int, run_id: str, path: str = INTAKE_PATH
) -> Phase:
    phase = Phase(label=label, total=total)
    if total == 0:
        phase.complete = True
        return phase
    lock = threading.Lock()
    next_index = iter(range(total))
    start = threading.Event()
    stop = threading.Event()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        connects = 0
        start.wait()
        try:
            while not stop.is_set() and time.monotonic() < config.deadline:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    break
                body = _payload(run_id, label, index)
                if conn.sock is None:
                    # Sync gunicorn workers answer "Connection: close"; http.client then reconnects.
                    connects += 1
                began = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as exc:
                    statuses[type(exc).__name__] += 1
                    conn.close()
                    continue
                took = time.perf_counter() - began
                statuses[str(response.status)] += 1
                if response.status == EXPECTED_STATUS:
                    latencies.append(took)
        finally:
            conn.close()
            with lock:
                phase.latencies.extend(latencies)
                phase.statuses.update(statuses)
                phase.connects += connects

    threads = [
        threading.Thread(target=client, name=f"{label}-{n}", daemon=True) for n in range(config.clients)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.set()
    try:
        for thread in threads:
            # Short joins keep the main thread responsive to Ctrl-C.
            while thread.is_alive():
                thread.join(timeout=0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=35)
    phase.elapsed = time.perf_counter() - began
    phase.complete = phase.done == total
    return phase


# --- Checks ---------------------------------------------------------------------------------------

_CHECK_CODE = """
import json
from notifications.models import Message
from ledger.models import AuditEvent
from ledger.services import ledger_sequence
from ledger.verification import ledger_verify
from removal.models import RemovalRequest, RequestJurisdiction
while ledger_sequence().sequenced:
    pass
report = ledger_verify()
print(json.dumps({
    "removal_requests": RemovalRequest.objects.count(),
    "distinct_email_indexes": RemovalRequest.objects.values("email_blind_index").distinct().count(),
    "request_jurisdictions": RequestJurisdiction.objects.count(),
    "audit_events": AuditEvent.objects.count(),
    "received_events": AuditEvent.objects.filter(action="request.received").count(),
    "messages": Message.objects.count(),
    "chain_checked": report.entries,
    "chain_ok": report.ok,
    "chain_problems": report.problems[:5],
}))
"""


def database_counts(*, env: dict[str, str]) -> dict[str, object]:
    # Not tied to the run's deadline: after a timeout the partial figures are still worth checking.
    output = manage(["shell", "-c", _CHECK_CODE], env=env, timeout=120)
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise BenchError(f"no result from the database check:\n{output[-2000:]}")


# --- Report ---------------------------------------------------------------------------------------


def print_report(
    *,
    config: Config,
    pg_version: str,
    warmup: Phase,
    measured: Phase,
    bare: Phase,
    counts: dict[str, object],
) -> list[str]:
    """Print the figures; return the failed checks (empty when all passed)."""
    failures: list[str] = []
    expected_rows = config.requests + config.warmup
    print()
    print("== Intake benchmark: POST /api/v1/requests/ (gunicorn + PostgreSQL, 127.0.0.1) ==")
    print(
        f"machine        : {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {pg_version}"
    )
    worker_kind = "sync" if config.threads == 1 else f"gthread x{config.threads}"
    print(f"server         : gunicorn, {config.workers} workers ({worker_kind})")
    # Other work on a shared machine moves these figures a lot: the load average says how busy it was.
    print(
        "load average   : {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the end of the run".format(*os.getloadavg())
    )
    print(
        f"load           : {config.requests} requests, {config.clients} client threads, "
        f"warm-up {config.warmup} (not counted)"
    )
    print(f"statuses       : {dict(sorted(measured.statuses.items()))} (warm-up: {dict(warmup.statuses)})")
    print(f"connections    : {measured.connects} opened for {measured.done} requests")
    if measured.latencies:
        lat = sorted(measured.latencies)
        ms = [1000 * percentile(lat, p) for p in (50, 95, 99)]
        print(f"elapsed        : {measured.elapsed:.2f} s")
        print(f"throughput     : {measured.done / measured.elapsed:.1f} submissions/s")
        print(
            f"latency (ms)   : p50 {ms[0]:.1f}  p95 {ms[1]:.1f}  p99 {ms[2]:.1f}  "
            f"max {1000 * lat[-1]:.1f}  mean {1000 * sum(lat) / len(lat):.1f}"
        )
    if bare.latencies and measured.latencies:
        bare_lat = sorted(bare.latencies)
        bare_rate = bare.done / bare.elapsed
        print(
            f"bare view      : {bare_rate:.1f} posts/s, p99 {1000 * percentile(bare_lat, 99):.1f} ms "
            f"(POST {BARE_PATH}: the same middleware, parse the JSON, insert one row)"
        )
        print(f"intake / bare  : {measured.done / measured.elapsed / bare_rate:.2f} (same run)")
    print(
        f"database       : {counts.get('removal_requests')} removal requests "
        f"(expected {expected_rows}), {counts.get('distinct_email_indexes')} distinct e-mail indexes, "
        f"{counts.get('request_jurisdictions')} jurisdiction rows, {counts.get('messages')} outbox "
        f"messages, {counts.get('audit_events')} audit events "
        f"({counts.get('received_events')} request.received)"
    )
    print(
        f"request log    : {'verifies' if counts.get('chain_ok') else 'BROKEN'} "
        f"({counts.get('chain_checked')} events checked)"
    )

    if not bare.complete or bare.statuses != Counter({str(EXPECTED_STATUS): bare.total}):
        failures.append(
            f"the bare view did not answer every post with {EXPECTED_STATUS}: {dict(bare.statuses)}"
        )
    if not (warmup.complete and measured.complete):
        failures.append(f"not every request was sent ({warmup.done + measured.done} of {expected_rows})")
    bad = {k: v for k, v in (warmup.statuses + measured.statuses).items() if k != str(EXPECTED_STATUS)}
    if bad:
        failures.append(f"answers other than {EXPECTED_STATUS}: {bad}")
    if counts.get("removal_requests") != expected_rows:
        failures.append(
            f"expected {expected_rows} RemovalRequest rows, found {counts.get('removal_requests')}"
        )
    if counts.get("distinct_email_indexes") != counts.get("removal_requests"):
        failures.append("some requests share an e-mail index (a submission was taken as a duplicate)")
    if counts.get("received_events") != counts.get("removal_requests"):
        failures.append("not one request.received audit event per stored request")
    if not counts.get("chain_ok"):
        failures.append(f"request log does not verify: {counts.get('chain_problems')}")
    print(f"checks         : {'all passed' if not failures else 'FAILED'}")
    for failure in failures:
        print(f"  - {failure}")
    return failures


# --- Main -----------------------------------------------------------------------------------------


def run(config: Config) -> int:
    pg_version = server_version()
    run_id = str(os.getpid())
    db_name = f"removal_bench_{run_id}"
    var_dir = Path(tempfile.mkdtemp(prefix="removal-bench-"))
    (var_dir / "static").mkdir()  # nothing collected: the API serves no static files
    try:
        with throwaway_database(db_name) as database_url:
            env = server_env(database_url=database_url, var_dir=var_dir)
            print(f"database {db_name}: migrating ...", flush=True)
            manage(["migrate", "--noinput"], env=env, timeout=remaining(config, 180))
            create = "from bench.bare_urls import create_table; create_table()"
            manage(["shell", "-c", create], env=env, timeout=remaining(config, 60))
            server = Gunicorn(config=config, env=env, log_path=var_dir / "gunicorn.log")
            try:
                server.wait_healthy(config)
                print(f"gunicorn on {HOST}:{server.port} with {config.workers} workers: healthy", flush=True)
                warmup = run_phase(
                    label="warmup", total=config.warmup, config=config, port=server.port, run_id=run_id
                )
                print(f"warm-up: {warmup.done} requests in {warmup.elapsed:.2f} s", flush=True)
                measured = run_phase(
                    label="measured", total=config.requests, config=config, port=server.port, run_id=run_id
                )
                # The floor: the same number of posts to a view that parses the JSON and inserts one row.
                run_phase(
                    label="bare-warmup",
                    total=config.warmup,
                    config=config,
                    port=server.port,
                    run_id=run_id,
                    path=BARE_PATH,
                )
                bare = run_phase(
                    label="bare",
                    total=config.requests,
                    config=config,
                    port=server.port,
                    run_id=run_id,
                    path=BARE_PATH,
                )
                if server.process.poll() is not None:
                    raise BenchError(f"gunicorn died during the run:\n{server.log_tail()}")
            finally:
                server.stop()
            counts = database_counts(env=env)
            failures = print_report(
                config=config,
                pg_version=pg_version,
                warmup=warmup,
                measured=measured,
                bare=bare,
                counts=counts,
            )
            if failures:
                print(f"gunicorn log (last lines):\n{server.log_tail()}")
            return 1 if failures else 0
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    install_stop_handlers()
    try:
        return run(config)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop):
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    except subprocess.TimeoutExpired as exc:
        print(f"bench failed: {exc.cmd[1:3]} took longer than {exc.timeout:.0f} s", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
