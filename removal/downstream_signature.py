"""Signing of downstream webhook notices, and its check on the recipient's side.

Standard library only, so a recipient can copy this file as it is (docs/purge.md describes the scheme):

    X-Removal-Timestamp: <unix seconds>
    X-Removal-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is signed with the body so a captured request cannot be replayed later than the
recipient's tolerance; the `v1=` prefix leaves room for a second scheme during a change of algorithm
(a header may then carry several comma-separated signatures, any of which may match).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under the shared secret."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"{SCHEME}={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_verify(
    *,
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether a received notice was signed with `secret` within `tolerance_seconds` of `now`."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    for part in signature_header.split(","):
        scheme, _, value = part.strip().partition("=")
        # Constant-time comparison: a timing difference would reveal how much of a guess was right.
        if scheme == SCHEME and hmac.compare_digest(value, expected):
            return True
    return False
