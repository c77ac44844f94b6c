"""Canonical JSON: the one byte form of a value that is signed or hashed (receipts, the request log).

Keys sorted, no spaces, UTF-8 (no ASCII escapes), no NaN: equal values give equal bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
