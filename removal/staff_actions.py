"""What staff can do to a request from its page, as buttons: each a confirmation form, then one
service call, allowed by one action of removal.permissions. The admin and the workspace both show
these (a page hides what the role may not do; the service refuses it anyway)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils import timezone

from removal import services
from removal.forms import (
    AskSubjectForm,
    DenyForm,
    ExtensionForm,
    IdentityDecisionForm,
    IdentityReceivedForm,
    VerifyForm,
)
from removal.models import RemovalRequest, Status
from removal.permissions import MOVE_ACTIONS, Action, allowed

_MOVE_FORMS: dict[str, type[forms.Form]] = {
    "deny": DenyForm,
    "ask_subject": AskSubjectForm,
    "verify": VerifyForm,
}


@dataclass(frozen=True)
class StaffAction:
    """A button on the request page: a confirmation form, then one service call."""

    label: str
    outcome: str
    form: type[forms.Form]
    run: Callable[[RemovalRequest, services.Actor, dict[str, Any]], object]
    needs: Action
    warning: str = ""
    initial: Callable[[], dict[str, Any]] = dict


def _now_to_the_minute() -> dict[str, Any]:
    return {"received_at": timezone.now().replace(second=0, microsecond=0)}


_EXTRA_ACTIONS = {
    "extend": StaffAction(
        label="extend the deadline",
        outcome="moving the response deadline to the extended one, with a notice to the subject",
        form=ExtensionForm,
        run=lambda obj, actor, data: services.removal_request_extend(request=obj, actor=actor, **data),
        needs=Action.EXTEND,
    ),
    "record_identity": StaffAction(
        label="record identity received",
        outcome="restarting the statutory clock where the law says so",
        form=IdentityReceivedForm,
        run=lambda obj, actor, data: services.removal_request_record_identity_received(
            request=obj, actor=actor, **data
        ),
        needs=Action.WORK,
        initial=_now_to_the_minute,
    ),
    "decide_identity": StaffAction(
        label="decide identity",
        outcome="recording your finding: verified, or denied because identity could not be verified",
        form=IdentityDecisionForm,
        run=lambda obj, actor, data: services.removal_request_decide_identity(
            request=obj, actor=actor, **data
        ),
        needs=Action.WORK,
    ),
    "shred_personal_data": StaffAction(
        label="erase personal data",
        outcome="erasing its personal data",
        form=forms.Form,
        run=lambda obj, actor, data: services.removal_request_shred_personal_data(request=obj, actor=actor),
        needs=Action.ERASE,
        warning="This destroys the request's data key: the name, address and every message sent about this "
        "request become unreadable for good. The request's status, dates and audit trail remain.",
    ),
}


def staff_action(name: str) -> StaffAction | None:
    if name in services.MOVES and not services.MOVES[name].by_system:
        move = services.MOVES[name]
        return StaffAction(
            label=move.label.lower(),
            outcome=f"moving it to {move.target.label}",
            form=_MOVE_FORMS.get(name, forms.Form),
            run=lambda obj, actor, data: services.removal_request_transition(
                request=obj, move=name, actor=actor, **data
            ),
            needs=MOVE_ACTIONS[name],
        )
    return _EXTRA_ACTIONS.get(name)


def extra_actions_for(obj: RemovalRequest, user: Any) -> list[tuple[str, str]]:
    """Which of the extra buttons apply to this request now, and this user's role allows."""
    now = timezone.now()
    names = []
    if (
        obj.is_open
        and obj.respond_by_extended
        and not obj.extended_at
        and obj.respond_by
        and now <= obj.respond_by
    ):
        names.append("extend")
    if obj.is_open and obj.identity_requested_at and not obj.identity_received_at:
        names.append("record_identity")
    if obj.status == Status.VERIFYING:
        names.append("decide_identity")
    if not obj.is_open and not obj.data_key.is_shredded:
        names.append("shred_personal_data")
    return [
        (name, _EXTRA_ACTIONS[name].label.capitalize())
        for name in names
        if allowed(user, _EXTRA_ACTIONS[name].needs, obj)
    ]


def moves_for(obj: RemovalRequest, user: Any) -> list[services.Move]:
    """The lifecycle moves open now that this user's role allows."""
    return [
        move
        for move in services.allowed_moves(obj)
        if move.name in MOVE_ACTIONS and allowed(user, MOVE_ACTIONS[move.name], obj)
    ]
