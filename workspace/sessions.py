"""Staff sessions end after STAFF_IDLE_MINUTES without a request, and STAFF_SESSION_HOURS after the
sign-in whatever happens: a stolen or forgotten session is worth little."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _

_STARTED, _SEEN = "staff.started", "staff.seen"
# Writing "last seen" on every request would write the session on every request: a minute is fine.
_SEEN_RESOLUTION = 60


class StaffSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.setdefault(_STARTED, now)
            seen = request.session.get(_SEEN, now)
            why = ""
            if now - seen > settings.STAFF_IDLE_MINUTES * 60:
                why = "idle"
            elif now - started > settings.STAFF_SESSION_HOURS * 3600:
                why = "session_too_old"
            if why:
                request.staff_signed_out_because = why  # type: ignore[attr-defined]
                logout(request)
                messages.info(
                    request, _("You were signed out (%(why)s). Sign in again.") % {"why": _reason(why)}
                )
                return redirect_to_login(request.get_full_path(), login_url=reverse("workspace:login"))
            if now - seen >= _SEEN_RESOLUTION or _SEEN not in request.session:
                request.session[_SEEN] = now
        return self.get_response(request)


def _reason(why: str) -> str:
    if why == "idle":
        return _("no activity for %(minutes)d minutes") % {"minutes": settings.STAFF_IDLE_MINUTES}
    return _("sessions last at most %(hours)d hours") % {"hours": settings.STAFF_SESSION_HOURS}
