"""A request's page in the workspace: its facts, deadlines, identity findings, the audited view of its
personal data, assignment, the moves the role allows, and its timeline in words. Every change goes
through removal's services; every read of decrypted data through a viewing window."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from identity import selectors as identity_selectors
from removal import selectors, services, staff_actions
from removal.forms import StaffIntakeForm, add_service_errors
from removal.identity_check import identity_check
from removal.models import RemovalRequest, Status
from removal.permissions import Action, NotAllowed, allowed
from removal.queue import assignable_staff
from removal.viewing import headshot_response, viewing_is_open, viewing_open
from vault.services import DataKeyShredded
from workspace.access import staff_page, staff_user
from workspace.timeline import request_timeline


def _request_for(request: HttpRequest, pk: Any, action: Action = Action.VIEW) -> RemovalRequest:
    obj = get_object_or_404(
        RemovalRequest.objects.select_related("data_key", "assignee").prefetch_related("jurisdictions"), pk=pk
    )
    if not allowed(request.user, action, obj):
        raise PermissionDenied(str(NotAllowed(action, obj.reference)))
    return obj


def _page_url(obj: RemovalRequest) -> str:
    return reverse("workspace:request", args=[obj.pk])


@staff_page
def request_view(request: HttpRequest, pk: Any) -> HttpResponse:
    obj = _request_for(request, pk)
    user = request.user
    viewing = viewing_is_open(request, obj)
    pii = None
    if viewing:
        try:
            pii = selectors.removal_request_pii(request=obj)
        except DataKeyShredded:
            pii = None
    ref = services.subject_ref(obj)
    check = identity_check(request=obj)
    context = {
        "req": obj,
        "check": check,
        "status_label": check.status_label
        if check is not None and obj.status == Status.VERIFIED
        else obj.get_status_display(),
        "jurisdictions": selectors.jurisdiction_names(request=obj),
        "language": dict(settings.LANGUAGES).get(obj.language, obj.language),
        "deadlines": selectors.removal_request_deadlines(request=obj),
        "viewing": viewing,
        "pii": pii,
        "erased": obj.data_key.is_shredded,
        "has_headshot": identity_selectors.has_headshot_probe(subject_ref=ref),
        "may_view_personal_data": allowed(user, Action.VIEW_PERSONAL_DATA, obj),
        "view_reasons": services.ViewReason.choices,
        "records": identity_selectors.verification_records(subject_ref=ref),
        "moves": staff_actions.moves_for(obj, user),
        "extra_actions": staff_actions.extra_actions_for(obj, user),
        "may_assign": allowed(user, Action.ASSIGN, obj),
        "may_take": obj.is_open and obj.assignee_id is None and allowed(user, Action.CLAIM, obj),
        "may_hand_back": obj.is_open and obj.assignee_id == user.pk,
        "assignees": assignable_staff(),
        "progress": selectors.removal_request_purge_progress(request=obj),
        "receipt": selectors.removal_request_receipt(request=obj),
        "notices": selectors.recipient_notices(request=obj),
        "timeline": request_timeline(obj.pk),
        "notes": services.removal_request_notes(request=obj) if viewing else [],
        "updates": services.SubjectUpdate.choices,
        "may_message": allowed(user, Action.WORK, obj) and obj.is_open and not obj.data_key.is_shredded,
        "may_add_note": allowed(user, Action.WORK, obj) and not obj.data_key.is_shredded,
    }
    return render(request, "workspace/request.html", context)


@require_POST
@staff_page
def personal_data_open_view(request: HttpRequest, pk: Any) -> HttpResponse:
    obj = _request_for(request, pk, Action.VIEW_PERSONAL_DATA)
    try:
        viewing_open(request, obj, reason=request.POST.get("reason", ""))
    except services.InvalidRequest as exc:
        for errors in exc.errors.values():
            messages.error(request, " ".join(errors))
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(back)
    return HttpResponseRedirect(_page_url(obj) + "#personal-data")


@staff_page
def headshot_view(request: HttpRequest, pk: Any) -> HttpResponse:
    """The decrypted headshot, inside the viewing window only (opening it was the audit event)."""
    return headshot_response(request, _request_for(request, pk, Action.VIEW_PERSONAL_DATA))


@require_POST
@staff_page
def assign_view(request: HttpRequest, pk: Any) -> HttpResponse:
    """Take, hand back, or (leads) give to anyone: the service decides who may."""
    obj = _request_for(request, pk)
    choice = request.POST.get("assignee", "")
    if choice == "me":
        assignee = request.user
    elif choice == "":
        assignee = None
    else:
        assignee = get_user_model().objects.filter(pk=int(choice)).first() if choice.isdigit() else None
        if assignee is None:
            messages.error(request, _("Choose someone from the list."))
            return HttpResponseRedirect(_page_url(obj))
    try:
        if services.removal_request_assign(
            request=obj, assignee=assignee, actor=services.Actor.staff(request.user)
        ):
            messages.success(request, _("Assignment changed."))
    except services.InvalidRequest as exc:
        for errors in exc.errors.values():
            messages.error(request, " ".join(errors))
    return HttpResponseRedirect(_page_url(obj))


@staff_page
def action_view(request: HttpRequest, pk: Any, name: str) -> HttpResponse:
    """One of the request page's buttons: a confirmation form, then its service."""
    obj = _request_for(request, pk)
    action = staff_actions.staff_action(name)
    if action is None:
        raise Http404
    if not allowed(request.user, action.needs, obj):
        raise PermissionDenied(str(NotAllowed(action.needs, obj.reference)))
    form = action.form(request.POST if request.method == "POST" else None, initial=action.initial())
    if request.method == "POST" and form.is_valid():
        try:
            action.run(obj, services.Actor.staff(request.user), form.cleaned_data)
        except services.InvalidRequest as exc:
            add_service_errors(form, exc.errors)
        except services.IllegalTransition as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(_page_url(obj))
        else:
            messages.success(request, _("%(reference)s: done.") % {"reference": obj.reference})
            return HttpResponseRedirect(_page_url(obj))
    context = {"req": obj, "action": action, "form": form}
    return render(request, "workspace/action.html", context)


