"""Bulk actions from the queue: one action on a selection, run request by request through the same
service as on the request page, so each request gets its own checks (role, state, law) and its own
audit events. What one request refuses does not stop the others; the page says which and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from removal import services
from removal.permissions import NotAllowed
from removal.queue import assignable_staff
from removal.selectors import candidates_unflagged, removal_requests_by_id
from removal.services.discovery import candidates_decide
from workspace.access import staff_page, staff_user
from workspace.forms import BulkActionForm
from workspace.queue_views import may_see_queue


@dataclass
class BulkOutcome:
    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reference, why)


def bulk_run(*, user: Any, action: str, data: dict[str, Any]) -> BulkOutcome:
    actor = services.Actor.staff(user)
    assignee = None
    if action == "assign" and data.get("assignee"):
        assignee = get_user_model().objects.filter(pk=int(data["assignee"])).first()
    outcome = BulkOutcome()
    for request in removal_requests_by_id(data["selected"]):
        try:
            if action == "assign":
                services.removal_request_assign(request=request, assignee=assignee, actor=actor)
            elif action == "extend":
                services.removal_request_extend(request=request, actor=actor, reason=data["reason"])
            elif action == "deny":
                services.removal_request_transition(
                    request=request, move="deny", actor=actor, basis=data["basis"], note=data.get("note", "")
                )
            elif action == "confirm_unflagged":
                # The look-alikes stay undecided: a person looks at those (workspace:review).
                undecided = candidates_unflagged(request=request)
                candidates_decide(request=request, actor=actor, decisions=undecided, user=user)
        except services.InvalidRequest as exc:
            outcome.refused.append((request.reference, " ".join(m for ms in exc.errors.values() for m in ms)))
        except (services.IllegalTransition, NotAllowed) as exc:
            outcome.refused.append((request.reference, str(exc)))
        else:
            outcome.done.append(request.reference)
    return outcome


@require_POST
@staff_page
def bulk_view(request: HttpRequest) -> HttpResponse:
    may_see_queue(request)
    assignees = [(str(pk), name) for pk, name in assignable_staff()]
    form = BulkActionForm(request.POST, assignees=assignees)
    if not form.is_valid():
        return render(request, "workspace/bulk_result.html", {"form": form}, status=400)
    outcome = bulk_run(user=staff_user(request), action=form.cleaned_data["action"], data=form.cleaned_data)
    return render(request, "workspace/bulk_result.html", {"form": form, "outcome": outcome})
