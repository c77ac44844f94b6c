"""Second factors: TOTP (django-otp) and one-time recovery codes (django-otp's static tokens)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from workspace.security_events import account_event

RECOVERY_CODES = 10
RECOVERY_DEVICE_NAME = "recovery codes"


def has_second_factor(user: Any) -> bool:
    return bool(user_has_device(user, confirmed=True))


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


def recovery_codes_regenerate(*, user: Any) -> list[str]:
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
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
    return "recovery_code" if isinstance(device, StaticDevice) else "totp"


def authenticators(user: Any) -> list[Any]:
    return [d for d in devices_for_user(user, confirmed=True) if not isinstance(d, StaticDevice)]


def authenticator_remove(*, user: Any, device_id: int) -> bool:
    """Remove one authenticator; never the last one (the account would have no second factor)."""
    devices = authenticators(user)
    if len(devices) <= 1:
        return False
    with transaction.atomic():
        deleted, _ = TOTPDevice.objects.filter(user=user, id=device_id, confirmed=True).delete()
        if deleted:
            account_event("factor_removed", user=user, factor="totp")
    return bool(deleted)
