"""Turn the measured facts of a verification into an outcome with reasons a person can act on.

A pure function of its inputs and a versioned `Policy`, so the same facts always give the same
outcome, a changed threshold is visible as a new policy version in the record, and every rule can be
tested without images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from django.utils.translation import gettext_noop

from identity.faces import classify_distance
from identity.mrz import MRZResult

Outcome = Literal["verified", "inconclusive", "failed"]


@dataclass(frozen=True)
class Reason:
    """`message` is English (records keep it so) and marked with `gettext_noop`: it is translated
    where it is shown, in the reader's language."""

    code: str
    message: str


@dataclass(frozen=True)
class Policy:
    """Thresholds of the decision. Change `version` whenever a number changes: records keep it."""

    version: str = "2026-1"
    face_threshold: float = 0.50
    face_inconclusive_band: tuple[float, float] | None = (0.50, 0.60)
    name_match_min: float = 0.85  # at or above: the names agree
    name_mismatch_below: float = 0.60  # below: the names disagree; in between: a person looks


DEFAULT_POLICY: Final = Policy()


@dataclass(frozen=True)
class Decision:
    """The outcome and the derived facts worth keeping (never an image, a text read from it, or a
    document number)."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    face_distance: float | None
    name_match_score: float | None
    document_type: str | None
    issuing_state: str | None
    expiry_valid: bool | None
    check_digits_valid: bool | None
    policy_version: str


def decide(
    *,
    face_distance: float | None,
    document: MRZResult | None,
    name_score: float | None,
    policy: Policy = DEFAULT_POLICY,
    attack_signs: tuple[str, ...] = (),
) -> Decision:
    """Verified only when every check passes; failed on evidence of a wrong or invalid document;
    inconclusive (a person decides) when the evidence is borderline or missing.

    `attack_signs` (identity.presentation) keep a match from being "verified": staff decide.

    A missing input (None) means that step could not be done: that is never a pass and never proof of
    fraud either, so it makes the outcome inconclusive, and a person looks (the pipeline asks for a
    retake instead where a better photo would help, so these words never promise one).
    """
    failed: list[Reason] = []
    doubtful: list[Reason] = []

    if document is None:
        doubtful.append(
            Reason(
                "document_unreadable",
                gettext_noop(
                    "We couldn't read the machine-readable lines of your document; a member of our privacy "
                    "team will check your photos and tell you what happens next."
                ),
            )
        )
    elif not document.check_digits_valid:
        failed.append(
            Reason(
                "check_digits_invalid",
                gettext_noop(
                    "The check digits in the machine-readable lines of your document don't add up, so it "
                    "can't be verified. Take a sharp photo of the whole document; if this happens again, "
                    "use another document."
                ),
            )
        )
    elif document.expired:
        failed.append(
            Reason(
                "document_expired",
                gettext_noop("Your document has expired. Use a document that is valid today."),
            )
        )

    if face_distance is None:
        doubtful.append(
            Reason(
                "face_not_compared",
                gettext_noop(
                    "We couldn't compare your photo with the portrait on your document; a member of our "
                    "privacy team will check your photos and tell you what happens next."
                ),
            )
        )
    else:
        outcome = classify_distance(
            face_distance, threshold=policy.face_threshold, inconclusive_band=policy.face_inconclusive_band
        )
        if outcome == "no_match":
            failed.append(
                Reason(
                    "face_mismatch",
                    gettext_noop("The face in your photo doesn't match the portrait on your document."),
                )
            )
        elif outcome == "inconclusive":
            doubtful.append(
                Reason(
                    "face_uncertain",
                    gettext_noop(
                        "We couldn't tell for sure that your photo matches the portrait on your document; a "
                        "member of our privacy team will check. A sharper photo in better light helps."
                    ),
                )
            )

    if "portrait_copy" in attack_signs:
        doubtful.append(
            Reason(
                "portrait_copy_suspected",
                gettext_noop(
                    "Your photo looks like a copy of the portrait on your document rather than a new photo "
                    "of you; a member of our privacy team will check. Take a new selfie with your phone's "
                    "camera, not a photo of a photo or a screen."
                ),
            )
        )
    if "no_colour" in attack_signs:
        doubtful.append(
            Reason(
                "print_suspected",
                gettext_noop(
                    "Your photo has no colour, as a printed copy would; a member of our privacy team will "
                    "check. Take a new colour selfie with your phone's camera."
                ),
            )
        )

    if name_score is None:
        if document is not None:
            doubtful.append(
                Reason("name_not_compared", gettext_noop("We couldn't compare your name with your document."))
            )
    elif name_score < policy.name_mismatch_below:
        failed.append(
            Reason(
                "name_mismatch",
                gettext_noop(
                    "The name you entered doesn't match the name on your document. Enter your name as it "
                    "is written on the document."
                ),
            )
        )
    elif name_score < policy.name_match_min:
        doubtful.append(
            Reason(
                "name_uncertain",
                gettext_noop(
                    "The name you entered only partly matches the name on your document; a member of our "
                    "privacy team will check. Entering it as written on the document helps."
                ),
            )
        )

    if failed:
        outcome_: Outcome = "failed"
    elif doubtful:
        outcome_ = "inconclusive"
    else:
        outcome_ = "verified"
    return Decision(
        outcome=outcome_,
        reasons=tuple(failed + doubtful),
        face_distance=None if face_distance is None else round(face_distance, 4),
        name_match_score=name_score,
        document_type=document.document_type if document else None,
        issuing_state=document.issuing_state if document else None,
        expiry_valid=None if document is None or document.expired is None else not document.expired,
        check_digits_valid=document.check_digits_valid if document else None,
        policy_version=policy.version,
    )
