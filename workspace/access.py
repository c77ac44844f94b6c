"""The door of every workspace page: a signed-in staff account, verified by its second factor."""

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

View = Callable[..., HttpResponseBase]


def is_verified(user: Any) -> bool:
    """Signed in with a second factor in this session (django-otp's middleware sets is_verified)."""
    check = getattr(user, "is_verified", None)
    return bool(check is not None and check())


def staff_user(request: HttpRequest) -> Any:
    """The signed-in account of a request that passed `staff_page` (never anonymous there)."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    return user


def staff_page(view: View) -> View:
    """Anonymous → the sign-in; password only → the second factor (or its set-up on a first
    sign-in); not staff or inactive → 403."""

    @wraps(view)
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("workspace:login"))
        if not user.is_active or not user.is_staff:
            if is_verified(user) and regulator_of(user) is not None:
                return HttpResponseRedirect(reverse("regulator:home"))
            raise PermissionDenied
        if not is_verified(user):
            step = "workspace:second_factor" if factors.has_second_factor(user) else "workspace:enrol"
            return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return door


def regulator_page(view: View) -> View:
    """A regulator account's page: signed in with the second factor, and belonging to a regulator
    (whose jurisdictions bound what it reads). Staff accounts are refused here, regulators on staff pages."""

    @wraps(view)
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("workspace:login"))
        if not is_verified(user):
            step = "workspace:second_factor" if factors.has_second_factor(user) else "workspace:enrol"
            return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        regulator = regulator_of(user)
        if regulator is None or not user.is_active:
            raise PermissionDenied
        return view(request, regulator, *args, **kwargs)

    return door
