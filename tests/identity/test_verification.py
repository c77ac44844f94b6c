"""End to end: a headshot and a phone photo of a document in, a decision out (the issue's cases)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from PIL import Image

from identity.errors import VerificationInputError
from identity.faces import FaceRejected
from identity.images import ImageRejected
from identity.pipeline import verify_identity
from tests.identity import documents
from tests.support.identity_fixtures import OBAMA, TODAY


@pytest.fixture
def verify(photos: dict[str, bytes], face_models: Any) -> Any:
    def run(document: bytes, *, headshot: str = "obama.jpg", typed_name: str = "Barack Obama") -> Any:
        return verify_identity(
            headshot=photos[headshot], document=document, typed_name=typed_name, today=TODAY
        )

    return run


def reasons(verification: Any) -> list[str]:
    return [reason.code for reason in verification.decision.reasons]


def test_the_same_person_is_verified(verify: Any, make_document: Any) -> None:
    # The headshot and the passport portrait are different photos of the same man.
    result = verify(make_document("TD3", portrait="obama3.jpg", seed=0))
    decision = result.decision
    assert decision.outcome == "verified", decision.reasons
    assert decision.face_distance is not None and decision.face_distance < 0.5
    assert decision.name_match_score is not None and decision.name_match_score >= 0.85
    assert (decision.document_type, decision.issuing_state) == ("TD3", "UTO")
    assert decision.check_digits_valid and decision.expiry_valid
    assert result.document_number == OBAMA.document_number
    with Image.open(io.BytesIO(result.headshot_jpeg)) as stored:
        assert not stored.getexif()


def test_a_different_person_fails(verify: Any, make_document: Any) -> None:
    result = verify(
        make_document("TD3", portrait="obama3.jpg", seed=1), headshot="biden.jpg", typed_name="Joe Biden"
    )
    assert result.decision.outcome == "failed"
    assert "face_mismatch" in reasons(result)


def test_a_tampered_check_digit_fails(verify: Any, make_document: Any) -> None:
    tampered = documents.tamper_check_digit(documents.td3_lines(OBAMA), line=1, position=19)
    result = verify(make_document("TD3", mrz=tampered, seed=2))
    assert result.decision.outcome == "failed"
    assert reasons(result) == ["check_digits_invalid"]
    assert result.document_number is None


def test_an_expired_document_fails(verify: Any, make_document: Any) -> None:
    expired = replace(OBAMA, expiry_date=date(2025, 11, 30))
    result = verify(make_document("TD3", holder=expired, seed=3))
    assert result.decision.outcome == "failed"
    assert reasons(result) == ["document_expired"]
    assert result.decision.expiry_valid is False


def test_a_name_that_does_not_match_the_document_is_not_verified(verify: Any, make_document: Any) -> None:
    result = verify(make_document("TD1", seed=4), typed_name="Joe Biden")
    assert result.decision.outcome == "failed"
    assert reasons(result) == ["name_mismatch"]
    assert result.decision.document_type == "TD1"


def test_a_headshot_with_two_faces_must_be_retaken(
    photos: dict[str, bytes], face_models: Any, make_document: Any
) -> None:
    from tests.identity.test_faces import side_by_side

    with pytest.raises(FaceRejected) as caught:
        verify_identity(
            headshot=side_by_side(photos["obama.jpg"], photos["biden.jpg"]),
            document=b"never looked at",
            typed_name="Barack Obama",
            today=TODAY,
        )
    assert caught.value.code == "several_faces"


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "unsupported_format"),
        (b"just some text saved as passport.jpg", "not_an_image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "corrupt"),
    ],
)
def test_a_document_that_is_not_a_usable_photo_must_be_resent(
    verify: Any, document: bytes, code: str
) -> None:
    with pytest.raises(ImageRejected) as caught:
        verify(document)
    assert caught.value.code == code
    assert isinstance(caught.value, VerificationInputError)


def test_a_document_whose_zone_is_not_read_with_certainty_must_be_retaken(
    verify: Any, make_document: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unsure OCR is a photo to take again (the upload view counts no attempt for it), not "failed".
    from identity import mrz

    def unclear(*args: Any, **kwargs: Any) -> Any:
        raise mrz.MRZUnclear("mrz_unclear", mrz.UNCLEAR_ADVICE)

    monkeypatch.setattr(mrz, "read_mrz", unclear)
    with pytest.raises(VerificationInputError) as caught:
        verify(make_document("TD3", seed=0))
    assert caught.value.upload == "document"
    assert caught.value.code == "mrz_unclear"
    assert "glare" in caught.value.message and "flat" in caught.value.message


def test_a_passport_whose_number_ocr_confuses_is_verified(verify: Any, photos: dict[str, bytes]) -> None:
    holder = replace(OBAMA, document_number="N5R0T6W2B")
    flat = documents.render_document("TD3", holder, _portrait(photos), seed=1)
    result = verify(documents.photograph(flat, seed=1))
    assert result.decision.outcome == "verified", result.decision.reasons
    assert result.document_number == "N5R0T6W2B"


def _portrait(photos: dict[str, bytes]) -> Image.Image:
    from tests.support.identity_fixtures import portrait_of

    return portrait_of(photos, "obama3.jpg")


def test_a_blank_document_or_headshot_must_be_retaken(verify: Any, photos: dict[str, bytes]) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (2400, 1600), (245, 245, 240)).save(blank, format="JPEG")
    with pytest.raises(ImageRejected) as caught:
        verify(blank.getvalue())
    assert (caught.value.code, caught.value.upload) == ("blank", "document")
    with pytest.raises(ImageRejected) as caught:
        verify_identity(headshot=blank.getvalue(), document=blank.getvalue(), typed_name="x", today=TODAY)
    assert (caught.value.code, caught.value.upload) == ("blank", "headshot")


def test_a_document_whose_portrait_is_not_found_must_be_retaken(
    verify: Any, photos: dict[str, bytes], ocr_tools: None
) -> None:
    """Its zone may read well, but without the portrait nothing was compared: a retake (no attempt
    spent), never an inconclusive verdict that tells the subject to try again when they no longer can."""
    faceless = Image.new("RGB", (400, 500), (200, 196, 190))  # the portrait's place, empty
    flat = documents.render_document("TD3", OBAMA, faceless, seed=6)
    with pytest.raises(FaceRejected) as caught:
        verify(documents.photograph(flat, seed=6))
    assert (caught.value.code, caught.value.upload) == ("no_face", "document")