@require_POST
@staff_page
def note_add_view(request: HttpRequest, pk: Any) -> HttpResponse:
    obj = _request_for(request, pk, Action.WORK)
    try:
        services.removal_request_note_add(
            request=obj, actor=services.Actor.staff(request.user), text=request.POST.get("text", "")
        )
        messages.success(request, _("Note added."))
    except services.InvalidRequest as exc:
        for errors in exc.errors.values():
            messages.error(request, " ".join(errors))
    return HttpResponseRedirect(_page_url(obj) + "#notes")


@require_POST
@staff_page
def message_view(request: HttpRequest, pk: Any) -> HttpResponse:
    obj = _request_for(request, pk, Action.WORK)
    actor = services.Actor.staff(request.user)
    try:
        services.removal_request_message_subject(
            request=obj, actor=actor, update=request.POST.get("update", "")
        )
        messages.success(request, _("The message is on its way to the subject."))
    except services.InvalidRequest as exc:
        for errors in exc.errors.values():
            messages.error(request, " ".join(errors))
    return HttpResponseRedirect(_page_url(obj) + "#message")


@staff_page
def log_request_view(request: HttpRequest) -> HttpResponse:
    """A request that arrived by post, phone or e-mail, logged with the moment it arrived (the
    statutory clock starts then); the subject is e-mailed as from the form."""
    if not allowed(request.user, Action.LOG_REQUEST):
        raise PermissionDenied(str(NotAllowed(Action.LOG_REQUEST)))
    initial = {"received_at": timezone.now().replace(second=0, microsecond=0)}
    form = StaffIntakeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            result = form.log(staff_user(request))
        except services.InvalidRequest as exc:
            add_service_errors(form, exc.errors)
        else:
            if result.created:
                done = _("Logged as %(reference)s; the subject was e-mailed.")
                messages.success(request, done % {"reference": result.request.reference})
            else:
                already = _("This person already has an open request, %(reference)s: nothing was added.")
                messages.warning(request, already % {"reference": result.request.reference})
            return HttpResponseRedirect(_page_url(result.request))
    return render(request, "workspace/log_request.html", {"form": form})
