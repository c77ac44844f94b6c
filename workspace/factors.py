"""Second factors: TOTP (django-otp) and one-time recovery codes (django-otp's static tokens)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from workspace.security_events import account_event

RECOVERY_CODES = 10
RECOVERY_DEVICE_NAME = "recovery codes"


def has_second_factor(user: Any) -> bool:
    return bool(user_has_device(user, confirmed=True))


def has_passkey(user: Any) -> bool:
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()


def totp_pending(user: Any) -> TOTPDevice:
    """The authenticator being set up (unconfirmed until its first code is typed), made on first ask."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)


def totp_provisioning_uri(device: TOTPDevice) -> str:
    # django-otp's own otpauth:// URL, with our issuer name (settings.OTP_TOTP_ISSUER).
    return str(device.config_url)


def totp_confirm(*, user: Any, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the new authenticator with a code from it. Returns fresh recovery codes (shown once)
    or None if the code was wrong."""
    if not device.verify_token(token):
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_replace(user)
        account_event("factor_enrolled", user=user, factor="totp")
    return codes


def recovery_codes_regenerate(*, user: Any, record: bool = True) -> list[str]:
    """Ten new codes; the old ones stop working. `record` False when they come with a first factor
    (its "factor_enrolled" event says so)."""
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        if record:
            account_event("recovery_codes_regenerated", user=user)
    return codes


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=RECOVERY_DEVICE_NAME).count()


def _recovery_codes_replace(user: Any) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE_NAME)
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def factor_kind(device: Any) -> str:
    if isinstance(device, StaticDevice):
        return "recovery_code"
    return "passkey" if isinstance(device, WebAuthnCredential) else "totp"


def authenticators(user: Any) -> list[Any]:
    """Passkeys and authenticator apps (not the recovery codes)."""
    return [d for d in devices_for_user(user, confirmed=True) if not isinstance(d, StaticDevice)]


def authenticator_remove(*, user: Any, persistent_id: str) -> bool:
    """Remove one passkey or app; never the last one (the account would have no second factor)."""
    devices = {device.persistent_id: device for device in authenticators(user)}
    if len(devices) <= 1 or persistent_id not in devices:
        return False
    with transaction.atomic():
        device = devices[persistent_id]
        device.delete()
        account_event("factor_removed", user=user, factor=factor_kind(device))
    return True
