"""Faces: exactly one usable face in a headshot, same person close, different people far apart."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from identity.faces import FaceRejected, classify_distance, compare, model_paths
from identity.images import decode_image

ROOT = Path(__file__).resolve().parents[2]


def side_by_side(*photos: bytes) -> bytes:
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos]
    height = min(img.height for img in images)
    images = [img.resize((round(img.width * height / img.height), height)) for img in images]
    canvas = Image.new("RGB", (sum(img.width for img in images), height), "white")
    x = 0
    for img in images:
        canvas.paste(img, (x, 0))
        x += img.width
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_photos_of_the_same_person_match(face_models: Any, photos: dict[str, bytes]) -> None:
    obama = [face_models.headshot_embedding(decode_image(photos[f])) for f in ("obama.jpg", "obama2.jpg")]
    assert obama[0].shape == (128,) and obama[0].dtype == np.float32
    assert compare(obama[0], obama[1]).outcome == "match"


def test_photos_of_different_people_do_not_match(face_models: Any, photos: dict[str, bytes]) -> None:
    obama = face_models.headshot_embedding(decode_image(photos["obama.jpg"]))
    for other in ("biden.jpg", "astronaut.jpg"):
        result = compare(obama, face_models.headshot_embedding(decode_image(photos[other])))
        assert result.outcome == "no_match"
        assert result.distance > 0.7


def test_a_headshot_without_a_face_is_rejected(face_models: Any) -> None:
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((400, 400)).save(buffer, format="PNG")
    with pytest.raises(FaceRejected) as caught:
        face_models.headshot_embedding(decode_image(buffer.getvalue()))
    assert caught.value.code == "no_face"
    assert "couldn't find a face" in caught.value.message


def test_a_headshot_with_two_people_is_rejected(face_models: Any, photos: dict[str, bytes]) -> None:
    with pytest.raises(FaceRejected) as caught:
        face_models.headshot_embedding(decode_image(side_by_side(photos["obama.jpg"], photos["biden.jpg"])))
    assert caught.value.code == "several_faces"
    assert "only your face" in caught.value.message


def test_a_face_far_away_is_too_small(face_models: Any, photos: dict[str, bytes]) -> None:
    with Image.open(io.BytesIO(photos["obama.jpg"])) as img:
        face = img.convert("RGB").resize((120, 150))
    scene = Image.new("RGB", (900, 700), (90, 110, 100))
    scene.paste(face, (400, 300))
    buffer = io.BytesIO()
    scene.save(buffer, format="PNG")
    with pytest.raises(FaceRejected) as caught:
        face_models.headshot_embedding(decode_image(buffer.getvalue()))
    assert caught.value.code == "face_too_small"


def test_the_distance_bands_are_configurable() -> None:
    assert classify_distance(0.45) == "match"
    assert classify_distance(0.55) == "inconclusive"
    assert classify_distance(0.65) == "no_match"
    assert classify_distance(0.55, threshold=0.6, inconclusive_band=None) == "match"
    assert classify_distance(0.45, threshold=0.4, inconclusive_band=(0.4, 0.5)) == "inconclusive"
    with pytest.raises(ValueError, match="band"):
        classify_distance(0.5, threshold=0.7, inconclusive_band=(0.5, 0.6))


def test_model_files_are_found_without_pkg_resources_and_never_the_68_point_model() -> None:
    # A fresh interpreter, so nothing imported by other tests hides an import: locating and loading
    # the models and embedding a face must import neither pkg_resources nor the models package, and
    # must hand dlib only the 5-point and ResNet files.
    script = """
import sys, dlib
loaded = []
real_predictor, real_net = dlib.shape_predictor, dlib.face_recognition_model_v1
dlib.shape_predictor = lambda path: (loaded.append(path), real_predictor(path))[1]
dlib.face_recognition_model_v1 = lambda path: (loaded.append(path), real_net(path))[1]
from identity import faces
from identity.images import decode_image
paths = faces.model_paths()
image = decode_image(open(sys.argv[1], "rb").read())
faces.headshot_embedding(image)
assert "pkg_resources" not in sys.modules, "pkg_resources was imported"
assert "face_recognition_models" not in sys.modules, "the models package was executed"
assert all("68" not in p for p in loaded), loaded
print(",".join(p.rsplit("/", 1)[-1] for p in loaded))
"""
    photo = ROOT / "tests" / "fixtures" / "identity" / "obama.jpg"
    done = subprocess.run(
        [sys.executable, "-c", script, str(photo)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == "shape_predictor_5_face_landmarks.dat,dlib_face_recognition_resnet_model_v1.dat"
    )
    assert model_paths().landmarks.name == "shape_predictor_5_face_landmarks.dat"


def test_no_identity_module_mentions_the_68_point_model() -> None:
    for source in (ROOT / "identity").glob("*.py"):
        assert "68_face_landmarks" not in source.read_text(), source.name
