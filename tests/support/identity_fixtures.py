"""Identity fixtures (a pytest plugin, see tests/conftest.py): real face photos from PyPI packages,
synthetic documents, tools.

The photos are fetched once by scripts/identity_fixtures.py (committed under tests/fixtures/identity/)
and documents are drawn in memory per test. Tests needing tesseract or the OCR-B font ask for the
`ocr_tools` fixture: skipped with a reason where they are missing, failed under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import io
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import _unavailable
from tests.identity import documents

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 3, 1)

# Where the face is in each fixture photo (left, top, right, bottom at the committed size), so a
# document portrait can be cropped like a passport photo. Found once with the face detector and fixed
# here, so drawing documents does not depend on the code under test.
FACE_BOXES = {
    "obama.jpg": (254, 94, 433, 273),
    "obama2.jpg": (114, 194, 293, 373),
    "obama3.jpg": (215, 100, 319, 204),
    "biden.jpg": (148, 79, 272, 203),
    "astronaut.jpg": (179, 83, 266, 170),
}

OBAMA = documents.Holder(surname="OBAMA", given_names="BARACK<HUSSEIN", document_number="X4RT58N21")


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """The committed photos by file name (fetched first if a fresh clone lacks them)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from identity_fixtures import ensure_fixtures
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return {path.name: path.read_bytes() for path in ensure_fixtures(quiet=True)}


@pytest.fixture
def ocr_tools() -> None:
    if shutil.which("tesseract") is None:
        _unavailable("needs Debian's tesseract-ocr (scripts/install_system_packages.sh installs it)")
    if not documents.OCR_B.exists():
        _unavailable("needs Debian's fonts-ocr-b to draw documents (scripts/install_system_packages.sh)")


@pytest.fixture(scope="session")
def face_models() -> Any:
    """Load the dlib models once for the whole session."""
    from identity import faces

    faces.warm_up()
    return faces


def portrait_of(photos: dict[str, bytes], name: str) -> Image.Image:
    """A passport-style crop around the face of a fixture photo."""
    left, top, right, bottom = FACE_BOXES[name]
    side = right - left
    with Image.open(io.BytesIO(photos[name])) as img:
        box = (
            max(0, left - side * 0.55),
            max(0, top - side * 0.6),
            min(img.width, right + side * 0.55),
            min(img.height, bottom + side * 0.85),
        )
        return img.convert("RGB").crop(box)


@pytest.fixture
def make_document(photos: dict[str, bytes], ocr_tools: None) -> Any:
    """Draw a document and photograph it: returns the JPEG bytes a phone would upload."""

    def make(
        kind: documents.DocumentKind = "TD3",
        *,
        holder: documents.Holder = OBAMA,
        portrait: str = "obama3.jpg",
        seed: int = 0,
        mrz: tuple[str, ...] | None = None,
    ) -> bytes:
        flat = documents.render_document(kind, holder, portrait_of(photos, portrait), mrz=mrz, seed=seed)
        return documents.photograph(flat, seed=seed)

    return make
