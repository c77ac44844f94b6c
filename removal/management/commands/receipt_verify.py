from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from removal.receipts import RECEIPT_MAX_BYTES, receipt_verify
from vault import signing

# Exit codes: 0 valid, 1 not valid, 2 could not check (file or public keys unreadable).
EXIT_NOT_VALID = 1
EXIT_CANNOT_CHECK = 2
_KEYS_MAX_BYTES = 256 * 1024
_FETCH_TIMEOUT_SECONDS = 10


class Command(BaseCommand):
    help = (
        "Verify a deletion receipt's signature. Exits 0 when valid, 1 when not (with the reason), "
        "2 when the receipt or the public keys cannot be read. Needs no database."
    )
    # Checking a receipt needs only its text and public keys: it must also work on a machine that
    # holds no signing key, where the system checks would refuse to start.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the receipt (JSON); - reads standard input")
        parser.add_argument(
            "--public-keys",
            metavar="FILE_OR_URL",
            help="public keys as published at /receipts/public-keys.json (a file or an http(s) URL); "
            "default: this service's own keys",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        document = self._read_receipt(options["file"])
        public_keys = (
            self._load_public_keys(options["public_keys"])
            if options["public_keys"]
            else self._configured_public_keys()
        )
        check = receipt_verify(document, public_keys=public_keys)
        if not check.valid or check.contents is None:
            raise CommandError(f"not valid: {check.reason}", returncode=EXIT_NOT_VALID)
        contents = check.contents
        categories = ", ".join(f"{code}={items}" for code, items in contents.categories) or "none"
        self.stdout.write(
            f"valid: signed by {contents.issuer} with key {contents.key_id}; reference {contents.reference}, "
            f"completed {contents.completed_at:%Y-%m-%dT%H:%M:%SZ}; {categories}"
        )

    def _read_receipt(self, name: str) -> bytes:
        try:
            if name == "-":
                return sys.stdin.buffer.read(RECEIPT_MAX_BYTES + 1)
            with Path(name).open("rb") as handle:
                # One byte over the limit is enough for the verifier to call it too large.
                return handle.read(RECEIPT_MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(
                f"cannot read the receipt: {exc.strerror or exc}", returncode=EXIT_CANNOT_CHECK
            ) from exc

    def _load_public_keys(self, source: str) -> signing.PublicKeyRing:
        try:
            if urlsplit(source).scheme in ("http", "https"):
                # The scheme is checked above: no file:// or other handlers through this argument.
                with urllib.request.urlopen(source, timeout=_FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
                    raw = response.read(_KEYS_MAX_BYTES + 1)
            else:
                raw = Path(source).read_bytes()[: _KEYS_MAX_BYTES + 1]
        except OSError as exc:
            raise CommandError(f"cannot read the public keys: {exc}", returncode=EXIT_CANNOT_CHECK) from exc
        try:
            if len(raw) > _KEYS_MAX_BYTES:
                raise ValueError("too large")
            return signing.public_keys_from_json(json.loads(raw))
        except (ValueError, signing.KeyConfigurationError) as exc:
            raise CommandError(f"cannot read the public keys: {exc}", returncode=EXIT_CANNOT_CHECK) from exc

    def _configured_public_keys(self) -> signing.PublicKeyRing:
        try:
            return signing.configured_public_keys()
        except signing.KeyConfigurationError as exc:
            raise CommandError(
                f"SIGNING_KEYS: {exc}; pass --public-keys to check against published keys",
                returncode=EXIT_CANNOT_CHECK,
            ) from exc
