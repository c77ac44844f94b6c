"""Who may do what to a removal request: the role's Django permissions, then the request itself.

Every staff-facing service calls `require` with the actor it was given, so the admin, the staff API
and the workspace cannot disagree: a view may hide a button it would be refused, but the refusal
itself happens here. The roles (Django groups holding these permissions) are in `removal.roles`;
docs/staff-roles.md has the table.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from removal.models import RemovalRequest
    from removal.services.common import Actor


class Action(enum.StrEnum):
    VIEW = "view"  # the request's status, dates and timeline, without personal data
    VIEW_PERSONAL_DATA = "view_personal_data"  # name, address, headshot (each viewing audited)
    LOG_REQUEST = "log_request"  # record a request received by post, phone or in person
    WORK = "work"  # identity, asking the subject, candidates, retrying a job, notes
    CLAIM = "claim"  # take an unassigned request
    ASSIGN = "assign"  # give a request to anyone, or take it back
    APPROVE_PURGE = "approve_purge"
    EXTEND = "extend"
    DENY = "deny"  # deny, or withdraw on the subject's behalf
    ERASE = "erase_personal_data"
    MANAGE_TARGETS = "manage_targets"  # downstream recipients
    DELETE_SUPPRESSION = "delete_suppression"  # an entry of the suppression list


# The permissions on RemovalRequest (Meta.permissions) besides Django's four.
PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("work_assigned_request", "Can work the requests assigned to them"),
    ("work_any_request", "Can work any request"),
    ("assign_request", "Can assign requests to anyone"),
    ("approve_purge", "Can approve a purge"),
    ("extend_deadline", "Can extend a response deadline"),
    ("deny_request", "Can deny a request or withdraw it for the subject"),
    ("erase_personal_data", "Can erase a closed request's personal data"),
    ("view_personal_data", "Can see the personal data of the requests they may work"),
    ("view_personal_data_with_reason", "Can see any request's personal data by recording a reason"),
)

# Which staff move needs which action (removal.services.lifecycle.MOVES).
MOVE_ACTIONS = {
    "ask_subject": Action.WORK,
    "start_verification": Action.WORK,
    "verify": Action.WORK,
    "waive_verification": Action.WORK,
    "complete_opt_out": Action.WORK,
    "approve_purge": Action.APPROVE_PURGE,
    "deny": Action.DENY,
    "withdraw": Action.DENY,
}

_PLAIN = {
    Action.VIEW: "removal.view_removalrequest",
    Action.LOG_REQUEST: "removal.add_removalrequest",
    Action.ASSIGN: "removal.assign_request",
    Action.APPROVE_PURGE: "removal.approve_purge",
    Action.EXTEND: "removal.extend_deadline",
    Action.DENY: "removal.deny_request",
    Action.ERASE: "removal.erase_personal_data",
    Action.MANAGE_TARGETS: "removal.change_downstreamrecipient",
    Action.DELETE_SUPPRESSION: "removal.delete_suppressionentry",
}


class NotAllowed(PermissionDenied):
    """The actor's role does not allow this action on this request. Nothing was changed."""

    def __init__(self, action: Action, reference: str = "") -> None:
        self.action = action
        words = _("your role does not allow this (%(action)s).") % {"action": action.value.replace("_", " ")}
        super().__init__(f"{reference}: {words}" if reference else words)


def may_work(user: Any, request: RemovalRequest) -> bool:
    if user.has_perm("removal.work_any_request"):
        return True
    return bool(user.has_perm("removal.work_assigned_request") and request.assignee_id == user.pk)


def allowed(user: Any, action: Action, request: RemovalRequest | None = None) -> bool:
    """May this user do this (to this request, or to some request when none is named)?

    Inactive, anonymous and non-staff accounts may do nothing.
    """
    if user is None or not user.is_active or not user.is_staff:
        return False
    if action in _PLAIN:
        return bool(user.has_perm(_PLAIN[action]))
    works_assigned = user.has_perm("removal.work_assigned_request")
    if action == Action.WORK:
        if request is None:
            return bool(works_assigned or user.has_perm("removal.work_any_request"))
        return may_work(user, request)
    if action == Action.CLAIM:
        return bool(works_assigned and (request is None or request.assignee_id is None))
    if action == Action.VIEW_PERSONAL_DATA:
        if user.has_perm("removal.view_personal_data_with_reason"):
            return True
        if not user.has_perm("removal.view_personal_data"):
            return False
        return request is None or may_work(user, request)
    raise ValueError(f"unknown action {action!r}")


def require(actor: Actor, action: Action, request: RemovalRequest | None = None) -> None:
    """Refuse a staff actor whose role does not allow the action; the subject and the system pass
    (their own checks are the status token and the code path)."""
    if actor.kind != "staff":
        return
    if actor.user is None or not allowed(actor.user, action, request):
        raise NotAllowed(action, request.reference if request is not None else "")
