"""What the benchmarks share: a throwaway PostgreSQL database, fresh secrets, `manage.py`, signals.

Every benchmark runs on this machine only: the PostgreSQL at 127.0.0.1:5432 (trust auth, user
`postgres`), in a database `removal_bench_<pid>` that it creates from template0 and always drops.
"""

from __future__ import annotations

import base64
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
# Connected to only to issue CREATE/DROP DATABASE for the bench's own database; nothing in it is read
# or written. The bench database is copied from template0 so other sessions on template1 (a test run
# creating its database) neither block us nor are blocked by us.
PG_MAINTENANCE_DB = "postgres"
PROTECTED_DATABASES = frozenset({"test", "postgres", "root", "template0", "template1"})
BENCH_DB_PATTERN = re.compile(r"removal_bench_\d+")


class BenchError(RuntimeError):
    """The bench could not run or its results are wrong; the message says which."""


class Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGHUP (or a bench's own alarm) so cleanup runs as for Ctrl-C."""


def raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def install_stop_handlers() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_stop)


def run_guarded(run: Callable[[], int], *, timeout: float) -> int:
    """Run a bench's body as its exit status, cleaning up (its `finally` blocks) on every way out:
    a BenchError, Ctrl-C, SIGTERM/SIGHUP, a `manage.py` subprocess timing out, or an alarm set
    `timeout` + 60 s from now, the last resort past the bench's own `--timeout` (a statement stuck
    longer than its own limit)."""
    install_stop_handlers()
    signal.signal(signal.SIGALRM, raise_stop)
    signal.setitimer(signal.ITIMER_REAL, timeout + 60)
    try:
        return run()
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except Stop as exc:
        print(f"stopped by {exc}; cleaned up", file=sys.stderr)
        return 1 if str(exc) == "SIGALRM" else 130
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    except subprocess.TimeoutExpired as exc:
        print(f"bench failed: {exc.cmd[1:3]} took longer than {exc.timeout:.0f} s", file=sys.stderr)
        return 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


# --- Figures --------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# A child's ru_maxrss on Linux starts from its parent's high-water mark at fork/exec, so a big bench
# process cannot measure its children: a small interpreter runs the command instead (inheriting stdin,
# stdout and stderr) and writes its only child's peak, in KiB, to the file named first.
_PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:], check=False).returncode\n"
    "with open(sys.argv[1], 'w') as report:\n"
    "    report.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run_measuring_peak_rss(
    command: list[str], *, timeout: float, **run: Any
) -> tuple[subprocess.CompletedProcess[Any], float | None]:
    """subprocess.run(command, **run), and the command's own peak RSS in MiB (None if unknown)."""
    with tempfile.TemporaryDirectory(prefix="bench-peak-") as folder:
        report = Path(folder) / "peak"
        completed = subprocess.run(
            [sys.executable, "-c", _PEAK_WRAPPER, str(report), *command], timeout=timeout, check=False, **run
        )
        try:
            return completed, int(report.read_text()) / 1024
        except (OSError, ValueError):
            return completed, None


def reset_peak_rss() -> bool:
    """Start a new high-water mark of this process's memory (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


# --- PostgreSQL -----------------------------------------------------------------------------------


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(
        host=HOST, port=PG_PORT, user=PG_USER, dbname=PG_MAINTENANCE_DB, autocommit=True, connect_timeout=10
    )


def check_bench_name(name: str) -> None:
    if name in PROTECTED_DATABASES or not BENCH_DB_PATTERN.fullmatch(name):
        raise BenchError(f"refusing to create or drop database {name!r}")


def server_version() -> str:
    with admin_connection() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{HOST}:{PG_PORT}/{name}"


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """Create the bench database and drop it on the way out, whatever happens in between."""
    check_bench_name(name)
    with admin_connection() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name))
        )
    try:
        yield database_url(name)
    finally:
        check_bench_name(name)
        with admin_connection() as conn:
            # FORCE ends sessions a killed worker (or the bench's own Django connection) left behind.
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        print(f"dropped database {name}")


# --- Django ---------------------------------------------------------------------------------------


def fresh_secrets() -> dict[str, str]:
    """The same shapes as scripts/generate_env.py, generated here so nothing is written to .env."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_MASTER_KEYS": (
            f"mk-{secrets.token_hex(4)}:{base64.b64encode(secrets.token_bytes(32)).decode()}"
        ),
        "VAULT_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "SIGNING_KEYS": f"sk-{secrets.token_hex(4)}:{base64.b64encode(secrets.token_bytes(32)).decode()}",
    }


def django_env(*, database_url: str, var_dir: Path) -> dict[str, str]:
    """Production-style settings (DEBUG off, fresh secrets, no Redis, dummy mail) for the bench database.

    Explicit values win over the project's .env, which settings read without overwriting.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "VAULT_", "CELERY_", "SIGNING_"))
    }
    env.update(fresh_secrets())
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            # Empty wins over any REDIS_URL in the environment: the app uses its file-system broker.
            "REDIS_URL": "",
            "CACHE_URL": "locmemcache://",
            "EMAIL_URL": "dummymail://",
            "VAR_DIR": str(var_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def manage(args: list[str], *, env: dict[str, str], timeout: float) -> str:
    python = VENV_BIN / "python"
    result = subprocess.run(
        [str(python if python.exists() else sys.executable), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"manage.py {args[0]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout
