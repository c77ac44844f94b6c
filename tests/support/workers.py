"""Real Celery workers for tests: an SMTP server in the test process, the broker's keys, the worker process.

Registered as a pytest plugin in tests/conftest.py; its fixtures:

- `smtp_servers`: start aiosmtpd servers on demand (`smtp_servers.start(port)` returns the `Inbox`).
- `broker_key_prefix`: this test's own broker key prefix, CELERY_KEY_PREFIX plus a random token. The
  Celery app of the test process publishes under it for the test's duration and the workers consume
  under it, so two runs on the same Redis database never take each other's tasks. Afterwards the keys
  the test created under it are deleted (never FLUSHALL/FLUSHDB). Without CELERY_KEY_PREFIX the test is
  skipped (failed under REQUIRE_SERVICES=1): the broker's keys could not be told apart from anybody's.
- `celery_workers`: start `celery worker` processes against this run's test database, the test's Redis
  prefix and a local SMTP port; every one is stopped by pid afterwards.

`published_to_the_broker()` switches this process's Celery out of eager mode (the test settings) for a
block, so tasks are published to Redis for a worker to run; `publishing_to_redis_at(url)` points that
at another Redis server (a test's private one) for a block. `queries_waiting_on_this_connection()` lists
the queries of other backends (workers) queued behind a row lock the test holds, to make races certain.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import quote

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from kombu import pools

from config.celery import app as celery_app
from tests.conftest import _unavailable

WAIT_SECONDS = 30.0
WORKER_READY_TIMEOUT = 30.0


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; it stays free for the test's few seconds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- An SMTP server in the test process ------------------------------------------------------------


class Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [_parse(envelope) for envelope in list(self.envelopes)]

    def to(self, address: str) -> list[str]:
        """The subjects of what was sent to exactly this address, in the order received."""
        return [
            str(_parse(envelope)["Subject"])
            for envelope in list(self.envelopes)
            if envelope.rcpt_tos == [address]
        ]

    def team(self) -> list[str]:
        return self.to(settings.PRIVACY_TEAM_EMAIL)


def _parse(envelope: Any) -> EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


@dataclass
class SmtpServers:
    """Start SMTP servers on demand (a test can start one late) and stop them all afterwards."""

    controllers: list[Controller] = field(default_factory=list)

    def start(self, port: int) -> Inbox:
        inbox = Inbox(port)
        controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="localhost")
        controller.start()
        self.controllers.append(controller)
        return inbox

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


@pytest.fixture
def smtp_servers() -> Iterator[SmtpServers]:
    """SMTP servers in this process, started by the test (`smtp_servers.start(port)`), stopped after."""
    servers = SmtpServers()
    yield servers
    servers.stop()


# --- Broker keys -----------------------------------------------------------------------------------


def configured_key_prefix() -> str:
    """CELERY_KEY_PREFIX as the settings read it; skip (or fail under REQUIRE_SERVICES=1) without one."""
    prefix = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""))
    if not prefix:
        # Without a prefix the broker's keys cannot be told apart from anybody else's in that database.
        _unavailable("set CELERY_KEY_PREFIX (e.g. removal-ci:) so the test's broker keys can be cleaned up")
    return prefix


def _glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


@contextmanager
def _app_publishing_with(**conf_changes: Any) -> Iterator[None]:
    """This process's Celery app publishes with these settings changed for the block, then as before.

    The app reads its broker settings when it opens a connection, and keeps the connection pool and
    producer pool it opened first (kombu keys its global pools by URL and options): clearing both makes
    the next publish open a connection with the changed settings. Afterwards those pools are closed
    and dropped, and the app gets its settings and earlier pools back.
    """
    conf, app_state, amqp_state = celery_app.conf, vars(celery_app), vars(celery_app.amqp)
    before = {name: getattr(conf, name) for name in conf_changes}  # reading finalizes `app.conf`
    changes = conf.changes  # what was set on the app itself, above what it read from Django's settings
    assert isinstance(changes, dict)
    overridden = {name for name in conf_changes if name in changes}
    pool, producer_pool = app_state.get("_pool"), amqp_state.get("_producer_pool")
    for name, value in conf_changes.items():
        setattr(conf, name, value)
    app_state["_pool"] = amqp_state["_producer_pool"] = None
    try:
        yield
    finally:
        for opened in (amqp_state.get("_producer_pool"), app_state.get("_pool")):
            if opened is not None:
                opened.force_close_all()
        key = celery_app.connection_for_write()  # never connected: it names these settings' pools
        for group in (pools.producers, pools.connections):
            with suppress(KeyError):
                del group[key]
        app_state["_pool"], amqp_state["_producer_pool"] = pool, producer_pool
        for name, value in before.items():
            if name in overridden:
                setattr(conf, name, value)
            else:
                del changes[name]


def _publishing_under(prefix: str) -> AbstractContextManager[None]:
    """This process's Celery app publishes under `prefix` for the block, then as before."""
    options = celery_app.conf.broker_transport_options
    return _app_publishing_with(broker_transport_options={**options, "global_keyprefix": prefix})


def publishing_to_redis_at(url: str) -> AbstractContextManager[None]:
    """This process's Celery app publishes to the Redis server at `url` for the block (still under the
    test's key prefix): for a test's private server (tests/support/chaos.py, `private_redis`)."""
    return _app_publishing_with(broker_url=url)


@pytest.fixture
def broker_key_prefix() -> Iterator[str]:
    """This test's broker key prefix, used by this process and the workers; its keys deleted afterwards."""
    prefix = f"{configured_key_prefix()}{secrets.token_hex(4)}:"
    client = redis.Redis.from_url(settings.REDIS_URL)
    pattern = f"{_glob_escape(prefix)}*"
    before = set(client.scan_iter(match=pattern, count=500))
    try:
        with _publishing_under(prefix):
            yield prefix
    finally:
        # Only what appeared under this test's own prefix while it ran (normally: everything there).
        created = set(client.scan_iter(match=pattern, count=500)) - before
        if created:
            client.delete(*created)
        client.close()


