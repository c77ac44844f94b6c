"""Configuration checks of the log (run by `manage.py check` and at start-up)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


@checks.register()
def ledger_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    origin = settings.LEDGER_ORIGIN
    if origin and (any(c.isspace() for c in origin) or len(origin) > 200):
        problems.append(
            checks.Error(
                "LEDGER_ORIGIN must be one line without spaces, at most 200 characters", id="ledger.E001"
            )
        )
    witnesses = settings.LEDGER_WITNESSES
    if not isinstance(witnesses, list):
        witnesses = [witnesses]
    names: set[str] = set()
    for position, witness in enumerate(witnesses, start=1):
        fields = witness if isinstance(witness, dict) else {}
        name, url, secret = fields.get("name"), fields.get("url"), fields.get("secret")
        reason = ""
        if not all(isinstance(v, str) and v for v in (name, url, secret)):
            reason = 'needs "name", "url" and "secret" (non-empty strings)'
        elif name in names:
            reason = f"the name {name!r} is used twice"
        elif len(str(name)) > 64:
            reason = "the name is longer than 64 characters"
        elif urlsplit(str(url)).scheme != "https" and urlsplit(str(url)).hostname not in (
            "127.0.0.1",
            "localhost",
            "::1",
        ):
            reason = "the URL must be https:// (plain http only to this machine)"
        if reason:
            problems.append(checks.Error(f"LEDGER_WITNESSES entry {position} {reason}", id="ledger.E002"))
        names.add(str(name))
    return problems
