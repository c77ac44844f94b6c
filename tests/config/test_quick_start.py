"""The README's `make run` starts: its settings pass Django's system checks (the web process refuses to
start on an error; a passkey origin of http://127.0.0.1 once did exactly that)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick_start_environment(var_dir: Path) -> dict[str, str]:
    """What `make run` gives the processes: the dev .env, the Makefile's base URL, no services."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "VAULT_", "SIGNING_", "DATABASE_", "REDIS_", "CELERY_", "PUBLIC_"))
    }
    generated = subprocess.run(
        [sys.executable, "scripts/generate_env.py", "--dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in generated.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    makefile = (ROOT / "Makefile").read_text()
    url = re.search(r"^QUICK_START_URL = (.+)$", makefile, re.M)
    assert url, "the Makefile names the quick start's base URL"
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PUBLIC_BASE_URL=url.group(1).replace("$(PORT)", "8000"),
        VAR_DIR=str(var_dir),
    )
    return env


def test_the_quick_start_settings_pass_the_system_checks(tmp_path: Path) -> None:
    env = _quick_start_environment(tmp_path)
    assert env["PUBLIC_BASE_URL"] == "http://localhost:8000"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout + result.stderr


def test_a_base_url_on_an_ip_address_is_what_failed(tmp_path: Path) -> None:
    """Control: the same check refuses http://127.0.0.1 as a passkey origin, so the test above can fail."""
    env = {**_quick_start_environment(tmp_path), "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--fail-level", "ERROR"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "otp_webauthn.E031" in result.stderr


def test_ctrl_c_stops_the_workers_cleanly_without_sigkill(tmp_path: Path) -> None:
    """Ctrl-C in `make run`'s terminal: SIGINT to the whole process group. Every worker ends its warm
    shutdown and the run ends with status 0, with no SIGKILL (honcho's five seconds were too short)."""
    env = {
        **_quick_start_environment(tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "scripts/dev_processes.py", "-f", "Procfile.dev", "start", "worker", "mailer"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count(" ready.") < 2:
            assert run.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGINT)
        status = run.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    assert status == 0, output[-3000:]
    assert "SIGKILL" not in output and output.count("Warm shutdown") == 2, output[-3000:]
