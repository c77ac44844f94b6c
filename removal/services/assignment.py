"""Who works a request: assigning, claiming and handing back, each on the record."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from removal.models import RemovalRequest
from removal.permissions import Action, require
from removal.services.common import Actor, InvalidRequest, audit_request_event


def _may_take_requests(user: Any) -> bool:
    return bool(
        user.is_active
        and user.is_staff
        and (user.has_perm("removal.work_assigned_request") or user.has_perm("removal.work_any_request"))
    )


def removal_request_assign(*, request: RemovalRequest, assignee: Any, actor: Actor) -> bool:
    """Give the request to `assignee` (a staff account that may work requests), or to nobody (None).

    A reviewer may take an unassigned request and hand back their own; anything else is the lead's
    (assign permission). Reminders and staff e-mail follow the assignee. Returns False when nothing
    changed; every change is one audit event naming both accounts by id.
    """
    with transaction.atomic():
        locked = RemovalRequest.objects.select_for_update().get(id=request.id)
        before = locked.assignee_id
        after = assignee.pk if assignee is not None else None
        if before == after:
            return False
        own = actor.user.pk if actor.user is not None else None
        taking = before is None and after is not None and after == own
        handing_back = after is None and before is not None and before == own
        require(actor, Action.CLAIM if taking else Action.WORK if handing_back else Action.ASSIGN, locked)
        if assignee is not None:
            fresh = get_user_model().objects.filter(pk=assignee.pk).first()
            if fresh is None or not _may_take_requests(fresh):
                raise InvalidRequest({"assignee": [_("This account may not work requests.")]})
        RemovalRequest.objects.filter(id=locked.id).update(assignee_id=after)
        audit_request_event(
            locked.id,
            "assigned",
            actor=actor,
            details={"from": str(before) if before else None, "to": str(after) if after else None},
        )
    request.assignee_id = after
    return True
