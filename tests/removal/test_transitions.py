"""Every move from every status: allowed ones change the status and write one audit event; all others
are refused and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.models import AuditEvent
from removal import services
from removal.models import DenialBasis, RemovalRequest, Right, Status, SubjectAsk

pytestmark = pytest.mark.django_db

# The lifecycle as the product defines it: (move, from, to, right it is limited to).
ALLOWED = {
    ("ask_subject", Status.RECEIVED, Status.AWAITING_SUBJECT, None),
    ("ask_subject", Status.VERIFYING, Status.AWAITING_SUBJECT, None),
    ("start_verification", Status.RECEIVED, Status.VERIFYING, None),
    ("start_verification", Status.AWAITING_SUBJECT, Status.VERIFYING, None),
    ("verify", Status.VERIFYING, Status.VERIFIED, None),
    ("waive_verification", Status.RECEIVED, Status.VERIFIED, Right.OPT_OUT),
    ("start_discovery", Status.VERIFIED, Status.DISCOVERING, None),
    ("finish_discovery", Status.DISCOVERING, Status.AWAITING_REVIEW, None),
    ("approve_purge", Status.AWAITING_REVIEW, Status.PURGING, None),
    ("complete_purge", Status.PURGING, Status.COMPLETED, None),
    ("complete_opt_out", Status.VERIFIED, Status.COMPLETED, Right.OPT_OUT),
    *(
        (move, source, target, None)
        for move, target in (
            ("deny", Status.DENIED),
            ("withdraw", Status.WITHDRAWN),
            # After a database restore, by the erasure journal (tests/removal/test_backup_restore_drill.py).
            ("restore_purge", Status.PURGING),
        )
        for source in (
            Status.RECEIVED,
            Status.AWAITING_SUBJECT,
            Status.VERIFYING,
            Status.VERIFIED,
            Status.DISCOVERING,
            Status.AWAITING_REVIEW,
        )
    ),
}
MOVE_ARGS: dict[str, dict[str, str]] = {
    "deny": {"basis": DenialBasis.IDENTITY_NOT_VERIFIED},
    "ask_subject": {"ask": SubjectAsk.IDENTITY},
    "verify": {"method": "manual_review"},
}
CASES = [
    (move, status, right)
    for move in services.MOVES
    for status in Status
    for right in (Right.ERASURE, Right.OPT_OUT)
]


def _target(move: str, status: Status, right: Right) -> Status | None:
    for name, source, target, only in ALLOWED:
        if name == move and source == status and only in (None, right):
            return target
    return None


# The bare status moves, called directly: staff reach the system's moves only through the service's
# own work (discovery, the purge), and approval through the review (tests/removal/test_purge.py).
_DIRECT: dict[str, Callable[..., RemovalRequest]] = {
    "start_discovery": services.removal_request_start_discovery,
    "finish_discovery": services.removal_request_finish_discovery,
    "approve_purge": services.removal_request_approve_purge,
    "complete_purge": services.removal_request_complete_purge,
    "restore_purge": services.removal_request_restore_purge,
}


def _move(request: RemovalRequest, move: str, actor: services.Actor) -> RemovalRequest:
    if move in _DIRECT:
        return _DIRECT[move](request=request, actor=actor)
    return services.removal_request_transition(
        request=request, move=move, actor=actor, **MOVE_ARGS.get(move, {})
    )


def _put_in(request: RemovalRequest, status: Status) -> RemovalRequest:
    basis = DenialBasis.OTHER_EXEMPTION if status == Status.DENIED else ""
    RemovalRequest.objects.filter(id=request.id).update(status=status, denial_basis=basis)
    request.refresh_from_db()
    return request


def test_the_move_table_matches_the_specification() -> None:
    actual = {
        (move.name, source, move.target, move.only_right)
        for move in services.MOVES.values()
        for source in move.sources
    }
    assert actual == ALLOWED


@pytest.mark.parametrize(("move", "status", "right"), CASES, ids=[f"{m}-{s}-{r}" for m, s, r in CASES])
def test_every_move_from_every_status(
    make_request: Any, reviewer: Any, move: str, status: Status, right: Right
) -> None:
    request = _put_in(make_request(right=right, jurisdictions=["US-CA"]).request, status)
    events_before = AuditEvent.objects.count()
    actor = services.Actor.staff(reviewer)
    target = _target(move, status, right)

    if target is None:
        with pytest.raises(services.IllegalTransition, match=f"cannot {move.replace('_', ' ')}"):
            _move(request, move, actor)
        request.refresh_from_db()
        assert request.status == status
        assert AuditEvent.objects.count() == events_before
    else:
        _move(request, move, actor)
        request.refresh_from_db()
        assert request.status == target
        event = AuditEvent.objects.latest("id")
        assert AuditEvent.objects.count() == events_before + 1
        assert (event.action, event.actor, event.object_id) == (
            f"request.{move}",
            f"staff:{reviewer.pk}",
            str(request.id),
        )
        details = __import__("json").loads(event.payload)["details"]
        assert (details["from"], details["to"]) == (status, target)


def test_a_full_erasure_walk_leaves_one_event_per_step(
    removal_request: RemovalRequest, reviewer: Any
) -> None:
    actor = services.Actor.staff(reviewer)
    for move in (
        "start_verification",
        "verify",
        "start_discovery",
        "finish_discovery",
        "approve_purge",
        "complete_purge",
    ):
        removal_request = _move(removal_request, move, actor)
    assert removal_request.status == Status.COMPLETED
    actions = list(
        AuditEvent.objects.filter(object_id=str(removal_request.id)).values_list("action", flat=True)
    )
    assert actions == [
        "request.received",
        "request.start_verification",
        "request.verify",
        "request.start_discovery",
        "request.finish_discovery",
        "request.approve_purge",
        "request.complete_purge",
    ]


def test_deny_records_its_basis_and_seals_the_note(removal_request: RemovalRequest, reviewer: Any) -> None:
    note = "Subject Zoë asked for records held under a court order"
    services.removal_request_deny(
        request=removal_request,
        actor=services.Actor.staff(reviewer),
        basis=DenialBasis.LEGAL_CLAIMS,
        note=note,
    )
    removal_request.refresh_from_db()
    assert removal_request.denial_basis == DenialBasis.LEGAL_CLAIMS
    assert removal_request.denial_note_enc is not None
    assert note.encode() not in bytes(removal_request.denial_note_enc)
    event = AuditEvent.objects.latest("id")
    assert "legal_claims" in event.payload and "Zoë" not in event.payload and "court" not in event.payload


@pytest.mark.parametrize(
    ("basis", "note", "field"),
    [("", "", "basis"), ("because", "", "basis"), (DenialBasis.OTHER_EXEMPTION, " ", "note")],
)
def test_deny_without_a_valid_basis_changes_nothing(
    removal_request: RemovalRequest, reviewer: Any, basis: str, note: str, field: str
) -> None:
    with pytest.raises(services.InvalidRequest) as excinfo:
        services.removal_request_deny(
            request=removal_request, actor=services.Actor.staff(reviewer), basis=basis, note=note
        )
    assert field in excinfo.value.errors
    removal_request.refresh_from_db()
    assert removal_request.status == Status.RECEIVED and AuditEvent.objects.count() == 1


def test_ask_subject_takes_a_reason_code_not_free_text(
    removal_request: RemovalRequest, reviewer: Any
) -> None:
    with pytest.raises(services.InvalidRequest):
        services.removal_request_ask_subject(
            request=removal_request,
            actor=services.Actor.staff(reviewer),
            ask="please send your passport, Zoë",
        )
    removal_request.refresh_from_db()
    assert removal_request.status == Status.RECEIVED


@pytest.mark.parametrize("move", ["start_discovery", "finish_discovery", "complete_purge"])
def test_staff_cannot_make_the_moves_the_service_makes_itself(
    make_request: Any, reviewer: Any, move: str
) -> None:
    source = next(iter(services.MOVES[move].sources))
    request = _put_in(make_request(jurisdictions=["US-CA"]).request, source)
    assert move not in {m.name for m in services.allowed_moves(request)}
    with pytest.raises(services.InvalidRequest, match="makes this move itself"):
        services.removal_request_transition(request=request, move=move, actor=services.Actor.staff(reviewer))
    request.refresh_from_db()
    assert request.status == source


def test_unknown_move_is_refused(removal_request: RemovalRequest, reviewer: Any) -> None:
    with pytest.raises(services.InvalidRequest):
        services.removal_request_transition(request=removal_request, move="teleport", actor=services.SYSTEM)


def test_a_stale_copy_cannot_move_a_request_someone_else_moved(removal_request: RemovalRequest) -> None:
    stale = RemovalRequest.objects.get(id=removal_request.id)
    services.removal_request_withdraw(request=removal_request, actor=services.SUBJECT)
    with pytest.raises(services.IllegalTransition, match="withdrawn"):
        services.removal_request_start_verification(request=stale, actor=services.SYSTEM)
