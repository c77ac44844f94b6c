"""The whole in-memory verification: bytes in, a decision and the few derived facts out.

This is the one call the upload views make. It raises `VerificationInputError` (with a message for
the person) when a photo must be retaken: not an image, one colour only, no face or several faces in
the headshot. A document whose portrait can't be found, or whose machine-readable zone can't be found
or read with certainty (`mrz.MRZNotFound`, `mrz.MRZUnclear`), is also a retake. Everything else ends
in a `Decision` (and an attempt), so what the subject is told to do next is always possible.

The returned `Verification` holds the sanitised headshot (pixels only, for the caller to encrypt) and
the document number (for the caller to HMAC); the ID photo, its pixels and its OCR text are not in it
and are unreachable once this function returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from identity import faces, images, mrz, names, presentation
from identity.decision import DEFAULT_POLICY, Decision, Policy, decide
from identity.errors import VerificationInputError


@dataclass(frozen=True, eq=False)
class Verification:
    decision: Decision
    # The headshot re-encoded from pixels (no EXIF, GPS, ICC or XMP): what may be stored, encrypted.
    headshot_jpeg: bytes = field(repr=False)
    headshot_embedding: np.ndarray = field(repr=False)
    # For the caller's keyed hash only; never stored or logged as is. None unless check digits passed.
    document_number: str | None = field(repr=False)


def policy_from_settings() -> Policy:
    """The deployment's thresholds; the version names them, so every record says what was applied."""
    from django.conf import settings

    threshold = float(settings.IDENTITY_FACE_THRESHOLD)
    upper = float(settings.IDENTITY_FACE_INCONCLUSIVE_UPPER)
    return Policy(
        version=f"{DEFAULT_POLICY.version};face<{threshold:.2f};review<{upper:.2f}",
        face_threshold=threshold,
        face_inconclusive_band=(threshold, upper) if upper > threshold else None,
    )


@contextmanager
def _blame(upload: str) -> Iterator[None]:
    """Name the upload a retake message is about, so the form shows it beside the right field."""
    try:
        yield
    except VerificationInputError as exc:
        exc.upload = upload
        raise


# The sizes the readers work at: a larger JPEG is decoded reduced, no smaller than these.
HEADSHOT_DECODE_SIDE = faces.HEADSHOT_MAX_SIDE
DOCUMENT_DECODE_SIDE = max(mrz.WORK_WIDTH, faces.DOCUMENT_MAX_SIDE)


def _headshot(data: bytes) -> tuple[bytes, np.ndarray, np.ndarray]:
    with _blame("headshot"):
        image = images.decode_image(data, reduce_to=HEADSHOT_DECODE_SIDE)
        images.refuse_blank(image)
        vector = faces.headshot_embedding(image)
    return images.reencode_without_metadata(image), vector, np.asarray(image.pixels)


def verify_headshot(*, headshot: bytes, policy: Policy = DEFAULT_POLICY) -> Verification:
    """Where the policy asks for no identity document: one usable face, kept as the search probe.

    Identity then rests on the confirmed e-mail address; the decision records that no document and no
    face comparison were involved.
    """
    clean, vector, _pixels = _headshot(headshot)
    decision = Decision(
        outcome="verified",
        reasons=(),
        face_distance=None,
        name_match_score=None,
        document_type=None,
        issuing_state=None,
        expiry_valid=None,
        check_digits_valid=None,
        policy_version=policy.version,
    )
    return Verification(
        decision=decision, headshot_jpeg=clean, headshot_embedding=vector, document_number=None
    )


def verify_identity(
    *,
    headshot: bytes,
    document: bytes,
    typed_name: str,
    today: date,
    policy: Policy = DEFAULT_POLICY,
) -> Verification:
    """Decode both photos, compare the faces, read the MRZ, compare the names and decide."""
    headshot_clean, headshot_vector, headshot_pixels = _headshot(headshot)
    with _blame("document"):
        document_image = images.decode_image(document, reduce_to=DOCUMENT_DECODE_SIDE)
        images.refuse_blank(document_image)
    try:
        # A portrait not found, or a zone not found or not read with certainty, is a photo to retake
        # (raised to the caller, which counts no attempt), never a verdict on the document.
        with _blame("document"):
            portrait = faces.document_portrait_embedding(document_image)
            distance: float | None = faces.face_distance(headshot_vector, portrait)
            reading: mrz.MRZResult | None = mrz.read_mrz(document_image, today=today)
    finally:
        del document_image

    score = None
    if reading is not None:
        score = names.name_match_score(
            typed_name,
            surname=reading.surname,
            given_names=reading.given_names,
            truncated=reading.name_truncated,
        )
    signs = presentation.attack_signs(headshot_pixels=headshot_pixels, portrait_distance=distance)
    decision = decide(
        face_distance=distance, document=reading, name_score=score, policy=policy, attack_signs=signs
    )
    return Verification(
        decision=decision,
        headshot_jpeg=headshot_clean,
        headshot_embedding=headshot_vector,
        document_number=reading.document_number if reading else None,
    )
