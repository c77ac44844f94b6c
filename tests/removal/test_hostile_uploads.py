"""The project's corpus of hostile and unusual files, each sent as the subject's photo through the real
upload page: a clear 4xx in the subject's language, never a 5xx, nothing stored, no attempt spent,
nothing written to disk while it was handled (issue 12, item 2)."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from identity.models import HeadshotProbe, VerificationRecord
from removal import services
from removal.models import RemovalRequest, Status
from tests.identity.test_images import png_declaring
from tests.support.disk_writes import files_written, watching

pytestmark = pytest.mark.django_db
_ERRORS = re.compile(r'<ul class="errorlist"[^>]*>(.*?)</ul>', re.S)


def _picture(mode: str = "RGB", size: tuple[int, int] = (320, 240)) -> Image.Image:
    return Image.linear_gradient("L").resize(size).convert(mode)


def _saved(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _jpeg_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° on display
    return _saved(_picture(), "JPEG", exif=exif.tobytes())


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", b"not really")
    return buffer.getvalue()


def _animated_gif() -> bytes:
    frames = [_picture("P"), _picture("P").rotate(90)]
    return _saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _ftyp(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"mif1" + b"\x00" * 64


CORPUS: dict[str, Callable[[], bytes]] = {
    "zero bytes": lambda: b"",
    "truncated JPEG": lambda: _saved(_picture(), "JPEG", quality=95)[:900],
    "JPEG with a ZIP appended (polyglot)": lambda: _saved(_picture(), "JPEG") + _zip(),
    "PNG bomb by pixel count (30000 x 30000 declared)": lambda: png_declaring(30_000, 30_000),
    "PNG of huge dimensions (200000 x 1)": lambda: png_declaring(200_000, 1),
    "PNG bomb by ratio (one colour, 6000 x 6000)": lambda: _saved(
        Image.new("RGB", (6000, 6000), "white"), "PNG"
    ),
    "CMYK JPEG": lambda: _saved(_picture("CMYK"), "JPEG"),
    "16-bit PNG": lambda: _saved(_picture("I;16"), "PNG"),
    "palette PNG": lambda: _saved(_picture("P"), "PNG"),
    "animated GIF": _animated_gif,
    "JPEG with EXIF orientation": _jpeg_rotated,
    "JPEG with a 1 MB ICC profile": lambda: _saved(_picture(), "JPEG", icc_profile=b"\x00" * (1 << 20)),
    "HEIC under a .jpg name": lambda: _ftyp(b"heic"),
    "AVIF under a .jpg name": lambda: _ftyp(b"avif"),
    "WebP": lambda: _saved(_picture(), "WEBP"),
    "TIFF": lambda: _saved(_picture(), "TIFF"),
    "SVG": lambda: (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    ),
    "PDF": lambda: b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    "ZIP": _zip,
}


@pytest.fixture
def subject(make_request: Any) -> services.IntakeResult:
    result = make_request(email="hostile@example.org", language="de")
    RemovalRequest.objects.filter(id=result.request.id).update(email_confirmed_at=timezone.now())
    return result


def _post(client: Any, token: str, data: bytes, language: str) -> Any:
    cache.clear()  # the upload rate limits are tested elsewhere; each file gets the page's full budget
    return client.post(
        f"{reverse('removal:verify_identity')}?t={token}",
        {"headshot": SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")},
        HTTP_ACCEPT_LANGUAGE=language,
    )


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_hostile_file_is_refused_clearly_in_the_subjects_language_and_leaves_nothing(
    name: str, client: Any, subject: services.IntakeResult, face_models: Any
) -> None:
    data = CORPUS[name]()
    english = _post(client, subject.status_token, data, "en")
    with watching() as recorded:
        german = _post(client, subject.status_token, data, "de")
    assert english.status_code == german.status_code and 400 <= german.status_code < 500, name
    english_errors = _ERRORS.findall(english.content.decode())
    german_errors = _ERRORS.findall(german.content.decode())
    assert english_errors and german_errors, f"{name}: the page names the problem"
    assert english_errors != german_errors, f"{name}: the German page says it in German"
    assert files_written(recorded) == [], f"{name}: written while handled: {recorded}"
    request = RemovalRequest.objects.get(id=subject.request.id)
    assert request.status == Status.RECEIVED
    assert not VerificationRecord.objects.exists() and not HeadshotProbe.objects.exists()
    assert services.attempts_left(request) == settings.IDENTITY_MAX_ATTEMPTS  # none spent


def test_a_50_mb_body_is_refused_before_it_is_read(client: Any, subject: services.IntakeResult) -> None:
    with watching() as recorded:
        response = _post(client, subject.status_token, b"\xff\xd8\xff" + b"\x00" * (50 << 20), "de")
    assert response.status_code == 413
    assert files_written(recorded) == []
    assert not VerificationRecord.objects.exists()
