"""Chaos-test tools on the test's side (a pytest plugin, see tests/conftest.py).

- `shared_media`: this process's default storage becomes the file system under the workers' VAR_DIR
  (tmp_path/var/media), instead of the test settings' in-memory storage: the files a test ingests are
  the ones its workers delete.
- `Journal`: reads the journal of real deletions that a chaos worker writes
  (tests/support/chaos_worker.py, run with DJANGO_SETTINGS_MODULE=tests.support.chaos_settings), and
  waits for the marker that says the worker reached its pause point.
- `KillableWorker`: a worker process the test can SIGKILL (with its embedded beat, if any).
- `private_redis`: a `redis-server` of the test's own on a free port, without persistence, that the
  test may flush; stopped by pid afterwards. The shared Redis is never flushed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from tests.conftest import _unavailable
from tests.support.chaos_worker import marker_path
from tests.support.workers import WAIT_SECONDS, CeleryWorker, free_port

# --- Storage shared with the workers ---------------------------------------------------------------


def media_root(tmp_path: Path) -> Path:
    """MEDIA_ROOT of the workers tests/support/workers.py starts (their VAR_DIR is tmp_path/var)."""
    return tmp_path / "var" / "media"


@pytest.fixture
def shared_media(tmp_path: Path) -> Iterator[Path]:
    """The file system storage the workers use, for this process too; yields its root."""
    root = media_root(tmp_path)
    root.mkdir(parents=True, exist_ok=True)
    storages = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    # override_settings resets `default_storage` on entry and exit (Django's setting_changed handler).
    with override_settings(STORAGES=storages, MEDIA_ROOT=root):
        yield root


def files_under(root: Path) -> set[str]:
    """Every file below `root`, as storage names."""
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


# --- The deletion journal --------------------------------------------------------------------------


@dataclass
class Journal:
    """The chaos workers' journal of real deletions: one `name<TAB>pid` line per removed file."""

    path: Path

    @property
    def marker(self) -> Path:
        return marker_path(self.path)

    def names(self) -> list[str]:
        if not self.path.exists():
            return []
        return [line.split("\t")[0] for line in self.path.read_text().splitlines()]

    def counts(self) -> Counter[str]:
        return Counter(self.names())

    def under(self, prefix: str) -> list[str]:
        return [name for name in self.names() if name.startswith(prefix)]

    def wait_for_pause(self, worker: CeleryWorker, *, timeout: float = WAIT_SECONDS) -> str:
        """Wait until `worker` sleeps at its pause point; returns where it paused."""
        worker.wait_for(self.marker.exists, what="the worker to reach its pause point", timeout=timeout)
        return self.marker.read_text().strip()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "deletions.journal")


def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll `condition` (when no live worker's `wait_for` fits: after a kill, say)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


# --- A worker the test kills -----------------------------------------------------------------------


class KillableWorker(CeleryWorker):
    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost machine would: no shutdown, no ack, no rollback
        from the worker's side (PostgreSQL rolls back its open transaction when the connection drops)."""
        self.stopped = True
        # The worker leads its own session: its group is the worker and its embedded beat, if any.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


# --- A Redis server of the test's own --------------------------------------------------------------


@dataclass
class PrivateRedis:
    binary: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def start(self) -> None:
        """Start the server (empty: it keeps nothing on disk) and wait until it answers."""
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = self.client()
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log_text = (self.workdir / "redis.log").read_text()
                        pytest.fail(f"private redis-server did not start:\n{log_text}")
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crashed or lost server: everything it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server only this test uses (no RDB, no AOF), which it may FLUSHALL or kill and start
    again empty on the same port (`kill()`, `start()`); stopped by pid afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("needs the redis-server program (Debian's redis-server package) for a private server")
        raise AssertionError("unreachable")
    workdir = tmp_path / "private-redis"
    workdir.mkdir()
    server = PrivateRedis(binary=binary, port=free_port(), workdir=workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
