"""The test settings pin every secret, so a developer's or CI's environment cannot change a test's outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PINNED = (
    "SECRET_KEY",
    "VAULT_MASTER_KEYS",
    "VAULT_BLIND_INDEX_KEY",
    "SIGNING_KEYS",
    "SIGNING_RETIRED_PUBLIC_KEYS",
)


@pytest.mark.parametrize("hostile", [False, True])
def test_secrets_in_the_environment_do_not_reach_the_test_settings(hostile: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "VAULT_", "SIGNING_"))}
    if hostile:
        # What scripts/generate_env.py writes into a developer's shell, and a retired key on top.
        env.update(
            DJANGO_SECRET_KEY="s" * 60,
            VAULT_MASTER_KEYS="prod-mk:" + "RERERERERERERERERERERERERERERERERERERERERA=",
            VAULT_BLIND_INDEX_KEY="RUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUU=",
            SIGNING_KEYS="prod-sk:" + "RkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkY=",
            SIGNING_RETIRED_PUBLIC_KEYS="old:" + "R0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0c=",
            DJANGO_DEBUG="1",
        )
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{k: str(getattr(s, k)) for k in {[*PINNED, 'DEBUG']!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])

    assert seen == {**{k: str(getattr(settings, k)) for k in PINNED}, "DEBUG": "False"}
