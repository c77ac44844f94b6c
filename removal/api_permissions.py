"""The staff API's gate (its own module: DRF's settings import it while the API module loads)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

from removal.permissions import Action, allowed

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class StaffMayView(BasePermission):
    """A staff account whose role may see requests (removal.permissions). What it may change, and on
    which request, the services decide: a refusal there answers 403 and changes nothing."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        # Signed in with the second factor (django-otp), like every other staff door.
        verified = getattr(request.user, "is_verified", None)
        return bool(verified and verified() and allowed(request.user, Action.VIEW))
