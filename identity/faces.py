"""Face detection, 128-d embeddings and same-person comparison with dlib.

Models: dlib's HOG frontal face detector (built into dlib), the 5-point landmark model and the ResNet
embedding model, both shipped as data files by the `face_recognition_models` package. The 68-point
landmark model in that same package is never loaded: its training data's licence forbids commercial
use. The 5-point model is all the ResNet needs to align a face.

`face_recognition_models/__init__.py` imports `pkg_resources`, which is deprecated and missing from
current setuptools, so the package is never imported: its directory is found from the import
system's spec (which does not execute the package) and the files are opened by path.

Models load lazily, once per process, under a lock; inference also runs under a lock because dlib
documents no thread safety for its detectors and its DNN keeps per-call buffers inside the network
object. Processes (gunicorn workers, Celery) each get their own copy.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from django.utils.translation import gettext_noop

from identity.errors import VerificationInputError
from identity.images import DecodedImage, fit_within

if TYPE_CHECKING:
    from collections.abc import Sequence

MODELS_PACKAGE: Final = "face_recognition_models"
LANDMARKS_MODEL: Final = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_MODEL: Final = "dlib_face_recognition_resnet_model_v1.dat"

# The HOG detector's window is 80x80: smaller faces are only found after upsampling, and faces that
# small embed poorly. A headshot whose face is smaller than this is a photo of a room, not a face.
DEFAULT_MIN_HEADSHOT_FACE: Final = 80
# Headshots are downscaled to this before detection: 1280 px keeps a selfie's face at 300+ px while
# keeping HOG (about 1 s per 12 MP at upsample 0) well under a second.
HEADSHOT_MAX_SIDE: Final = 1280
DOCUMENT_MAX_SIDE: Final = 1600
# HOG detection scores: clear faces score 0.5-2.5; patches and patterns that fool the detector rarely
# reach 0.2 (the astronaut photo's mission patch scores about 0.1).
SECOND_FACE_MIN_SCORE: Final = 0.3

Outcome = Literal["match", "inconclusive", "no_match"]


class FaceRejected(VerificationInputError):
    """The photo has no usable face. Codes: `no_face`, `several_faces`, `face_too_small`.

    Messages are English literals marked with `gettext_noop`, translated where they are shown.
    """


class FaceModelsMissing(RuntimeError):
    """The model files are not installed (a deployment problem, not the subject's)."""


@dataclass(frozen=True)
class FaceBox:
    """A detected face, in pixel coordinates of the image it was found in."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def side(self) -> int:
        return min(self.width, self.height)


@dataclass(frozen=True)
class FaceComparison:
    """The L2 distance between two embeddings and what the policy makes of it."""

    distance: float
    outcome: Outcome


@dataclass(frozen=True)
class ModelPaths:
    landmarks: Path
    embedding: Path


def model_paths() -> ModelPaths:
    """Locate the two model files without importing `face_recognition_models` (see module docs)."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelsMissing(
            f"The face models are not installed: pip install {MODELS_PACKAGE}==0.3.0 (see requirements.txt)"
        )
    for location in spec.submodule_search_locations:
        models = Path(location) / "models"
        paths = ModelPaths(landmarks=models / LANDMARKS_MODEL, embedding=models / EMBEDDING_MODEL)
        if paths.landmarks.is_file() and paths.embedding.is_file():
            return paths
    raise FaceModelsMissing(f"{MODELS_PACKAGE} is installed but lacks {LANDMARKS_MODEL} or {EMBEDDING_MODEL}")


class _Models:
    def __init__(self) -> None:
        import dlib  # deferred: importing this module (e.g. for `classify_distance`) stays cheap

        paths = model_paths()
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(paths.landmarks))
        self.embedder = dlib.face_recognition_model_v1(str(paths.embedding))
        self.rectangle = dlib.rectangle


_models: _Models | None = None
_load_lock = threading.Lock()
_inference_lock = threading.Lock()


def _get_models() -> _Models:
    global _models
    if _models is None:
        with _load_lock:
            if _models is None:
                _models = _Models()
    return _models


def warm_up() -> None:
    """Load the models now (a worker can call this at start so the first request isn't slow)."""
    _get_models()


def detect_faces(image: DecodedImage | np.ndarray, *, upsample: int = 0) -> list[FaceBox]:
    """Frontal faces in the image, best score first. `upsample` doubles the image that many times."""
    if upsample < 0 or upsample > 3:
        raise ValueError("upsample must be between 0 and 3")
    pixels = _pixels(image)
    models = _get_models()
    with _inference_lock:
        rects, scores, _ = models.detector.run(pixels, upsample, 0.0)
    height, width = pixels.shape[:2]
    boxes = [
        FaceBox(
            left=max(0, rect.left()),
            top=max(0, rect.top()),
            right=min(width, rect.right()),
            bottom=min(height, rect.bottom()),
            score=float(score),
        )
        for rect, score in zip(rects, scores, strict=True)
    ]
    return sorted(boxes, key=lambda box: box.score, reverse=True)


