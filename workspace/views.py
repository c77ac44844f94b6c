"""The home page, and one's own sign-in: authenticators, passkeys, recovery codes (staff and
regulators alike)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from workspace import factors
from workspace.access import account_page, staff_page
from workspace.login_views import safe_next
from workspace.passkeys import NEW_RECOVERY_CODES


@staff_page
def home_view(request: HttpRequest) -> HttpResponse:
    groups = list(request.user.groups.values_list("name", flat=True))
    return render(request, "workspace/home.html", {"roles": groups})


@account_page
def account_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "authenticators": factors.authenticators(user),
        "recovery_codes_left": factors.recovery_codes_left(user),
    }
    return render(request, "workspace/account.html", context)


@require_POST
@account_page
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    codes = factors.recovery_codes_regenerate(user=request.user)
    return render(
        request, "workspace/recovery_codes.html", {"codes": codes, "next": reverse("workspace:account")}
    )


@account_page
def passkey_added_view(request: HttpRequest) -> HttpResponse:
    """After a passkey was created: its recovery codes, once, if it was the account's first factor."""
    codes = request.session.pop(NEW_RECOVERY_CODES, None)
    next_url = safe_next(request)
    if not codes:
        messages.success(request, _("Your passkey is ready."))
        return HttpResponseRedirect(next_url)
    return render(request, "workspace/recovery_codes.html", {"codes": codes, "next": next_url})


@require_POST
@account_page
def authenticator_remove_view(request: HttpRequest) -> HttpResponse:
    if factors.authenticator_remove(user=request.user, persistent_id=request.POST.get("device", "")):
        messages.success(request, _("The authenticator was removed."))
    else:
        messages.error(request, _("Your only authenticator cannot be removed: add another one first."))
    return HttpResponseRedirect(reverse("workspace:account"))
