"""Viewing windows on a request's personal data, kept in the staff member's session.

`viewing_open` records the reason (removal.services.access) and opens a window of
PERSONAL_DATA_VIEW_MINUTES on that one request; `viewing_is_open` is what every page and image that
shows decrypted data asks first. A window closes at logout (the session goes), when it expires, or
when the role no longer allows the view (say the request was reassigned).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from identity import selectors as identity_selectors
from removal.models import RemovalRequest
from removal.permissions import Action, allowed
from removal.services.access import removal_request_record_personal_data_view
from removal.services.common import Actor, subject_ref

_SESSION_KEY = "removal.viewing"


def _windows(http_request: HttpRequest) -> dict[str, Any]:
    windows = http_request.session.get(_SESSION_KEY, {})
    return windows if isinstance(windows, dict) else {}


def viewing_open(http_request: HttpRequest, request: RemovalRequest, *, reason: str) -> None:
    """Record why, then open the window. Raises InvalidRequest or NotAllowed (and opens nothing)."""
    removal_request_record_personal_data_view(
        request=request, actor=Actor.staff(http_request.user), reason=reason
    )
    now = time.time()
    windows = {key: until for key, until in _windows(http_request).items() if until > now}
    windows[str(request.pk)] = now + settings.PERSONAL_DATA_VIEW_MINUTES * 60
    http_request.session[_SESSION_KEY] = windows


def viewing_is_open(http_request: HttpRequest, request: RemovalRequest) -> bool:
    until = _windows(http_request).get(str(request.pk), 0)
    return bool(until > time.time() and allowed(http_request.user, Action.VIEW_PERSONAL_DATA, request))


def viewing_close(http_request: HttpRequest, request: RemovalRequest) -> None:
    windows = _windows(http_request)
    if windows.pop(str(request.pk), None) is not None:
        http_request.session[_SESSION_KEY] = windows


def headshot_response(http_request: HttpRequest, request: RemovalRequest) -> HttpResponse:
    """The decrypted headshot, inside the staff member's viewing window on this request only (the
    window's opening is the audit event: loading the image again records nothing more)."""
    if not viewing_is_open(http_request, request):
        raise PermissionDenied(_("Open this request's personal data first, with a reason."))
    image = identity_selectors.headshot_probe_image(subject_ref=subject_ref(request))
    if image is None:
        raise Http404("no headshot")
    response = HttpResponse(image, content_type="image/jpeg")
    response["Cache-Control"] = "no-store, private"
    return response