@contextmanager
def published_to_the_broker() -> Iterator[None]:
    """This process's Celery is eager under the test settings: publish to Redis for real instead."""
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = was_eager


# --- Row locks the test holds ------------------------------------------------------------------------


def queries_waiting_on_this_connection() -> list[str]:
    """Queries of other backends waiting, directly or in the lock queue, for a lock this connection holds.

    The first waiter on a row lock waits for this transaction; later ones queue behind the first
    waiter's tuple lock, so they are found by following `pg_blocking_pids` back to us.
    """
    with connection.cursor() as cursor:
        # pg_stat_activity is a snapshot taken once per transaction unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT pg_backend_pid()")
        [(us,)] = cursor.fetchall()
        cursor.execute(
            "SELECT pid, query, pg_blocking_pids(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
        )
        blocked = {pid: (query, set(blockers)) for pid, query, blockers in cursor.fetchall()}
    behind_us = {us}
    while grown := {pid for pid, (_, blockers) in blocked.items() if blockers & behind_us} - behind_us:
        behind_us |= grown
    return [blocked[pid][0] for pid in behind_us - {us}]


# --- The worker process ----------------------------------------------------------------------------


def worker_database_url() -> str:
    """This run's test database (e.g. test_test) as a URL the worker's settings read."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


def worker_arguments(*, hostname: str, extra: Sequence[str] = (), queues: str = "celery,mail") -> list[str]:
    """`celery` arguments for one solo worker on `queues` (default: both, the jobs' and the mail's),
    named `hostname-<random>@host`."""
    return [
        "-A",
        "config",
        "worker",
        *extra,
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        queues,
        "--loglevel",
        "INFO",
        "--hostname",
        f"{hostname}-{uuid.uuid4().hex[:8]}@%h",
    ]


@dataclass
class CeleryWorker:
    process: subprocess.Popen[bytes]
    log_path: Path
    name: str
    stopped: bool = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], *, what: str, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.process.returncode}) while waiting for {what}:\n{self.log()}"
                )
            time.sleep(0.05)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; {self.name}'s log:\n{self.log()}")

    def stop(self) -> None:
        """Warm shutdown by pid; then end whatever is left of its process group (an embedded beat)."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        # The worker leads its own session (start_new_session), so its group id is its pid. Normally the
        # group is empty by now (beat ends with the worker); a worker killed above may orphan its beat.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


W = TypeVar("W", bound=CeleryWorker)


class CeleryWorkers:
    """The workers one test starts: numbered logs in tmp_path, the test's services, all stopped after."""

    def __init__(self, *, key_prefix: str, tmp_path: Path) -> None:
        self.key_prefix = key_prefix
        self.tmp_path = tmp_path
        self.started: list[CeleryWorker] = []

    @property
    def next_number(self) -> int:
        return len(self.started) + 1

    def environment(self, *, smtp_port: int, overrides: Mapping[str, str]) -> dict[str, str]:
        """Production's settings from the environment, pointed at this test's database, Redis and SMTP."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # config.settings_test put the test keys in os.environ: the worker must open the same vault.
            "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
            "VAULT_MASTER_KEYS": os.environ["VAULT_MASTER_KEYS"],
            "VAULT_BLIND_INDEX_KEY": os.environ["VAULT_BLIND_INDEX_KEY"],
            "SIGNING_KEYS": os.environ["SIGNING_KEYS"],
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_KEY_PREFIX": self.key_prefix,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_TIMEOUT": "5",
            "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
            "PRIVACY_TEAM_EMAIL": settings.PRIVACY_TEAM_EMAIL,
            "DEFAULT_FROM_EMAIL": settings.DEFAULT_FROM_EMAIL,
            "VAR_DIR": str(self.tmp_path / "var"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **overrides,
        }

    @overload
    def start(
        self, command: Sequence[str], *, name: str, smtp_port: int, env: Mapping[str, str] | None = ...
    ) -> CeleryWorker: ...

    @overload
    def start(
        self,
        command: Sequence[str],
        *,
        name: str,
        smtp_port: int,
        env: Mapping[str, str] | None = ...,
        kind: type[W],
    ) -> W: ...

    def start(
        self,
        command: Sequence[str],
        *,
        name: str,
        smtp_port: int,
        env: Mapping[str, str] | None = None,
        kind: type[CeleryWorker] = CeleryWorker,
    ) -> CeleryWorker:
        """Run `command` (a celery worker) in its own session, logging to a file; return it once ready."""
        log_path = self.tmp_path / f"celery-worker-{self.next_number}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(command),
                cwd=settings.BASE_DIR,
                env=self.environment(smtp_port=smtp_port, overrides=env or {}),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = kind(process=process, log_path=log_path, name=name)
        self.started.append(worker)
        worker.wait_for(
            lambda: " ready." in worker.log(), what=f"{name} to be ready", timeout=WORKER_READY_TIMEOUT
        )
        return worker

    def stop(self) -> None:
        with ExitStack() as stack:  # every worker is stopped even if stopping one of them fails
            for worker in self.started:
                stack.callback(worker.stop)


@pytest.fixture
def celery_workers(broker_key_prefix: str, tmp_path: Path) -> Iterator[CeleryWorkers]:
    """Start workers with `celery_workers.start(...)`; all of them are stopped (by pid) after the test."""
    workers = CeleryWorkers(key_prefix=broker_key_prefix, tmp_path=tmp_path)
    yield workers
    workers.stop()
