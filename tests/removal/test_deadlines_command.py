"""``manage.py deadlines``: the spec's arithmetic as JSON, and one-line refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from removal.deadlines import Policy, policy_from_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

US_CA_EXAMPLE = (
    '{"acknowledge_by": "2026-04-17T23:59:59.999999-07:00", '
    '"respond_by": "2026-05-17T23:59:59.999999-07:00", '
    '"respond_by_extended": "2026-07-01T23:59:59.999999-07:00"}\n'
)
EU_EXAMPLE = (
    '{"acknowledge_by": null, '
    '"respond_by": "2026-02-16T23:59:59.999999+01:00", '
    '"respond_by_extended": "2026-04-15T23:59:59.999999+02:00"}\n'
)


def run_command(**options: object) -> str:
    out = StringIO()
    call_command("deadlines", stdout=out, **options)
    return out.getvalue()


def run_manage_py(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "deadlines", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_us_ca_example_prints_the_spec_deadlines_with_los_angeles_offsets(settings) -> None:
    settings.DEADLINE_POLICY = {}

    output = run_command(jurisdiction=["US-CA"], right="erasure", received="2026-04-03T18:00:00+00:00")

    assert output == US_CA_EXAMPLE


def test_eu_example_prints_null_acknowledgement_and_brussels_offsets(settings) -> None:
    settings.DEADLINE_POLICY = {}

    output = run_command(jurisdiction=["EU"], right="erasure", received="2026-01-15T09:00:00Z")

    assert output == EU_EXAMPLE


def test_gb_example_starts_the_clock_when_identity_arrives(settings) -> None:
    settings.DEADLINE_POLICY = {}

    output = run_command(
        jurisdiction=["GB"],
        right="erasure",
        received="2026-02-02T10:00:00+00:00",
        identity_received="2026-02-09T10:00:00+00:00",
    )

    assert json.loads(output) == {
        "acknowledge_by": None,
        "respond_by": "2026-03-09T23:59:59.999999+00:00",
        "respond_by_extended": "2026-05-11T23:59:59.999999+01:00",
    }


def test_several_jurisdictions_print_the_earliest_of_each_deadline(settings) -> None:
    settings.DEADLINE_POLICY = {}

    output = run_command(jurisdiction=["EU", "BR"], right="erasure", received="2026-05-05T10:00:00+00:00")

    assert json.loads(output) == {
        "acknowledge_by": None,
        "respond_by": "2026-05-20T23:59:59.999999-03:00",
        "respond_by_extended": None,
    }


def test_deadline_policy_setting_changes_the_arithmetic(settings) -> None:
    settings.DEADLINE_POLICY = {"roll_weekends": False}

    output = run_command(jurisdiction=["EU"], right="erasure", received="2026-01-15T09:00:00+00:00")

    assert policy_from_settings() == Policy(roll_weekends=False)
    assert json.loads(output)["respond_by"] == "2026-02-15T23:59:59.999999+01:00"


def test_policy_defaults_to_the_spec_table_without_the_setting(settings) -> None:
    settings.DEADLINE_POLICY = None

    assert policy_from_settings() == Policy()


def test_manage_py_prints_the_us_ca_example() -> None:
    result = run_manage_py(
        "--jurisdiction", "US-CA", "--right", "erasure", "--received", "2026-04-03T18:00:00+00:00"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == US_CA_EXAMPLE


BAD_ARGUMENTS = [
    pytest.param(
        ["--jurisdiction", "XX", "--right", "erasure", "--received", "2026-01-31T10:00:00+00:00"],
        "unknown jurisdiction 'XX'",
        id="unknown-jurisdiction",
    ),
    pytest.param(
        ["--jurisdiction", "EU", "--right", "erasure", "--received", "2026-01-31T10:00:00"],
        "has no UTC offset",
        id="naive-instant",
    ),
    pytest.param(
        ["--jurisdiction", "EU", "--right", "erasure", "--received", "last tuesday"],
        "is not an ISO 8601 date-time",
        id="malformed-instant",
    ),
    pytest.param(
        ["--jurisdiction", "EU", "--right", "access", "--received", "2026-01-31T10:00:00+00:00"],
        "unknown right 'access'",
        id="unknown-right",
    ),
    pytest.param(
        ["--right", "erasure", "--received", "2026-01-31T10:00:00+00:00"],
        "--jurisdiction is required",
        id="missing-jurisdiction",
    ),
    pytest.param(
        [
            "--jurisdiction",
            "GB",
            "--right",
            "erasure",
            "--received",
            "2026-01-31T10:00:00+00:00",
            "--identity-received",
            "2026-01-30T10:00:00+00:00",
        ],
        "identity_received_at (2026-01-30T10:00:00+00:00) is before received_at",
        id="identity-before-receipt",
    ),
]


@pytest.mark.parametrize(("argv", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_a_command_error(argv: list[str], message: str, settings) -> None:
    settings.DEADLINE_POLICY = {}

    with pytest.raises(CommandError) as caught:
        call_command("deadlines", *argv, stdout=StringIO())

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        *BAD_ARGUMENTS,
        pytest.param(["--jurisdiction", "EU", "--right"], "expected one argument", id="option-without-value"),
    ],
)
def test_manage_py_refuses_bad_arguments_with_one_line_and_a_failing_exit(
    argv: list[str], message: str
) -> None:
    result = run_manage_py(*argv)

    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
