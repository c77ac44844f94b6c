"""Uploads of ID photos stay in memory: over the caps they get a clear 4xx, never a temporary file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.identity.upload_urls import KIB
from tests.support.disk_writes import Write, watching

pytestmark = pytest.mark.urls("tests.identity.upload_urls")


@pytest.fixture
def disk_writes(settings: Any, tmp_path: Path) -> Iterator[list[Write]]:
    """Every file the request opens for writing, and what appeared in the temp dirs."""
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(upload_dir)
    system_temp = Path(tempfile.gettempdir())
    before = set(os.listdir(system_temp))
    with watching() as recorded:
        yield recorded
    recorded.extend(Write("left in FILE_UPLOAD_TEMP_DIR", name) for name in os.listdir(upload_dir))
    new_in_temp = {name for name in set(os.listdir(system_temp)) - before if ".upload" in name}
    recorded.extend(Write("left in the temp dir", name) for name in new_in_temp)


def photo(size: int, name: str = "id.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"\xff\xd8\xff" + b"\x5a" * (size - 3), content_type="image/jpeg")


def test_a_photo_under_the_cap_is_kept_in_memory(client: Client, disk_writes: list[Any]) -> None:
    response = client.post("/upload-exempt/", {"document": photo(900 * KIB), "name": "Zoë"})
    assert response.status_code == 200
    body = response.json()
    assert body["files"]["document"] == {
        "size": 900 * KIB,
        "class": "InMemoryUploadedFile",
        "start": "ffd8ff5a",
    }
    assert body["handlers"] == ["MemoryOnlyUploadHandler"]
    assert body["fields"] == {"name": "Zoë"}
    assert disk_writes == []


def test_a_photo_over_the_per_file_cap_gets_413_and_never_touches_disk(
    client: Client, disk_writes: list[Any]
) -> None:
    response = client.post("/upload-exempt/", {"document": photo(1200 * KIB)})
    assert response.status_code == 413
    assert response.content.decode() == (
        "A photo is larger than 1 MB, the limit. Send a smaller photo "
        "(choose a smaller size when sharing it, or take a screenshot of it)."
    )
    assert disk_writes == []


def test_photos_over_the_total_cap_get_413(client: Client, disk_writes: list[Any]) -> None:
    response = client.post("/upload-exempt/", {"headshot": photo(800 * KIB), "document": photo(800 * KIB)})
    assert response.status_code == 413
    assert "add up to more than 1.5 MB" in response.content.decode()
    assert disk_writes == []


def test_an_announced_body_over_the_cap_is_refused_before_it_is_read(
    client: Client, disk_writes: list[Any]
) -> None:
    response = client.post("/upload-exempt/", {"document": photo(3 * 1024 * KIB)})
    assert response.status_code == 413
    assert "add up to more than" in response.content.decode()
    assert disk_writes == []


def test_too_many_files_get_413(client: Client) -> None:
    files = {f"photo{i}": photo(10 * KIB) for i in range(3)}
    response = client.post("/upload-exempt/", files)
    assert response.status_code == 413
    assert "at most 2 photos" in response.content.decode()


def test_api_clients_get_the_refusal_as_json(client: Client) -> None:
    response = client.post(
        "/upload-exempt/", {"document": photo(1200 * KIB)}, headers={"accept": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_without_the_decorator_django_still_answers_400(client: Client, disk_writes: list[Any]) -> None:
    response = client.post("/manual/", {"document": photo(1200 * KIB)})
    assert response.status_code == 400
    assert disk_writes == []


def test_csrf_is_checked_after_the_memory_handler_is_installed(disk_writes: list[Any]) -> None:
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post("/upload/", {"document": photo(900 * KIB)})
    assert refused.status_code == 403  # CSRF read the body: with our handler, so nothing was spooled

    token = browser.get("/token/").content.decode()
    accepted = browser.post("/upload/", {"document": photo(900 * KIB), "csrfmiddlewaretoken": token})
    assert accepted.status_code == 200
    assert accepted.json()["files"]["document"]["class"] == "InMemoryUploadedFile"

    too_big = browser.post("/upload/", {"document": photo(1200 * KIB), "csrfmiddlewaretoken": token})
    assert too_big.status_code == 413
    assert disk_writes == []


def test_a_view_that_was_csrf_exempt_stays_exempt() -> None:
    from tests.identity.upload_urls import upload, upload_exempt

    assert getattr(upload_exempt, "csrf_exempt", False)
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/upload-exempt/", {"document": photo(10 * KIB)}).status_code == 200
    assert browser.post("/upload/", {"document": photo(10 * KIB)}).status_code == 403
    assert getattr(upload, "csrf_exempt", False)  # for the middleware; the view checks CSRF itself


def test_the_detector_sees_djangos_default_spooling(
    client: Client, settings: Any, disk_writes: list[Any]
) -> None:
    # Control: the same upload through Django's default handlers goes through a temporary file, and
    # the checks above would have seen it.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100 * KIB
    response = client.post("/defaults/", {"document": photo(900 * KIB)})
    assert response.json()["files"]["document"]["class"] == "TemporaryUploadedFile"
    assert any(event == "tempfile.mkstemp" for event, _ in disk_writes)
