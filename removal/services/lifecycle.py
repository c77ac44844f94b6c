"""The request lifecycle: one service per status move; every other move is refused.

The moves:

    received ─────────┬─▶ verifying ──┬─▶ verified ─▶ discovering ─▶ awaiting_review ─▶ purging ─▶ completed
      │  ▲            │      │        │       │ (opt-out only: verification waived, then completed)
      │  └ awaiting_subject ◀┘        │       └───────────────────────────────────────────────────▶ completed
      │          └───────────────────▶┘
      └─ any open state before purging ─▶ denied (with a basis) | withdrawn

Each transition is a conditional UPDATE on the current status, writes its audit event in the same
transaction, and defers any Celery work to `transaction.on_commit`.

Discovery's moves and the purge's completion are the service's own (`Move.by_system`): they happen
in `services/discovery.py` and `services/purge.py`, never from a staff button; staff approve the purge
through the review (`purge_approve`), which creates the jobs around the move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.wakeup import wake
from identity import services as identity_services
from ledger.entries import JsonValue
from removal.deadlines import JURISDICTIONS
from removal.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Candidate,
    DenialBasis,
    IdentityDoubt,
    RemovalRequest,
    Right,
    Status,
    SubjectAsk,
)
from removal.permissions import MOVE_ACTIONS, Action, require
from removal.reminders import reminders_cancel
from removal.selectors import REQUEST_TABLE
from removal.services.common import (
    Actor,
    IllegalTransition,
    InvalidRequest,
    audit_request_event,
    notify_subject,
    subject_ref,
)
from vault.services import data_key_shred, sealer_for

_BEFORE_PURGE = frozenset(OPEN_STATUSES) - {Status.PURGING}


@dataclass(frozen=True)
class Move:
    name: str
    sources: frozenset[Status]
    target: Status
    only_right: Right | None = None
    # Moves the service makes itself (discovery, the purge's completion): never a staff button.
    by_system: bool = False

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


MOVES: dict[str, Move] = {
    move.name: move
    for move in (
        Move("ask_subject", frozenset({Status.RECEIVED, Status.VERIFYING}), Status.AWAITING_SUBJECT),
        Move("start_verification", frozenset({Status.RECEIVED, Status.AWAITING_SUBJECT}), Status.VERIFYING),
        Move("verify", frozenset({Status.VERIFYING}), Status.VERIFIED),
        # CCPA §7026 forbids verifying an opt-out of sale or sharing.
        Move("waive_verification", frozenset({Status.RECEIVED}), Status.VERIFIED, only_right=Right.OPT_OUT),
        Move("start_discovery", frozenset({Status.VERIFIED}), Status.DISCOVERING, by_system=True),
        Move("finish_discovery", frozenset({Status.DISCOVERING}), Status.AWAITING_REVIEW, by_system=True),
        Move("approve_purge", frozenset({Status.AWAITING_REVIEW}), Status.PURGING),
        Move("complete_purge", frozenset({Status.PURGING}), Status.COMPLETED, by_system=True),
        # A database restore lost the approval of a purge the erasure journal holds (services.replay).
        Move("restore_purge", _BEFORE_PURGE, Status.PURGING, by_system=True),
        Move("complete_opt_out", frozenset({Status.VERIFIED}), Status.COMPLETED, only_right=Right.OPT_OUT),
        Move("deny", _BEFORE_PURGE, Status.DENIED),
        Move("withdraw", _BEFORE_PURGE, Status.WITHDRAWN),
    )
}
assert all(move.target not in CLOSED_STATUSES or move.sources <= OPEN_STATUSES for move in MOVES.values())


def allowed_moves(request: RemovalRequest) -> list[Move]:
    """The moves staff may make on this request now."""
    return [
        move
        for move in MOVES.values()
        if not move.by_system
        and request.status in move.sources
        and (move.only_right is None or move.only_right == request.right)
    ]


def _transition(
    request: RemovalRequest,
    move_name: str,
    *,
    actor: Actor,
    details: Mapping[str, JsonValue] | None = None,
    extra_fields: dict[str, object] | None = None,
) -> RemovalRequest:
    move = MOVES[move_name]
    if move_name in MOVE_ACTIONS:
        require(actor, MOVE_ACTIONS[move_name], request)
    now = timezone.now()
    details_from = request.status
    with transaction.atomic():
        candidates = RemovalRequest.objects.filter(id=request.id, status__in=move.sources)
        if move.only_right is not None:
            candidates = candidates.filter(right=move.only_right)
        updated = candidates.update(status=move.target, status_changed_at=now, **(extra_fields or {}))
        if not updated:
            current = RemovalRequest.objects.filter(id=request.id).values_list("status", flat=True).first()
            raise IllegalTransition(reference=request.reference, move=move_name, status=current or "deleted")
        if move.target in CLOSED_STATUSES:
            reminders_cancel(request=request)
        if move.target in (Status.DENIED, Status.WITHDRAWN):
            # Nothing will be purged: what identity and discovery kept of the subject's face (the
            # headshot probe, the candidates' scores) goes now, not with a purge that never comes.
            Candidate.objects.filter(request_id=request.id).delete()
            identity_services.headshot_probe_destroy(subject_ref=subject_ref(request))
        if notice := _NOTICES.get(move_name):
            request.refresh_from_db()
            notify_subject(
                request=request,
                template=notice,
                context=_notice_context(request),
            )
        audit_request_event(
            request.id,
            move_name,
            actor=actor,
            details={"from": details_from, "to": move.target, **(details or {})},
            occurred_at=now,
        )
    request.refresh_from_db()
    return request


# What the subject is told when staff make a move (templates in removal/emails/). The purge's
# completion notice carries the deletion receipt: removal.services.purge sends it.
_NOTICES = {
    "ask_subject": "information_needed",
    "deny": "denial",
    "complete_opt_out": "completion",
    "withdraw": "withdrawal",
}


def _notice_context(request: RemovalRequest) -> dict[str, object]:
    codes = sorted(j.code for j in request.jurisdictions.all())
    return {
        "ask": SubjectAsk(request.pending_ask).label if request.pending_ask else "",
        "basis": DenialBasis(request.denial_basis).label if request.denial_basis else "",
        "authorities": [
            gettext_lazy(JURISDICTIONS[code].authority) for code in codes if code in JURISDICTIONS
        ],
    }


def removal_request_ask_subject(
    *, request: RemovalRequest, actor: Actor, ask: str, doubt: str = ""
) -> RemovalRequest:
    """We need something from the subject (identity information, a clearer photo).

    Asking for identity information starts the identity clock: GB's month (and the EU's, under the
    soft-pause policy, only with a recorded `doubt`) restarts when it arrives.
    """
    if ask not in SubjectAsk.values:
        raise InvalidRequest({"ask": [_("Choose what we need from the subject.")]})
    if doubt and (ask != SubjectAsk.IDENTITY or doubt not in IdentityDoubt.values):
        raise InvalidRequest(
            {"doubt": [_("You can record a doubt about identity only when asking for identity information.")]}
        )
    extra: dict[str, object] = {"pending_ask": ask}
    details = {"ask": ask}
    if ask == SubjectAsk.IDENTITY and request.identity_requested_at is None:
        # The first request counts: the EU soft pause needs it within 3 working days of receipt.
        extra.update(identity_requested_at=timezone.now(), identity_doubt=doubt)
        details["doubt"] = doubt
    return _transition(request, "ask_subject", actor=actor, details=details, extra_fields=extra)


def removal_request_start_verification(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "start_verification", actor=actor)


def removal_request_verify(*, request: RemovalRequest, actor: Actor, method: str) -> RemovalRequest:
    """Identity is verified. An erasure then searches the face index for the subject's photos."""
    request = _transition(request, "verify", actor=actor, details={"method": method})
    if request.right == Right.ERASURE:
        request_id = str(request.id)
        transaction.on_commit(lambda: _enqueue_discovery(request_id))
    return request


