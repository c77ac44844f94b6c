"""The queue: a named view (with its count beside every other view's), filters, soonest deadline
first, saved views per person. Everything on it comes from removal.queue in a fixed number of queries."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from removal.permissions import Action, allowed
from removal.queue import VIEWS, assignable_staff, queue_counts, queue_page
from workspace.access import staff_page, staff_user
from workspace.forms import BulkActionForm, QueueFilterForm, SavedViewForm
from workspace.models import SavedView

DEFAULT_VIEW = "due_soon"


def may_see_queue(request: HttpRequest) -> None:
    if not allowed(request.user, Action.VIEW):
        raise PermissionDenied(_("Your role does not show the queue."))


@staff_page
def queue_view(request: HttpRequest) -> HttpResponse:
    may_see_queue(request)
    view = request.GET.get("view", DEFAULT_VIEW)
    if view not in VIEWS:
        view = DEFAULT_VIEW
    assignees = [(str(pk), name) for pk, name in assignable_staff()]
    form = QueueFilterForm(request.GET or None, assignees=assignees)
    filters = form.filters()
    counts = queue_counts(user=request.user, filters=filters)
    page = queue_page(view=view, user=request.user, filters=filters, page=request.GET.get("page"))
    filter_query = urlencode({k: v for k, v in request.GET.items() if k not in ("view", "page") and v})
    context = {
        "views": [(name, v.label, counts[name]) for name, v in VIEWS.items()],
        "view": view,
        "view_label": VIEWS[view].label,
        "form": form,
        "page": page,
        "now": timezone.now(),
        "filter_query": filter_query,
        "saved_views": SavedView.objects.filter(user=staff_user(request)),
        "save_form": SavedViewForm(),
        "bulk_form": BulkActionForm(assignees=assignees),
        "may_log_request": allowed(request.user, Action.LOG_REQUEST),
        "current_query": request.GET.urlencode(),
        # What "save this view" keeps: the view and its filters, never the page number.
        "save_query": urlencode(
            {**{k: v for k, v in request.GET.items() if k != "page" and v}, "view": view}
        ),
    }
    return render(request, "workspace/queue.html", context)


@require_POST
@staff_page
def saved_view_create(request: HttpRequest) -> HttpResponse:
    may_see_queue(request)
    form = SavedViewForm(request.POST)
    query = request.POST.get("query", "")[:500]
    if form.is_valid():
        try:
            SavedView.objects.create(user=staff_user(request), name=form.cleaned_data["name"], query=query)
            messages.success(request, _("View saved."))
        except IntegrityError:
            messages.error(request, _("You have a view of that name already."))
    else:
        messages.error(request, _("Give the view a name (80 characters at most)."))
    return HttpResponseRedirect(f"{reverse('workspace:queue')}?{query}")


@require_POST
@staff_page
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(SavedView, pk=pk, user=staff_user(request)).delete()
    messages.success(request, _("Saved view removed."))
    return HttpResponseRedirect(reverse("workspace:queue"))
