"""Passkeys (WebAuthn, django-otp-webauthn) as the second factor: django-otp-webauthn's ceremony views,
with what this service adds around them: staff accounts only, recovery codes with a first factor, and
the events in the log. Served under the "otp_webauthn" namespace its scripts look up."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.translation import gettext_lazy
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import exceptions
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from workspace import factors
from workspace.forms import may_sign_in
from workspace.security_events import account_event

# Recovery codes made with a first passkey, shown once on the next page (workspace:passkey_added).
NEW_RECOVERY_CODES = "workspace.new_recovery_codes"


class StaffOnly(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_code = "staff_only"
    default_detail = gettext_lazy("Passkeys here are for staff and regulator accounts.")


class _StaffRegistration:
    request: HttpRequest

    def check_can_register(self) -> None:
        if not may_sign_in(self.request.user):
            raise StaffOnly()


class RegistrationBegin(_StaffRegistration, BeginCredentialRegistrationView):
    pass


class RegistrationComplete(_StaffRegistration, CompleteCredentialRegistrationView):
    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        user = self.request.user
        first = not factors.has_second_factor(user)
        response = super().post(*args, **kwargs)  # raises (answered as JSON) unless it registered
        if first:
            self.request.session[NEW_RECOVERY_CODES] = factors.recovery_codes_regenerate(
                user=user, record=False
            )
        account_event("factor_enrolled", user=user, factor="passkey")
        if first:
            account_event("logged_in", user=user, factor="passkey")
        return response


class AuthenticationComplete(CompleteCredentialAuthenticationView):
    def complete_auth(self, device: Any) -> Any:
        result = super().complete_auth(device)
        account_event("logged_in", user=device.user, factor="passkey")
        return result


app_name = "otp_webauthn"
urlpatterns = [
    path("registration/begin/", RegistrationBegin.as_view(), name="credential-registration-begin"),
    path("registration/complete/", RegistrationComplete.as_view(), name="credential-registration-complete"),
    path(
        "authentication/begin/",
        BeginCredentialAuthenticationView.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        AuthenticationComplete.as_view(),
        name="credential-authentication-complete",
    ),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
]