def _enqueue_discovery(request_id: str) -> None:
    from removal.tasks import discover_photos

    wake(discover_photos, request_id)


def removal_request_waive_verification(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "waive_verification", actor=actor, details={"method": "not_required"})


def removal_request_start_discovery(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "start_discovery", actor=actor)


def removal_request_finish_discovery(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "finish_discovery", actor=actor)


def removal_request_approve_purge(
    *, request: RemovalRequest, actor: Actor, details: Mapping[str, JsonValue] | None = None
) -> RemovalRequest:
    """The status move only: `removal.services.purge.purge_approve` checks the review and creates the
    jobs around it."""
    return _transition(request, "approve_purge", actor=actor, details=details)


def removal_request_complete_purge(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    """The status move only: the purge completes a request when its last job is done, and sends the
    completion notice with the deletion receipt."""
    return _transition(request, "complete_purge", actor=actor)


def removal_request_restore_purge(
    *, request: RemovalRequest, actor: Actor, details: Mapping[str, JsonValue] | None = None
) -> RemovalRequest:
    """The status move only: `removal.services.replay` recreates the journal's jobs around it."""
    return _transition(request, "restore_purge", actor=actor, details=details)


def removal_request_complete_opt_out(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "complete_opt_out", actor=actor)


def removal_request_deny(
    *, request: RemovalRequest, actor: Actor, basis: str, note: str = ""
) -> RemovalRequest:
    """Refuse the request on a recorded basis. The free-text note is sealed: it may name the subject."""
    if basis not in DenialBasis.values:
        raise InvalidRequest({"basis": [_("Choose the legal basis for the denial.")]})
    if basis == DenialBasis.OTHER_EXEMPTION and not note.strip():
        raise InvalidRequest({"note": [_("Explain which exemption applies.")]})
    sealed_note = (
        sealer_for(request.data_key).seal(
            note.strip(), table=REQUEST_TABLE, column="denial_note_enc", row_id=request.id
        )
        if note.strip()
        else None
    )
    return _transition(
        request,
        "deny",
        actor=actor,
        details={"basis": basis},
        extra_fields={"denial_basis": basis, "denial_note_enc": sealed_note},
    )


def removal_request_shred_personal_data(*, request: RemovalRequest, actor: Actor) -> bool:
    """Erase the subject's personal data by destroying the request's data key (crypto-shredding).

    Name, address, notes and every e-mail sent about the request become unreadable, in backups too
    once the master key that wrapped the key is retired. Only closed requests: an open one still needs
    its subject's address. Returns False if it was shredded already.
    """
    require(actor, Action.ERASE, request)
    if request.status not in CLOSED_STATUSES:
        raise IllegalTransition(
            reference=request.reference, move="shred_personal_data", status=request.status
        )
    with transaction.atomic():
        shredded = data_key_shred(data_key=request.data_key)
        if shredded:
            audit_request_event(request.id, "personal_data_shredded", actor=actor)
    return shredded


def removal_request_withdraw(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    return _transition(request, "withdraw", actor=actor)


def _approve_purge(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    # purge imports this module (for the moves it wraps): import it when staff approve.
    from removal.services.purge import purge_approve

    purge_approve(request=request, actor=actor)
    request.refresh_from_db()
    return request


_PLAIN_MOVES = {
    "start_verification": removal_request_start_verification,
    "waive_verification": removal_request_waive_verification,
    "approve_purge": _approve_purge,
    "complete_opt_out": removal_request_complete_opt_out,
    "withdraw": removal_request_withdraw,
}


def removal_request_transition(
    *,
    request: RemovalRequest,
    move: str,
    actor: Actor,
    basis: str = "",
    note: str = "",
    ask: str = "",
    doubt: str = "",
    method: str = "",
) -> RemovalRequest:
    """Run the move a staff member chose (admin, API) through its own service.

    Moves the service makes itself (discovery, completion) are refused: a purge is complete when its
    jobs say so, not when someone presses a button.
    """
    if move in MOVE_ACTIONS:  # the role first: a refused move says so before any input is checked
        require(actor, MOVE_ACTIONS[move], request)
    if move in MOVES and MOVES[move].by_system:
        raise InvalidRequest(
            {"move": [_("The service makes this move itself (%(move)s).") % {"move": MOVES[move].label}]}
        )
    if move == "deny":
        return removal_request_deny(request=request, actor=actor, basis=basis, note=note)
    if move == "ask_subject":
        return removal_request_ask_subject(request=request, actor=actor, ask=ask, doubt=doubt)
    if move == "verify":
        return removal_request_verify(request=request, actor=actor, method=method or "manual_review")
    if move not in _PLAIN_MOVES:
        raise InvalidRequest({"move": [_("Unknown action %(move)s.") % {"move": move}]})
    return _PLAIN_MOVES[move](request=request, actor=actor)
