"""Discovery and its review: find the subject's photos with their headshot, then staff decide.

Moves: verified ─▶ discovering ─▶ awaiting_review (by the service, a Celery task with the request id
only). A worker that dies mid-search leaves the request in `discovering`; the purge sweeper wakes it
again once `DISCOVERY_LEASE_SECONDS` have passed without progress, and a second run replaces the
first's candidates. The probe is read, never added to the index.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from identity import selectors as identity_selectors
from ledger.entries import JsonValue
from removal.candidates import DiscoveryPolicy, candidates_find
from removal.models import Candidate, RemovalRequest, Right, Status
from removal.permissions import Action, require
from removal.search import get_search_backend
from removal.services.common import (
    SYSTEM,
    Actor,
    IllegalTransition,
    InvalidRequest,
    audit_request_event,
    subject_ref,
)
from removal.services.lifecycle import removal_request_finish_discovery, removal_request_start_discovery


def discovery_policy() -> DiscoveryPolicy:
    return DiscoveryPolicy(
        max_distance=settings.DISCOVERY_MAX_DISTANCE,
        lookalike_ratio=settings.DISCOVERY_LOOKALIKE_RATIO,
        lookalike_min_faces=settings.DISCOVERY_LOOKALIKE_MIN_FACES,
        max_candidates=settings.DISCOVERY_MAX_CANDIDATES,
    )


def removal_request_discover(*, request_id: uuid.UUID | str) -> int | None:
    """Search the face index for the subject and leave the candidates for review.

    Returns the number of candidates, or None when there was nothing for this run to do (not an
    erasure, not verified, or another worker is on it).
    """
    request = _claim(request_id)
    if request is None:
        return None
    probe = identity_selectors.headshot_probe_embedding(subject_ref=subject_ref(request))
    # Without a headshot (identity confirmed by other means) there is nothing to search with: staff
    # review an empty list and approve, which still purges everything else.
    found = (
        candidates_find(probe, backend=get_search_backend(), policy=discovery_policy())
        if probe is not None
        else []
    )
    with transaction.atomic():
        locked = RemovalRequest.objects.select_for_update().get(id=request.id)
        if locked.status != Status.DISCOVERING or locked.status_changed_at != request.status_changed_at:
            # A newer run took over while we searched (our lease expired): its result stands.
            return None
        Candidate.objects.filter(request=locked).delete()
        Candidate.objects.bulk_create(
            (
                Candidate(
                    request=locked,
                    face_id=match.face_id,
                    distance=match.distance,
                    lookalike=match.lookalike,
                    lookalike_distance=match.lookalike_distance,
                )
                for match in found
            ),
            batch_size=2_000,
        )
        audit_request_event(
            locked.id,
            "discovery_searched",
            actor=SYSTEM,
            details={
                "candidates": len(found),
                "lookalikes": sum(match.lookalike for match in found),
                "probe": probe is not None,
                "max_distance": settings.DISCOVERY_MAX_DISTANCE,
            },
        )
        removal_request_finish_discovery(request=locked, actor=SYSTEM)
    return len(found)


def _claim(request_id: uuid.UUID | str) -> RemovalRequest | None:
    now = timezone.now()
    request = RemovalRequest.objects.select_related("data_key").filter(id=request_id).first()
    if request is None or request.right != Right.ERASURE:
        return None
    if request.status == Status.VERIFIED:
        try:
            return removal_request_start_discovery(request=request, actor=SYSTEM)
        except IllegalTransition:
            return None  # another worker started it a moment ago
    stale = now - timedelta(seconds=settings.DISCOVERY_LEASE_SECONDS)
    if request.status == Status.DISCOVERING and request.status_changed_at < stale:
        # The last run died: take it over by moving the clock on, conditionally, so one run wins.
        taken = RemovalRequest.objects.filter(
            id=request.id, status=Status.DISCOVERING, status_changed_at=request.status_changed_at
        ).update(status_changed_at=now)
        if taken:
            request.status_changed_at = now
            return request
    return None


def discovery_sweep(*, limit: int = 100) -> int:
    """Wake discovery for verified erasures whose task was lost and searches whose worker died."""
    from removal.tasks import discover_photos

    now = timezone.now()
    waiting = (
        RemovalRequest.objects.filter(right=Right.ERASURE, status=Status.VERIFIED)
        .filter(status_changed_at__lt=now - timedelta(seconds=settings.PURGE_SWEEP_SECONDS))
        .values_list("id", flat=True)[:limit]
    )
    dead = RemovalRequest.objects.filter(
        status=Status.DISCOVERING,
        status_changed_at__lt=now - timedelta(seconds=settings.DISCOVERY_LEASE_SECONDS),
    ).values_list("id", flat=True)[:limit]
    ids = [*waiting, *dead]
    for request_id in ids:
        discover_photos.delay(str(request_id))
    return len(ids)


def candidates_decide(
    *, request: RemovalRequest, actor: Actor, decisions: dict[int, str], user: User | None = None
) -> int:
    """Staff confirm (the subject) or reject (someone else) candidates, one or many at once.

    Only while the request awaits review. Each changed decision is one audit event; returns how many
    candidates changed.
    """
    require(actor, Action.WORK, request)
    allowed = {Candidate.Decision.CONFIRMED, Candidate.Decision.REJECTED, Candidate.Decision.PENDING}
    if any(decision not in allowed for decision in decisions.values()):
        raise InvalidRequest({"decision": [_("Choose confirm or reject for each candidate.")]})
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        locked = RemovalRequest.objects.select_for_update().get(id=request.id)
        if locked.status != Status.AWAITING_REVIEW:
            raise IllegalTransition(
                reference=locked.reference, move="review_candidates", status=locked.status
            )
        current = dict(
            Candidate.objects.filter(request=locked, id__in=list(decisions)).values_list("id", "decision")
        )
        unknown = set(decisions) - current.keys()
        if unknown:
            raise InvalidRequest({"candidates": [_("Some candidates do not belong to this request.")]})
        by_decision: dict[str, list[int]] = {}
        for candidate_id, decision in decisions.items():
            if current[candidate_id] != decision:
                by_decision.setdefault(decision, []).append(candidate_id)
        for decision, ids in by_decision.items():
            decided: list[JsonValue] = [*sorted(ids)]
            Candidate.objects.filter(id__in=ids).update(
                decision=decision,
                decided_by=user if decision != Candidate.Decision.PENDING else None,
                decided_at=now if decision != Candidate.Decision.PENDING else None,
            )
            changed += len(ids)
            audit_request_event(
                locked.id,
                "candidates_decided",
                actor=actor,
                details={"decision": decision, "candidates": decided},
            )
        if changed and locked.purge_first_approver_id is not None:
            # The first approval was for other decisions: the purge needs two approvals afresh.
            RemovalRequest.objects.filter(id=locked.id).update(
                purge_first_approver=None, purge_first_approved_at=None
            )
            audit_request_event(locked.id, "purge_first_approval_cancelled", actor=actor)
    return changed
