"""Discovery's search: the indexed faces near a probe, with the look-alike guard. No database writes.

A face is a candidate when it lies within `max_distance` of the probe. The look-alike guard then
asks of each candidate whether it sits inside some *other* identity's cluster: it is flagged when its
`min_faces` nearest faces among those that did not match the probe are, on average, closer to it than
`ratio` times its distance to the probe. (Someone who looks like the subject from one angle has many
photos of their own that resemble each other more than they resemble the subject.)

One search is enough for the guard. A face x that can flag candidate c lies within ratio·|p-c| of c,
so by the triangle inequality |p-x| ≤ |p-c|(1 + ratio) ≤ max_distance·(1 + ratio): searching the
probe's neighbourhood of that radius finds every such face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from removal.models.face_index import EMBEDDING_DIMENSIONS, EMBEDDING_DTYPE, Face
from removal.search import FaceSearchBackend

# Pairwise distances are computed for this many candidates at a time (x all neighbours): memory
# stays at chunk x neighbours floats whatever the number of candidates.
_PAIRWISE_CHUNK = 512


@dataclass(frozen=True)
class CandidateMatch:
    face_id: int
    distance: float
    lookalike: bool
    # Mean distance to the nearest non-matching faces, when there are enough of them nearby.
    lookalike_distance: float | None


@dataclass(frozen=True)
class DiscoveryPolicy:
    max_distance: float
    lookalike_ratio: float
    lookalike_min_faces: int
    max_candidates: int


def candidates_find(
    probe: np.ndarray, *, backend: FaceSearchBackend, policy: DiscoveryPolicy
) -> list[CandidateMatch]:
    """Candidates nearest first, at most `policy.max_candidates`, each with its look-alike verdict."""
    radius = policy.max_distance * (1 + policy.lookalike_ratio)
    # Room for the neighbourhood beyond the candidates themselves; a truncated neighbourhood can only
    # miss flags, never candidates (candidates are the nearest, so they come first).
    neighbourhood = backend.search(probe, max_distance=radius, limit=policy.max_candidates * 4)
    matches = [m for m in neighbourhood if m.distance <= policy.max_distance][: policy.max_candidates]
    others = [m for m in neighbourhood if m.distance > policy.max_distance]
    if not matches:
        return []
    if not others or policy.lookalike_min_faces < 1:
        return [CandidateMatch(m.face_id, m.distance, False, None) for m in matches]
    embeddings = _embeddings([m.face_id for m in matches] + [m.face_id for m in others])
    # Faces deleted since the search (another request's purge) are neither candidates nor evidence.
    matches = [m for m in matches if m.face_id in embeddings]
    others = [m for m in others if m.face_id in embeddings]
    if not others:
        return [CandidateMatch(m.face_id, m.distance, False, None) for m in matches]
    other_matrix = np.stack([embeddings[m.face_id] for m in others])
    found = []
    for start in range(0, len(matches), _PAIRWISE_CHUNK):
        chunk = matches[start : start + _PAIRWISE_CHUNK]
        chunk_matrix = np.stack([embeddings[m.face_id] for m in chunk])
        distances = _pairwise(chunk_matrix, other_matrix)
        for row, match in zip(distances, chunk, strict=True):
            near = row[row < match.distance * policy.lookalike_ratio]
            if near.size >= policy.lookalike_min_faces:
                nearest = np.sort(near)[: policy.lookalike_min_faces]
                found.append(CandidateMatch(match.face_id, match.distance, True, float(nearest.mean())))
            else:
                found.append(CandidateMatch(match.face_id, match.distance, False, None))
    return found


def _embeddings(face_ids: Sequence[int]) -> dict[int, np.ndarray]:
    found: dict[int, np.ndarray] = {}
    for start in range(0, len(face_ids), 5_000):
        rows = Face.objects.filter(id__in=face_ids[start : start + 5_000]).values_list("id", "embedding")
        for face_id, raw in rows:
            found[face_id] = np.frombuffer(bytes(raw), dtype=EMBEDDING_DTYPE, count=EMBEDDING_DIMENSIONS)
    return found


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L2 distances between the rows of a and b (a.shape[0] x b.shape[0]).

    The |a|² + |b|² - 2a·b expansion, in float64 so that it does not cancel badly at the distances
    the guard compares (tenths, not ten-thousandths), and in a.shape[0] x b.shape[0] memory.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    squared = (a64 * a64).sum(axis=1)[:, None] + (b64 * b64).sum(axis=1)[None, :] - 2.0 * (a64 @ b64.T)
    return np.sqrt(np.maximum(squared, 0.0))
