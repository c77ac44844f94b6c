"""Discovery: the headshot finds the subject's photos in the face index, flags look-alikes, and staff
decide each candidate before anything is deleted."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import override_settings
from django.utils import timezone

from identity import selectors as identity_selectors
from ledger.models import AuditEvent
from removal import services
from removal.candidates import DiscoveryPolicy, candidates_find
from removal.models import Candidate, Face, Photo, RemovalRequest, Status
from removal.search import NumpyExactBackend
from removal.services.common import subject_ref
from removal.services.discovery import candidates_decide, discovery_sweep, removal_request_discover
from tests.support.gallery import Gallery

pytestmark = pytest.mark.django_db


def _events(request: RemovalRequest, action: str) -> list[dict[str, Any]]:
    return [
        json.loads(event.payload)["details"]
        for event in AuditEvent.objects.filter(object_id=str(request.id), action=f"request.{action}")
    ]


def _candidate_photos(request: RemovalRequest) -> set[Photo]:
    return {candidate.face.photo for candidate in Candidate.objects.filter(request=request)}


def test_discovery_finds_every_photo_of_the_subject_and_no_one_else(
    gallery: Gallery, verified_request: RemovalRequest
) -> None:
    faces_before = Face.objects.count()

    found = removal_request_discover(request_id=verified_request.id)

    verified_request.refresh_from_db()
    assert verified_request.status == Status.AWAITING_REVIEW
    assert _candidate_photos(verified_request) == set(gallery.subject)
    assert found == len(gallery.subject)  # one face of the subject per photo, the group photo included
    assert all(
        c.distance < 0.45 and not c.lookalike for c in Candidate.objects.filter(request=verified_request)
    )
    # The probe searched the index; it was not added to it.
    assert Face.objects.count() == faces_before
    assert _events(verified_request, "discovery_searched") == [
        {"candidates": found, "lookalikes": 0, "probe": True, "max_distance": 0.55}
    ]
    assert [e["to"] for e in _events(verified_request, "finish_discovery")] == [Status.AWAITING_REVIEW]


def test_verifying_an_erasure_starts_discovery_after_commit(
    gallery: Gallery, verified_request: RemovalRequest, django_capture_on_commit_callbacks: Any
) -> None:
    RemovalRequest.objects.filter(id=verified_request.id).update(status=Status.VERIFYING)
    verified_request.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.removal_request_verify(request=verified_request, actor=services.SYSTEM, method="test")
    verified_request.refresh_from_db()
    assert verified_request.status == Status.AWAITING_REVIEW
    assert _candidate_photos(verified_request) == set(gallery.subject)


def test_a_stricter_threshold_finds_fewer_candidates(
    gallery: Gallery, verified_request: RemovalRequest
) -> None:
    with override_settings(DISCOVERY_MAX_DISTANCE=0.36):
        removal_request_discover(request_id=verified_request.id)
    photos = _candidate_photos(verified_request)
    assert photos and photos < set(gallery.subject)


def test_discovery_without_a_headshot_leaves_an_empty_review(make_request: Any) -> None:
    request = make_request(jurisdictions=["US-CA"]).request
    RemovalRequest.objects.filter(id=request.id).update(status=Status.VERIFIED)

    assert removal_request_discover(request_id=request.id) == 0

    request.refresh_from_db()
    assert request.status == Status.AWAITING_REVIEW
    assert _events(request, "discovery_searched")[0]["probe"] is False


def test_discovery_ignores_requests_that_are_not_verified_erasures(
    make_request: Any, verified_request: RemovalRequest
) -> None:
    opt_out = make_request(right="opt_out", jurisdictions=["US-CA"], email="other@example.org").request
    RemovalRequest.objects.filter(id=opt_out.id).update(status=Status.VERIFIED)
    RemovalRequest.objects.filter(id=verified_request.id).update(status=Status.VERIFYING)

    assert removal_request_discover(request_id=opt_out.id) is None
    assert removal_request_discover(request_id=verified_request.id) is None
    assert not Candidate.objects.exists()


def test_a_second_task_for_a_running_discovery_does_nothing(
    gallery: Gallery, verified_request: RemovalRequest
) -> None:
    RemovalRequest.objects.filter(id=verified_request.id).update(
        status=Status.DISCOVERING, status_changed_at=timezone.now()
    )
    assert removal_request_discover(request_id=verified_request.id) is None
    assert not Candidate.objects.exists()


def test_a_discovery_whose_worker_died_is_taken_over_and_replaces_its_candidates(
    gallery: Gallery, verified_request: RemovalRequest
) -> None:
    removal_request_discover(request_id=verified_request.id)
    # As if a worker had died mid-search: back in `discovering`, long ago, with a stale candidate.
    RemovalRequest.objects.filter(id=verified_request.id).update(
        status=Status.DISCOVERING, status_changed_at=timezone.now() - timedelta(hours=1)
    )
    stray = Candidate.objects.filter(request=verified_request).first()
    assert stray is not None
    Candidate.objects.filter(id=stray.id).update(distance=0.01)

    assert discovery_sweep() == 1  # (eager in tests: the sweep's task ran the discovery again)

    verified_request.refresh_from_db()
    assert verified_request.status == Status.AWAITING_REVIEW
    assert _candidate_photos(verified_request) == set(gallery.subject)
    assert not Candidate.objects.filter(distance=0.01).exists()


def test_the_sweeper_wakes_a_verified_erasure_whose_task_was_lost(
    gallery: Gallery, verified_request: RemovalRequest
) -> None:
    RemovalRequest.objects.filter(id=verified_request.id).update(
        status_changed_at=timezone.now() - timedelta(minutes=5)
    )
    assert discovery_sweep() == 1
    verified_request.refresh_from_db()
    assert verified_request.status == Status.AWAITING_REVIEW


# --- The look-alike guard, on synthetic embeddings ----------------------------------------------------


def _face(photo: Photo, vector: np.ndarray) -> Face:
    return Face.objects.create(
        photo=photo, embedding=vector.astype("<f4").tobytes(), left=0, top=0, right=1, bottom=1
    )


def _photo(n: int) -> Photo:
    return Photo.objects.create(
        storage_key=f"k{n}", thumbnail_key=f"t{n}", content_sha256=f"{n:064x}", width=1, height=1
    )


def test_a_candidate_inside_another_persons_cluster_is_flagged_as_a_lookalike() -> None:
    rng = np.random.default_rng(7)
    probe = rng.normal(size=128).astype(np.float32)
    probe /= np.linalg.norm(probe)
    direction = rng.normal(size=128).astype(np.float32)
    direction /= np.linalg.norm(direction)
    # Someone else: a tight cluster 0.7 from the probe, and one of their photos that happens to fall
    # 0.5 from the probe, inside the threshold, yet 0.2 from its own cluster.
    other_centre = probe + 0.7 * direction
    cluster = [_face(_photo(i), other_centre + 0.02 * rng.normal(size=128) / 11.3) for i in range(4)]
    lookalike = _face(_photo(10), probe + 0.5 * direction)
    # The subject: two photos near the probe, far from the other cluster.
    own = [_face(_photo(20 + i), probe + 0.3 * rng.normal(size=128) / 11.3) for i in range(2)]

    found = candidates_find(
        probe,
        backend=NumpyExactBackend(),
        policy=DiscoveryPolicy(
            max_distance=0.55, lookalike_ratio=0.5, lookalike_min_faces=2, max_candidates=100
        ),
    )

    by_face = {match.face_id: match for match in found}
    assert set(by_face) == {lookalike.id, *(face.id for face in own)}
    assert not any(face.id in by_face for face in cluster)
    assert by_face[lookalike.id].lookalike
    assert by_face[lookalike.id].lookalike_distance == pytest.approx(0.2, abs=0.03)
    assert not any(by_face[face.id].lookalike for face in own)


def test_one_stray_face_nearby_is_not_a_cluster() -> None:
    rng = np.random.default_rng(8)
    probe = rng.normal(size=128).astype(np.float32)
    probe /= np.linalg.norm(probe)
    direction = rng.normal(size=128).astype(np.float32)
    direction /= np.linalg.norm(direction)
    _face(_photo(1), probe + 0.7 * direction)
    candidate = _face(_photo(2), probe + 0.5 * direction)

    [match] = candidates_find(
        probe,
        backend=NumpyExactBackend(),
        policy=DiscoveryPolicy(
            max_distance=0.55, lookalike_ratio=0.5, lookalike_min_faces=2, max_candidates=10
        ),
    )
    assert match.face_id == candidate.id and not match.lookalike


# --- Staff decisions ----------------------------------------------------------------------------------


@pytest.fixture
def in_review(gallery: Gallery, verified_request: RemovalRequest) -> RemovalRequest:
    removal_request_discover(request_id=verified_request.id)
    verified_request.refresh_from_db()
    return verified_request


def test_staff_confirm_and_reject_candidates_in_bulk_with_one_audit_event_per_decision(
    in_review: RemovalRequest, reviewer: Any
) -> None:
    ids = list(Candidate.objects.filter(request=in_review).values_list("id", flat=True))
    decisions = {ids[0]: "rejected", **{i: "confirmed" for i in ids[1:]}}

    changed = candidates_decide(
        request=in_review, actor=services.Actor.staff(reviewer), decisions=decisions, user=reviewer
    )

    assert changed == len(ids)
    confirmed = Candidate.objects.filter(request=in_review, decision="confirmed")
    assert confirmed.count() == len(ids) - 1 and all(c.decided_by == reviewer for c in confirmed)
    events = _events(in_review, "candidates_decided")
    assert sorted((e["decision"], len(e["candidates"])) for e in events) == [
        ("confirmed", len(ids) - 1),
        ("rejected", 1),
    ]
    # Deciding the same again changes nothing and records nothing.
    assert (
        candidates_decide(request=in_review, actor=services.Actor.staff(reviewer), decisions=decisions) == 0
    )
    assert len(_events(in_review, "candidates_decided")) == 2


@pytest.mark.parametrize("decision", ["maybe", ""])
def test_an_unknown_decision_is_refused_and_changes_nothing(
    in_review: RemovalRequest, reviewer: Any, decision: str
) -> None:
    some = Candidate.objects.filter(request=in_review).first()
    assert some is not None
    with pytest.raises(services.InvalidRequest):
        candidates_decide(
            request=in_review, actor=services.Actor.staff(reviewer), decisions={some.id: decision}
        )
    assert not Candidate.objects.exclude(decision="pending").exists()


def test_candidates_of_another_request_cannot_be_decided(
    in_review: RemovalRequest, reviewer: Any, make_request: Any
) -> None:
    other = make_request(jurisdictions=["US-CA"], email="someone@example.org").request
    RemovalRequest.objects.filter(id=other.id).update(status=Status.AWAITING_REVIEW)
    some = Candidate.objects.filter(request=in_review).first()
    assert some is not None
    with pytest.raises(services.InvalidRequest):
        candidates_decide(
            request=other, actor=services.Actor.staff(reviewer), decisions={some.id: "confirmed"}
        )
    assert not Candidate.objects.exclude(decision="pending").exists()


def test_candidates_can_be_decided_only_while_under_review(in_review: RemovalRequest, reviewer: Any) -> None:
    some = Candidate.objects.filter(request=in_review).first()
    assert some is not None
    RemovalRequest.objects.filter(id=in_review.id).update(status=Status.PURGING)
    with pytest.raises(services.IllegalTransition):
        candidates_decide(
            request=in_review, actor=services.Actor.staff(reviewer), decisions={some.id: "rejected"}
        )


@pytest.mark.parametrize("close", ["deny", "withdraw"])
def test_closing_a_request_without_a_purge_destroys_the_headshot_and_the_candidates(
    in_review: RemovalRequest, reviewer: Any, close: str, django_capture_on_commit_callbacks: Any
) -> None:
    probe_file = identity_selectors.headshot_probe_storage_name(subject_ref=subject_ref(in_review))
    assert probe_file and Candidate.objects.filter(request=in_review).exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.removal_request_transition(
            request=in_review, move=close, actor=services.Actor.staff(reviewer), basis="manifestly_unfounded"
        )

    assert not Candidate.objects.filter(request=in_review).exists()
    assert not identity_selectors.has_headshot_probe(subject_ref=subject_ref(in_review))
    assert not default_storage.exists(probe_file)
    # The index itself is untouched: nothing was approved for deletion.
    assert Photo.objects.count() == 8
