"""The decision rules, without images: verified only when everything passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from identity.decision import Policy, decide
from identity.mrz import MRZResult

VALID = MRZResult(
    document_type="TD3",
    document_code="P",
    issuing_state="UTO",
    nationality="UTO",
    surname="OBAMA",
    given_names="BARACK",
    name_truncated=False,
    document_number="X4RT58N21",
    birth_date=date(1984, 3, 9),
    expiry_date=date(2031, 6, 30),
    sex="M",
    check_digits_valid=True,
    expired=False,
)
INVALID_DIGITS = replace(
    VALID,
    check_digits_valid=False,
    document_number=None,
    birth_date=None,
    expiry_date=None,
    nationality=None,
    expired=None,
    failed_checks=("birth_date",),
)


def codes(decision: object) -> list[str]:
    return [reason.code for reason in decision.reasons]  # type: ignore[attr-defined]


def test_everything_passing_is_verified_and_keeps_only_derived_facts() -> None:
    decision = decide(face_distance=0.38, document=VALID, name_score=1.0)
    assert decision.outcome == "verified" and decision.reasons == ()
    assert (decision.document_type, decision.issuing_state) == ("TD3", "UTO")
    assert decision.expiry_valid is True and decision.check_digits_valid is True
    assert decision.policy_version == Policy().version
    assert "X4RT58N21" not in repr(decision) and "OBAMA" not in repr(decision)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"document": INVALID_DIGITS}, "check_digits_invalid"),
        ({"document": replace(VALID, expired=True)}, "document_expired"),
        ({"face_distance": 0.72}, "face_mismatch"),
        ({"name_score": 0.3}, "name_mismatch"),
    ],
)
def test_evidence_against_the_subject_fails(kwargs: dict[str, object], reason: str) -> None:
    facts: dict = {"face_distance": 0.38, "document": VALID, "name_score": 1.0, **kwargs}
    decision = decide(**facts)
    assert decision.outcome == "failed"
    assert codes(decision) == [reason]
    assert decision.reasons[0].message.endswith(".")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"face_distance": 0.55}, "face_uncertain"),
        ({"name_score": 0.75}, "name_uncertain"),
        ({"document": None, "name_score": None}, "document_unreadable"),
        ({"face_distance": None}, "face_not_compared"),
    ],
)
def test_borderline_or_missing_evidence_is_inconclusive(kwargs: dict[str, object], reason: str) -> None:
    facts: dict = {"face_distance": 0.38, "document": VALID, "name_score": 1.0, **kwargs}
    decision = decide(**facts)
    assert decision.outcome == "inconclusive"
    assert codes(decision) == [reason]


def test_failure_wins_over_doubt_and_every_reason_is_given() -> None:
    decision = decide(face_distance=0.55, document=replace(VALID, expired=True), name_score=0.3)
    assert decision.outcome == "failed"
    assert codes(decision) == ["document_expired", "name_mismatch", "face_uncertain"]
    assert decision.expiry_valid is False


def test_the_policy_sets_the_thresholds() -> None:
    strict = Policy(version="strict-1", face_threshold=0.4, face_inconclusive_band=(0.4, 0.45))
    assert decide(face_distance=0.42, document=VALID, name_score=1.0, policy=strict).outcome == "inconclusive"
    assert decide(face_distance=0.5, document=VALID, name_score=1.0, policy=strict).outcome == "failed"
    assert (
        decide(face_distance=0.5, document=VALID, name_score=1.0, policy=strict).policy_version == "strict-1"
    )
