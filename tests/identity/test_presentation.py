"""The presentation-attack screen: a copy of the document's own portrait is never "verified" (#13, 2)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from identity import presentation
from identity.pipeline import verify_identity
from tests.identity import documents
from tests.support.identity_fixtures import OBAMA, TODAY, portrait_of

MM = documents.PX_PER_MM


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _portrait_cut(flat: Image.Image) -> Image.Image:
    """What an attacker crops from the document photo: the portrait with a margin, enlarged."""
    box = (0, 0, round(40 * MM), round(9 * MM + 32 * MM * 1.28 + 3 * MM))
    return flat.crop(box).resize((400, 560), Image.Resampling.LANCZOS)


def _verify(photos: dict[str, bytes], headshot: bytes, flat: Image.Image) -> Any:
    return verify_identity(
        headshot=headshot, document=documents.photograph(flat, seed=0), typed_name="Barack Obama", today=TODAY
    )


def test_the_portrait_cut_from_the_document_is_not_verified(
    photos: dict[str, bytes], face_models: Any, ocr_tools: None
) -> None:
    flat = documents.render_document("TD3", OBAMA, portrait_of(photos, "obama3.jpg"), seed=0)
    result = _verify(photos, _jpeg(_portrait_cut(flat)), flat)
    assert result.decision.outcome == "inconclusive"
    assert "portrait_copy_suspected" in [reason.code for reason in result.decision.reasons]


def test_the_portrait_printed_in_grey_is_not_verified(
    photos: dict[str, bytes], face_models: Any, ocr_tools: None
) -> None:
    flat = documents.render_document("TD3", OBAMA, portrait_of(photos, "obama3.jpg"), seed=0)
    grey = _portrait_cut(flat).convert("L").convert("RGB")
    result = _verify(photos, _jpeg(grey), flat)
    assert result.decision.outcome == "inconclusive"
    codes = [reason.code for reason in result.decision.reasons]
    assert "print_suspected" in codes and "portrait_copy_suspected" in codes


def test_the_photo_the_portrait_was_made_from_is_not_verified(
    photos: dict[str, bytes], face_models: Any, ocr_tools: None
) -> None:
    flat = documents.render_document("TD3", OBAMA, portrait_of(photos, "obama3.jpg"), seed=0)
    result = _verify(photos, photos["obama3.jpg"], flat)
    assert result.decision.outcome == "inconclusive"


def test_another_photo_of_the_same_person_is_still_verified(
    photos: dict[str, bytes], face_models: Any, ocr_tools: None
) -> None:
    flat = documents.render_document("TD3", OBAMA, portrait_of(photos, "obama3.jpg"), seed=0)
    result = _verify(photos, photos["obama.jpg"], flat)
    assert result.decision.outcome == "verified", result.decision.reasons


def test_colourfulness_separates_grey_from_colour() -> None:
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
    grey = np.repeat(colour[..., :1], 3, axis=2)
    assert presentation.colourfulness(grey) == 0.0
    assert presentation.colourfulness(colour) > 40
    assert presentation.attack_signs(headshot_pixels=grey, portrait_distance=0.4) == ("no_colour",)
    assert presentation.attack_signs(headshot_pixels=colour, portrait_distance=0.1) == ("portrait_copy",)
    assert presentation.attack_signs(headshot_pixels=colour, portrait_distance=0.4) == ()
