"""Every new checkpoint is pushed to the configured witnesses, signed so they know it is ours."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from ledger.models import Checkpoint, WitnessPush
from ledger.services import ledger_sequence, witnesses_push
from tests.ledger.conftest import write_events

pytestmark = pytest.mark.django_db
SECRET = "witness-shared-secret"


class Witness:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                witness.received.append((dict(self.headers), body))
                self.send_response(witness.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/checkpoints"


@pytest.fixture
def witness() -> Iterator[Witness]:
    w = Witness()
    thread = threading.Thread(target=w.server.serve_forever, daemon=True)
    thread.start()
    with override_settings(LEDGER_WITNESSES=[{"name": "regulator-fr", "url": w.url, "secret": SECRET}]):
        yield w
    w.server.shutdown()
    w.server.server_close()
    thread.join()


def test_the_newest_checkpoint_goes_to_the_witness_once_and_signed(witness: Witness) -> None:
    write_events(3)
    ledger_sequence()
    assert witnesses_push() == {"regulator-fr": "pushed size 3"}
    assert witnesses_push() == {"regulator-fr": "up to date"}
    ((headers, body),) = witness.received
    assert body.decode() == Checkpoint.objects.get().note
    expected = hmac.new(
        SECRET.encode(), headers["X-Removal-Timestamp"].encode() + b"." + body, hashlib.sha256
    )
    assert headers["X-Removal-Signature"] == "sha256=" + expected.hexdigest()


def test_a_refusing_witness_is_recorded_and_retried(witness: Witness) -> None:
    write_events(1)
    ledger_sequence()
    witness.status = 503
    assert witnesses_push() == {"regulator-fr": "failed: HTTP 503"}
    assert WitnessPush.objects.get().last_error == "HTTP 503"
    witness.status = 200
    assert witnesses_push() == {"regulator-fr": "pushed size 1"}
    assert WitnessPush.objects.get().last_error == ""


@pytest.mark.parametrize(
    "witnesses",
    [
        [{"name": "x", "url": "http://witness.example/"}],
        [{"name": "x", "url": "http://witness.example/", "secret": "s"}],
        [
            {"name": "x", "url": "https://a/", "secret": "s"},
            {"name": "x", "url": "https://b/", "secret": "s"},
        ],
    ],
)
def test_a_misconfigured_witness_stops_the_start(witnesses: list[dict[str, str]]) -> None:
    with (
        override_settings(LEDGER_WITNESSES=witnesses),
        pytest.raises(SystemCheckError, match=r"ledger\.E002"),
    ):
        call_command("check")
