"""Downstream recipients: staff add, change and deactivate them, and set or rotate a webhook's secret.

The notices themselves are planned and sent by the purge target `removal.targets.downstream`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger.services import event_append
from removal.models import DownstreamRecipient
from removal.permissions import Action, require
from removal.selectors import RECIPIENT_TABLE
from removal.services.common import Actor, InvalidRequest
from vault.services import data_key_create, sealer_for

DATA_KEY_PURPOSE = "removal.downstream"
# Shared secrets are typed in by staff: refuse ones short enough to guess or brute-force offline.
SECRET_MIN_LENGTH = 32
_AUDITED_FIELDS = ("name", "kind", "endpoint_url", "email", "active")


def _endpoint_url_allowed(url: str) -> bool:
    """HTTPS always; plain HTTP only to this machine, and only when DOWNSTREAM_WEBHOOK_ALLOW_LOOPBACK_HTTP
    says so (a receiver in a local test or a sidecar that terminates TLS itself)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    if parts.scheme != "http" or not settings.DOWNSTREAM_WEBHOOK_ALLOW_LOOPBACK_HTTP:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def downstream_recipient_errors(*, recipient: DownstreamRecipient, secret: str = "") -> dict[str, list[str]]:
    """What `downstream_recipient_save` would refuse, by field (for forms to show beside the input)."""
    secret = secret.strip()
    errors: dict[str, list[str]] = {}
    if recipient.kind == DownstreamRecipient.Kind.WEBHOOK:
        if not recipient.endpoint_url:
            errors["endpoint_url"] = ["A webhook recipient needs an endpoint URL."]
        elif not _endpoint_url_allowed(recipient.endpoint_url):
            errors["endpoint_url"] = ["Use an https:// URL: notices carry personal data."]
        if secret and len(secret) < SECRET_MIN_LENGTH:
            errors["secret"] = [f"Use at least {SECRET_MIN_LENGTH} characters (a random string)."]
        elif not secret and recipient.secret_enc is None:
            errors["secret"] = ["A webhook recipient needs a secret to sign its notices with."]
    else:
        if not recipient.email:
            errors["email"] = ["An e-mail recipient needs an address."]
        if secret:
            errors["secret"] = ["Only webhook recipients use a secret: e-mail notices are not signed."]
    return errors


def downstream_recipient_save(
    *, recipient: DownstreamRecipient, actor: Actor, secret: str = ""
) -> DownstreamRecipient:
    """Create or update a recipient; a non-empty `secret` sets (or rotates) its webhook secret.

    Every change is audited with the fields that changed, never the secret or the destination itself.
    """
    require(actor, Action.MANAGE_TARGETS)
    secret = secret.strip()
    errors = downstream_recipient_errors(recipient=recipient, secret=secret)
    if errors:
        raise InvalidRequest(errors)

    with transaction.atomic():
        creating = recipient._state.adding
        if creating:
            recipient.data_key = data_key_create(purpose=DATA_KEY_PURPOSE)
            changed = list(_AUDITED_FIELDS)
        else:
            before = DownstreamRecipient.objects.select_for_update().get(id=recipient.id)
            changed = [f for f in _AUDITED_FIELDS if getattr(before, f) != getattr(recipient, f)]
        if secret:
            recipient.secret_enc = sealer_for(recipient.data_key).seal(
                secret, table=RECIPIENT_TABLE, column="secret_enc", row_id=recipient.id
            )
            recipient.secret_set_at = timezone.now()
            changed.append("secret")
        recipient.save(force_insert=creating)
        if changed:
            event_append(
                actor=str(actor),
                action="downstream_recipient.created" if creating else "downstream_recipient.changed",
                object_type="downstream_recipient",
                object_id=recipient.id,
                details={"kind": recipient.kind, "active": recipient.active, "fields": list(changed)},
            )
    return recipient
