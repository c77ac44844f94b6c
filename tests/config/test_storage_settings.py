"""Where sealed files and the erasure journal go: private folders by default, an S3 bucket by
configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def _storages_with(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'default': settings.STORAGES['default'], 'media': str(settings.MEDIA_ROOT), "
        "'journal': settings.STORAGES['erasure_journal']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_files_go_to_a_private_folder_under_var_by_default(tmp_path: Path) -> None:
    config = _storages_with({"VAR_DIR": str(tmp_path), "STORAGE_S3_BUCKET": ""})
    assert config["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert config["media"] == str(tmp_path / "media")
    assert config["journal"] == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "erasure-journal")},
    }


def test_an_s3_bucket_is_private_encrypted_and_never_overwritten(tmp_path: Path) -> None:
    config = _storages_with(
        {"VAR_DIR": str(tmp_path), "STORAGE_S3_BUCKET": "removal-probes", "STORAGE_S3_REGION": "eu-central-1"}
    )
    default = config["default"]
    assert isinstance(default, dict)
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "removal-probes" and options["region_name"] == "eu-central-1"
    assert options["default_acl"] == "private" and options["file_overwrite"] is False
    assert options["object_parameters"] == {"ServerSideEncryption": "AES256"}
    from storages.backends.s3 import S3Storage

    # The installed backend accepts exactly these options (it connects only on first use).
    storage = S3Storage(**options)
    assert (storage.bucket_name, storage.location, storage.default_acl) == (
        "removal-probes",
        "removal-service",
        "private",
    )
    # The erasure journal: the same bucket and protections under a prefix of its own.
    journal = config["journal"]
    assert isinstance(journal, dict)
    assert journal["OPTIONS"] == {**options, "location": "removal-erasure-journal"}