def embed_face(image: DecodedImage | np.ndarray, box: FaceBox, *, jitter: int = 0) -> np.ndarray:
    """The 128-d float32 embedding of the face in `box` (aligned with the 5-point landmarks)."""
    pixels = _pixels(image)
    models = _get_models()
    rect = models.rectangle(box.left, box.top, box.right, box.bottom)
    with _inference_lock:
        shape = models.landmarks(pixels, rect)
        descriptor = models.embedder.compute_face_descriptor(pixels, shape, jitter)
    return np.asarray(descriptor, dtype=np.float32).reshape(128)


def headshot_embedding(
    image: DecodedImage,
    *,
    min_face: int = DEFAULT_MIN_HEADSHOT_FACE,
    max_side: int = HEADSHOT_MAX_SIDE,
    second_face_min_score: float = SECOND_FACE_MIN_SCORE,
) -> np.ndarray:
    """The embedding of the one face in a headshot, or `FaceRejected` saying how to retake it.

    Faces smaller than `min_face` pixels (at the analysed size) don't count as a second person: a
    stranger far in the background must not cost a retake, while two people posing together must.
    """
    small = fit_within(image, max_side=max_side)
    faces = detect_faces(small, upsample=0)
    if not faces:
        # Retry upsampled: a face between 40 and 80 px is found only this way, and it is then
        # reported as too small rather than as missing. (dlib maps boxes back to input coordinates.)
        faces = detect_faces(small, upsample=1)
    # Measured at the analysed size, because that is the size the embedding is computed from.
    usable = [face for face in faces if face.side >= min_face]
    # A weak extra detection is usually a pattern (a badge, a print on a shirt), not a second person;
    # the best face is always kept, whatever its score.
    usable = usable[:1] + [face for face in usable[1:] if face.score >= second_face_min_score]
    if len(usable) > 1:
        raise FaceRejected(
            "several_faces",
            gettext_noop("We see more than one face. Take the photo with only your face in the frame."),
        )
    if not usable:
        if faces:
            raise FaceRejected(
                "face_too_small",
                gettext_noop(
                    "Your face is too small in the photo. Hold the camera closer so your face fills most "
                    "of the frame."
                ),
            )
        raise FaceRejected(
            "no_face",
            gettext_noop(
                "We couldn't find a face. Face the camera, in good light, without sunglasses or anything "
                "covering your face."
            ),
        )
    return embed_face(small, usable[0])


def document_portrait_embedding(image: DecodedImage, *, max_side: int = DOCUMENT_MAX_SIDE) -> np.ndarray:
    """The embedding of the holder's portrait printed on an ID document.

    The portrait covers a small part of the photo, so detection escalates: as is, then upsampled once,
    then twice (on a smaller copy, so the work stays bounded). Several faces are normal here (many
    documents print a second, "ghost" portrait), so the largest face is the holder's.
    """
    for upsample, side in ((0, max_side), (1, max_side), (2, max_side // 2)):
        working = fit_within(image, max_side=side)
        faces = detect_faces(working, upsample=upsample)
        if faces:
            largest = max(faces, key=lambda face: face.width * face.height)
            return embed_face(working, largest)
    raise FaceRejected(
        "no_face",
        gettext_noop(
            "We couldn't find the portrait on your document. Show the whole document in the frame, flat, "
            "in good light and without glare on the photo."
        ),
    )


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean (L2) distance between two embeddings: dlib's model is trained so that the same
    person is usually below 0.6."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def classify_distance(
    distance: float,
    *,
    threshold: float = 0.50,
    inconclusive_band: tuple[float, float] | None = (0.50, 0.60),
) -> Outcome:
    """Place a distance: the threshold is the match boundary, the band is the zone of doubt around it
    that a person reviews. Inside the band -> inconclusive; otherwise below the threshold -> match."""
    _check_policy(threshold, inconclusive_band)
    if inconclusive_band is not None and inconclusive_band[0] <= distance < inconclusive_band[1]:
        return "inconclusive"
    return "match" if distance < threshold else "no_match"


def compare(
    a: np.ndarray,
    b: np.ndarray,
    *,
    threshold: float = 0.50,
    inconclusive_band: tuple[float, float] | None = (0.50, 0.60),
) -> FaceComparison:
    """Compare two embeddings (see `classify_distance` for the thresholds)."""
    distance = face_distance(a, b)
    return FaceComparison(
        distance=distance,
        outcome=classify_distance(distance, threshold=threshold, inconclusive_band=inconclusive_band),
    )


def _check_policy(threshold: float, band: Sequence[float] | None) -> None:
    if not 0 < threshold < 2:
        raise ValueError("threshold must be between 0 and 2 (the range of distances between unit vectors)")
    if band is not None and not band[0] <= threshold <= band[1]:
        raise ValueError("the inconclusive band must contain the threshold: band[0] <= threshold <= band[1]")


def _pixels(image: DecodedImage | np.ndarray) -> np.ndarray:
    pixels: Any = image.pixels if isinstance(image, DecodedImage) else image
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError("expected an RGB uint8 image of shape (height, width, 3)")
    return np.ascontiguousarray(pixels)
