"""The admin site behind the second factor: django-otp's OTPAdminSite, signed in through the staff
login (password, then a second factor) instead of a login form of its own."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from workspace.access import is_verified


class StaffAdminSite(OTPAdminSite):
    def login(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        if is_verified(request.user):
            # Signed in with the second factor and still sent here: the account is not for the admin.
            raise PermissionDenied
        target = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        return redirect_to_login(target, login_url=reverse("workspace:login"))
