"""Regulators' machine access: scoped, expiring tokens, and exports over HTTP, each one audited.

A token belongs to one regulator and carries scopes (today `export`); it is refused once expired or
revoked, and it can only export the jurisdictions granted to its regulator. Every use, allowed or not,
is an event in the log (`regulator.export`, `regulator.token_refused`), so what regulators fetched is as
verifiable as what staff did.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ledger.entries import JsonValue
from ledger.exports import ExportResult, request_log_export
from ledger.models import Regulator, RegulatorToken
from ledger.services import event_append, ledger_sequence

SCOPES = frozenset({"export"})
TOKEN_PREFIX = "rlt_"  # noqa: S105 (a marker that says what a token is, not a secret)


_REFUSALS = {
    "unknown": "the token is not valid",
    "revoked": "the token was revoked",
    "expired": "the token has expired",
    "scope": "the token may not do this",
}


class AccessRefused(PermissionError):
    """The token may not do this; the message is safe to show to its holder."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    record: RegulatorToken


def regulator_token_issue(
    *, regulator: Regulator, days: int, scopes: frozenset[str] = SCOPES, actor: str
) -> IssuedToken:
    if not 0 < days <= 366:
        raise ValueError("a token lives between 1 and 366 days")
    if not scopes or not scopes <= SCOPES:
        raise ValueError(f"scopes must be among {sorted(SCOPES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    scope_list: list[JsonValue] = [*sorted(scopes)]
    with transaction.atomic():
        record = RegulatorToken.objects.create(
            regulator=regulator,
            token_hash=_hash(token),
            prefix=token[:12],
            scopes=sorted(scopes),
            expires_at=timezone.now() + timedelta(days=days),
        )
        event_append(
            actor=actor,
            action="regulator.token_issued",
            object_type="regulator",
            object_id=regulator.pk,
            details={
                "token": record.pk,
                "scopes": scope_list,
                "expires_at": record.expires_at.isoformat(),
            },
        )
    return IssuedToken(token, record)


def regulator_token_revoke(*, record: RegulatorToken, actor: str) -> None:
    with transaction.atomic():
        if RegulatorToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            event_append(
                actor=actor, action="regulator.token_revoked", object_type="regulator",
                object_id=record.regulator_id, details={"token": record.pk},
            )  # fmt: skip


def regulator_token_check(token: str, *, scope: str) -> RegulatorToken:
    """The token's record if it may use `scope` now; AccessRefused (and an audit event) otherwise."""
    record = RegulatorToken.objects.select_related("regulator").filter(token_hash=_hash(token)).first()
    now = timezone.now()
    reason = ""
    if record is None:
        reason = "unknown"
    elif record.revoked_at is not None:
        reason = "revoked"
    elif record.expires_at <= now:
        reason = "expired"
    elif scope not in record.scopes:
        reason = "scope"
    if reason:
        with transaction.atomic():
            event_append(
                actor=f"regulator:{record.regulator_id}" if record else "anonymous",
                action="regulator.token_refused",
                object_type="regulator",
                object_id=record.regulator_id if record else "-",
                outcome="refused",
                details={"reason": reason, "scope": scope},
            )
        raise AccessRefused(_REFUSALS[reason])
    assert record is not None
    RegulatorToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def regulator_export(
    *,
    regulator: Regulator,
    since: datetime,
    until: datetime,
    jurisdictions: list[str],
    token: RegulatorToken | None = None,
    account: Any = None,
) -> tuple[Path, ExportResult]:
    """Export for the regulator as a zip file (a temporary file the caller deletes), asked for with
    one of its API tokens or by one of its signed-in accounts (the event names which)."""
    granted = {code.upper() for code in regulator.jurisdictions}
    asked = {code.upper() for code in jurisdictions} or granted
    if not asked <= granted:
        raise AccessRefused(f"not granted: {', '.join(sorted(asked - granted))}")
    while ledger_sequence().sequenced:
        pass
    work = Path(tempfile.mkdtemp(prefix="regulator-export-"))
    try:
        result = request_log_export(since=since, until=until, jurisdictions=asked, out_dir=work / "bundle")
        archive = Path(tempfile.mkstemp(prefix="request-log-", suffix=".zip")[1])
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle_zip:
            for path in sorted((work / "bundle").iterdir()):
                bundle_zip.write(path, arcname=f"request-log/{path.name}")
        manifest_sha256 = hashlib.sha256((work / "bundle" / "manifest.json").read_bytes()).hexdigest()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    asked_list: list[JsonValue] = [*sorted(asked)]
    with transaction.atomic():
        event_append(
            actor=f"regulator:{regulator.pk}",
            action="regulator.export",
            object_type="regulator",
            object_id=regulator.pk,
            details={
                **({"token": token.pk} if token is not None else {}),
                **({"account": str(account.pk)} if account is not None else {}),
                "since": since.isoformat(),
                "until": until.isoformat(),
                "jurisdictions": asked_list,
                "rows": result.rows,
                "tree_size": result.tree_size,
                "manifest_sha256": manifest_sha256,
            },
        )
    return archive, result
