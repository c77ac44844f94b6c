"""The doors of the signed-in pages: a staff page, a regulator's page, and the account pages both
share (second factors, recovery codes). Each first asks for the sign-in and its second factor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from ledger.selectors import regulator_of
from workspace import factors
from workspace.forms import may_sign_in

View = Callable[..., HttpResponseBase]


def is_verified(user: Any) -> bool:
    """Signed in with a second factor in this session (django-otp's middleware sets is_verified)."""
    check = getattr(user, "is_verified", None)
    return bool(check is not None and check())


def staff_user(request: HttpRequest) -> Any:
    """The signed-in account of a request that passed one of the doors (never anonymous there)."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    return user


def _sign_in_first(request: HttpRequest) -> HttpResponseBase | None:
    """Anonymous → the sign-in; password only → the second factor (or its set-up on a first
    sign-in); signed in with both → None (the door decides the rest)."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("workspace:login"))
    if not is_verified(user):
        step = "workspace:second_factor" if factors.has_second_factor(user) else "workspace:enrol"
        return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
    return None


def staff_page(view: View) -> View:
    """Staff only; a regulator's account is sent to its own page, any other account refused (403)."""

    @wraps(view)
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (first := _sign_in_first(request)) is not None:
            return first
        user = request.user
        if not (user.is_active and user.is_staff):
            if regulator_of(user) is not None:
                return HttpResponseRedirect(reverse("regulator:home"))
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return door


def regulator_page(view: View) -> View:
    """A regulator account's page, given its regulator (whose jurisdictions bound what it reads).
    Staff accounts are refused here, as regulators are on staff pages."""

    @wraps(view)
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (first := _sign_in_first(request)) is not None:
            return first
        regulator = regulator_of(request.user)
        if regulator is None or not request.user.is_active:
            raise PermissionDenied
        return view(request, regulator, *args, **kwargs)

    return door


def account_page(view: View) -> View:
    """A page about one's own sign-in (second factors, recovery codes): staff and regulators alike."""

    @wraps(view)
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (first := _sign_in_first(request)) is not None:
            return first
        if not may_sign_in(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return door
