"""Signing in: the password (throttled and locked out by django-axes), then the second factor; a
first sign-in sets up the authenticator before anything else opens. Signing out."""

from __future__ import annotations

import time
from base64 import b32encode

import django_otp
import segno
from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from workspace import factors
from workspace.access import is_verified
from workspace.forms import EnrolForm, StaffLoginForm, TokenForm, may_sign_in
from workspace.security_events import account_event


def safe_next(request: HttpRequest) -> str:
    """Where to go after signing in: a path on this site, never another site (open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("workspace:home")


def _with_next(name: str, request: HttpRequest) -> str:
    return f"{reverse(name)}?{urlencode({'next': safe_next(request)})}"


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and is_verified(request.user):
        return HttpResponseRedirect(safe_next(request))
    form = StaffLoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth_login(request, form.get_user())
        request.session["staff.started"] = time.time()
        step = "workspace:second_factor" if factors.has_second_factor(form.get_user()) else "workspace:enrol"
        return HttpResponseRedirect(_with_next(step, request))
    return render(request, "workspace/login.html", {"form": form, "next": safe_next(request)})


def _signed_in_unverified(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and may_sign_in(request.user))


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
def second_factor_view(request: HttpRequest) -> HttpResponse:
    if not _signed_in_unverified(request):
        return HttpResponseRedirect(_with_next("workspace:login", request))
    user = request.user
    if is_verified(user):
        return HttpResponseRedirect(safe_next(request))
    if not factors.has_second_factor(user):
        return HttpResponseRedirect(_with_next("workspace:enrol", request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = django_otp.match_token(user, form.cleaned_data["token"])
        if device is not None:
            django_otp.login(request, device)
            account_event("logged_in", user=user, factor=factors.factor_kind(device))
            if factors.factor_kind(device) == "recovery_code":
                left = factors.recovery_codes_left(user)
                messages.warning(
                    request,
                    _("You used a recovery code: %(left)d left. Make new ones soon.") % {"left": left},
                )
            return HttpResponseRedirect(safe_next(request))
        # A wrong code counts towards the same lockout as a wrong password.
        credentials = {"username": user.get_username(), "step": "second_factor"}
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return render(request, "workspace/locked_out.html", status=429)
        form.add_error("token", _("That code is not right, or it was used already. Try the current one."))
    context = {"form": form, "next": safe_next(request), "has_passkey": factors.has_passkey(user)}
    return render(request, "workspace/second_factor.html", context)


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
def enrol_view(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: on the first sign-in (before any other page opens) or, signed in
    with a second factor, to add another one."""
    if not _signed_in_unverified(request):
        return HttpResponseRedirect(_with_next("workspace:login", request))
    user = request.user
    if factors.has_second_factor(user) and not is_verified(user):
        # Adding a factor needs the existing one first: a password alone never changes factors.
        return HttpResponseRedirect(_with_next("workspace:second_factor", request))
    device = factors.totp_pending(user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = factors.totp_confirm(user=user, device=device, token=form.cleaned_data["token"])
        if codes is not None:
            django_otp.login(request, device)
            account_event("logged_in", user=user, factor="totp")
            return render(
                request, "workspace/recovery_codes.html", {"codes": codes, "next": safe_next(request)}
            )
        form.add_error(
            "token", _("That code does not match. Check the app's clock and type the current code.")
        )
    uri = factors.totp_provisioning_uri(device)
    context = {
        "form": form,
        "next": safe_next(request),
        "qr_svg": segno.make(uri, error="m").svg_inline(
            scale=5, title=_("QR code for your authenticator app")
        ),
        "secret": _grouped(device.bin_key),
        "first_factor": not factors.has_second_factor(user),
    }
    return render(request, "workspace/enrol.html", context)


def _grouped(key: bytes) -> str:
    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@require_POST
@csrf_protect
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You are signed out."))
    return HttpResponseRedirect(reverse("workspace:login"))
