"""The door of every workspace page: a signed-in staff account, verified by its second factor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from workspace import factors

View = Callable[..., HttpResponse]


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
    def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("workspace:login"))
        if not user.is_active or not user.is_staff:
            raise PermissionDenied
        if not is_verified(user):
            step = "workspace:second_factor" if factors.has_second_factor(user) else "workspace:enrol"
            return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return door
