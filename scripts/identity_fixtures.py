#!/usr/bin/env python3
"""Fetch the real face photos the identity tests use, from packages on PyPI, into tests/fixtures/identity/.

Sources (see tests/fixtures/identity/PROVENANCE.md for the licences):
- the source distribution of face_recognition 1.3.0, whose tests/test_images/ holds three photos of
  one person (obama.jpg, obama2.jpg, obama3.jpg) and one of another (biden.jpg);
- the scikit-image 0.26.0 wheel, which ships skimage/data/astronaut.png (Eileen Collins, NASA).

Only `pip download` is used: nothing is installed (face_recognition would pull a long source build of
dlib). Photos are downscaled so their longer side is at most 800 px and re-encoded from pixels (which
also drops their EXIF), which keeps the committed files small. Idempotent: files already present are
left alone, so tests can call `ensure_fixtures()` every session.

Uses only the standard library, Pillow and numpy.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "identity"
MAX_SIDE = 800

FACE_RECOGNITION = "face_recognition==1.3.0"
FACE_RECOGNITION_PHOTOS = {
    "face_recognition-1.3.0/tests/test_images/obama.jpg": "obama.jpg",
    "face_recognition-1.3.0/tests/test_images/obama2.jpg": "obama2.jpg",
    "face_recognition-1.3.0/tests/test_images/obama3.jpg": "obama3.jpg",
    "face_recognition-1.3.0/tests/test_images/biden.jpg": "biden.jpg",
}
SCIKIT_IMAGE = "scikit-image==0.26.0"
SCIKIT_IMAGE_PHOTOS = {"skimage/data/astronaut.png": "astronaut.jpg"}

ALL_NAMES = [*FACE_RECOGNITION_PHOTOS.values(), *SCIKIT_IMAGE_PHOTOS.values()]


def missing() -> list[str]:
    return [name for name in ALL_NAMES if not (FIXTURES / name).is_file()]


def ensure_fixtures(*, quiet: bool = False) -> list[Path]:
    """Make sure every photo is in tests/fixtures/identity/, downloading only what is missing."""
    needed = set(missing())
    if needed:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="identity-fixtures-") as workdir:
            if needed & set(FACE_RECOGNITION_PHOTOS.values()):
                archive = _pip_download(FACE_RECOGNITION, Path(workdir), binary=False, quiet=quiet)
                with tarfile.open(archive) as tar:
                    for member, name in FACE_RECOGNITION_PHOTOS.items():
                        source = tar.extractfile(member)
                        if source is None:
                            raise SystemExit(f"{archive.name} has no {member}")
                        _store(source.read(), name)
            if needed & set(SCIKIT_IMAGE_PHOTOS.values()):
                wheel = _pip_download(SCIKIT_IMAGE, Path(workdir), binary=True, quiet=quiet)
                with zipfile.ZipFile(wheel) as archive_zip:
                    for member, name in SCIKIT_IMAGE_PHOTOS.items():
                        _store(archive_zip.read(member), name)
    return [FIXTURES / name for name in ALL_NAMES]


def _pip_download(requirement: str, into: Path, *, binary: bool, quiet: bool) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"]
    command += [str(into), requirement]
    # The sdist of face_recognition is the only distribution holding its test photos; for
    # scikit-image the wheel holds the same data file without needing a build.
    command += ["--only-binary", ":all:"] if binary else ["--no-binary", requirement.split("==")[0]]
    if quiet:
        command.append("--quiet")
    subprocess.run(command, check=True)  # noqa: S603 - fixed arguments, our own interpreter
    name = requirement.split("==")[0].replace("-", "_").lower()
    found = [path for path in into.iterdir() if path.name.lower().replace("-", "_").startswith(name)]
    if len(found) != 1:
        raise SystemExit(f"pip download {requirement} produced {[p.name for p in into.iterdir()]}")
    return found[0]


def _store(data: bytes, name: str) -> None:
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    rgb.save(FIXTURES / name, format="JPEG", quality=88, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a photo is missing; download nothing")
    args = parser.parse_args()
    if args.check:
        absent = missing()
        for name in absent:
            print(f"missing: {FIXTURES / name}")
        return 1 if absent else 0
    for path in ensure_fixtures():
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
