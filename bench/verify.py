"""Identity verification latency: a headshot and a passport photo through `verify_identity`.

Run from the project root:

    .venv/bin/python bench/verify.py                      # 20 passports, each verified once
    .venv/bin/python bench/verify.py --documents 5 --repeat 3 --profile always

Everything runs in this one process, on this machine; nothing is written to disk but a temporary
VAR_DIR, removed on exit (and the fixture photos, fetched once by scripts/identity_fixtures.py if a
fresh clone lacks them). Django is set up with config.settings and throwaway secrets, because the
identity modules mark their messages for translation at import time; no database, broker or mail is
used. The decision uses the pipeline's default policy, whose thresholds are the settings' defaults.

What it does:

1. Inputs, all made before any timing. Headshots: the committed Obama photos (tests/fixtures/identity,
   at most 800 px). Passports: `--documents` TD3 passports drawn with tests/identity/documents.py
   (seeds 0..N-1, the Obama holder, the portrait cut from a different Obama photo than the headshot),
   "photographed" with that module's degradation for the seed but at `--document-width` px (default
   4032: a 12 MP phone photo, which is what a phone uploads).
2. Warm-up, not counted: one verification (the dlib models load, tesseract's files reach the page
   cache) and a different-person control (Biden's headshot) that must not come out verified.
3. For every (headshot, passport) pair, `--repeat` times, in the same iteration:
   a. end to end: `identity.pipeline.verify_identity(headshot=..., document=..., typed_name=...,
      today=...)`;
   b. the same stages called one by one, with the functions the pipeline calls: decode (both photos,
      `images.decode_image`), face (`faces.headshot_embedding` + `faces.document_portrait_embedding`
      + distance), MRZ (`mrz.read_mrz`) and the rest (headshot re-encoding, name score, decision);
      (a) and (b) alternate in order from one iteration to the next;
   c. the engines alone on exactly what the pipeline handed them: dlib's HOG detector (with the same
      upsample escalation), 5-point shape predictor and `compute_face_descriptor` on the same arrays,
      and `tesseract` re-run with the very PNG and arguments `read_mrz` sent it in (b) (recorded by
      a wrapper around `subprocess.run` in `identity.mrz`; one PNG per call, and the number of calls
      per document is reported). Pillow's bare JPEG decode is shown beside the decode stage.
4. Prints wall-clock p50/p95/mean/max per stage and per model, CPU time (this process + tesseract,
   which other load on a shared machine barely moves) for end to end, stage sum and models, the
   ratios (target: end-to-end p95 within 2x of the stages' work, i.e. of the p95 of the
   per-verification sum of the stages measured in the same iteration; and, for the overhead over the
   engines, end to end against models only), peak RSS (this process, and tesseract's own) and the
   checks.
5. When end-to-end p95 is more than 2x the stages' or the models' own p95, profiles `--profile-runs`
   verifications with cProfile and prints where the time goes (`--profile always|never` overrides).

Correctness checks (exit status 1 if one fails): at least 90 % of the same-person verifications come
out "verified"; the different-person control does not; the stage-by-stage run reaches the same
decision and face distance as the end-to-end call; the bare engines find the faces and tesseract exits
0 on every replayed call; the run finished within `--timeout` seconds. The figures are for reading,
not for asserting.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import cProfile
import importlib.util
import io
import os
import platform
import pstats
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from statistics import fmean
from typing import Any

# Run as a script (`python bench/verify.py`): the project root is not on sys.path by itself.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def _settings_env(var_dir: Path) -> dict[str, str]:
    """Production-style settings with throwaway secrets (the shapes of scripts/generate_env.py).

    The identity modules need configured settings at import time (their messages are marked for
    translation); nothing here touches a database, a broker or the mail. Explicit values win over
    the project's .env, which settings read without overwriting.
    """
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_MASTER_KEYS": f"mk-{secrets.token_hex(4)}:{master_key}",
        "VAULT_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "REDIS_URL": "",
        "CACHE_URL": "locmemcache://",
        "EMAIL_URL": "dummymail://",
        "VAR_DIR": str(var_dir),
    }


# Settings make VAR_DIR (and a file broker's folders in it): a temporary one, removed on exit.
_VAR_DIR = Path(tempfile.mkdtemp(prefix="verify-bench-"))
atexit.register(shutil.rmtree, _VAR_DIR, ignore_errors=True)
os.environ.update(_settings_env(_VAR_DIR))

import django  # noqa: E402

from bench._support import percentile, reset_peak_rss, run_measuring_peak_rss  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from identity import faces, images, mrz, names, pipeline  # noqa: E402
from identity.decision import DEFAULT_POLICY, Decision, decide  # noqa: E402
from tests.identity import documents  # noqa: E402

ROOT = _ROOT
FIXTURES_SCRIPT = ROOT / "scripts" / "identity_fixtures.py"
TODAY = date(2026, 3, 1)  # as in the tests: the holder's passport expires in 2031
TYPED_NAME = "Barack Obama"
HOLDER = documents.Holder(surname="OBAMA", given_names="BARACK<HUSSEIN", document_number="X4RT58N21")
SAME_PERSON = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHER_PERSON = "biden.jpg"
# Face boxes (left, top, right, bottom) in the committed photos, the same fixed values the test
# fixtures use (tests/support/identity_fixtures.py, which can't be imported without the test
# settings), so drawing a document does not depend on the detector under test.
FACE_BOXES = {
    "obama.jpg": (254, 94, 433, 273),
    "obama2.jpg": (114, 194, 293, 373),
    "obama3.jpg": (215, 100, 319, 204),
}
MIN_VERIFIED_SHARE = 0.90
TARGET_RATIO = 2.0


class BenchError(RuntimeError):
    """The bench could not run; the message says why."""


# --- Configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    documents: int
    repeat: int
    document_width: int
    profile: str
    profile_runs: int
    timeout: float


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description="Per-verification latency of identity.pipeline.verify_identity, by stage and model."
    )
    parser.add_argument("--documents", type=int, default=20, help="synthetic passports (default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="times each pair is verified (default 1)")
    parser.add_argument(
        "--document-width",
        type=int,
        default=4032,
        help="width of the passport photos in px (default 4032: 12 MP; the tests use 1200-1600)",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="cProfile some verifications: auto = only when a 2x ratio is exceeded (default)",
    )
    parser.add_argument("--profile-runs", type=int, default=3, help="verifications profiled (default 3)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="no new measurement starts after this many seconds (default 600); a cut run fails",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.documents <= 500:
        parser.error("--documents must be between 1 and 500")
    if not 1 <= args.repeat <= 50:
        parser.error("--repeat must be between 1 and 50")
    if not 640 <= args.document_width <= 8000:
        parser.error("--document-width must be between 640 and 8000")
    if args.profile_runs < 1 or args.timeout <= 0:
        parser.error("--profile-runs must be >= 1 and --timeout > 0")
    return Config(
        documents=args.documents,
        repeat=args.repeat,
        document_width=args.document_width,
        profile=args.profile,
        profile_runs=args.profile_runs,
        timeout=args.timeout,
    )


# --- Inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    seed: int
    headshot_name: str
    portrait_name: str
    headshot: bytes = field(repr=False)
    document: bytes = field(repr=False)
    document_size: tuple[int, int]


def fixture_photos() -> dict[str, bytes]:
    """The committed photos, fetched first by scripts/identity_fixtures.py if they are missing."""
    spec = importlib.util.spec_from_file_location("identity_fixtures", FIXTURES_SCRIPT)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load {FIXTURES_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {path.name: path.read_bytes() for path in module.ensure_fixtures(quiet=True)}


def portrait_from(photo: bytes, box: tuple[int, int, int, int]) -> Image.Image:
    """A passport-photo crop around the face: some room at the sides, more below the chin."""
    left, top, right, bottom = box
    side = right - left
    with Image.open(io.BytesIO(photo)) as img:
        rgb = img.convert("RGB")
    return rgb.crop(
        (
            max(0, round(left - 0.55 * side)),
            max(0, round(top - 0.6 * side)),
            min(rgb.width, round(right + 0.55 * side)),
            min(rgb.height, round(bottom + 0.85 * side)),
        )
    )


def make_cases(photos: dict[str, bytes], *, count: int, width: int) -> list[Case]:
    if not documents.OCR_B.exists():
        raise BenchError(f"the OCR-B font is missing ({documents.OCR_B}): apt-get install fonts-ocr-b")
    cases = []
    for seed in range(count):
        portrait_name = SAME_PERSON[seed % len(SAME_PERSON)]
        headshot_name = SAME_PERSON[(seed + 1) % len(SAME_PERSON)]  # another photo of the same man
        portrait = portrait_from(photos[portrait_name], FACE_BOXES[portrait_name])
        flat = documents.render_document("TD3", HOLDER, portrait, seed=seed)
        degradation = replace(documents.degradation_for(seed), out_width=width)
        shot = documents.photograph(flat, seed=seed, degradation=degradation)
        with Image.open(io.BytesIO(shot)) as img:
            size = img.size
        cases.append(
            Case(
                seed=seed,
                headshot_name=headshot_name,
                portrait_name=portrait_name,
                headshot=photos[headshot_name],
                document=shot,
                document_size=size,
            )
        )
    return cases


# --- Measurements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TesseractCall:
    args: list[str]
    kwargs: dict[str, Any] = field(repr=False)
    stdout: bytes = field(repr=False)
    seconds: float


class TesseractRecorder:
    """Stands in for the `subprocess` module inside identity.mrz: runs the real call, keeps its input.

    Only `run` and `TimeoutExpired` are used there. The wrapper costs microseconds next to a call.
    """

    TimeoutExpired = subprocess.TimeoutExpired

    def __init__(self) -> None:
        self.calls: list[TesseractCall] = []

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        began = time.perf_counter()
        completed: subprocess.CompletedProcess[bytes] = subprocess.run(args, **kwargs)
        took = time.perf_counter() - began
        self.calls.append(TesseractCall(list(args), dict(kwargs), completed.stdout, took))
        return completed

    @contextmanager
    def installed(self) -> Iterator[TesseractRecorder]:
        self.calls = []
        original = mrz.subprocess
        mrz.subprocess = self  # type: ignore[assignment]
        try:
            yield self
        finally:
            mrz.subprocess = original


def tesseract_own_peak_mb(call: TesseractCall) -> float | None:
    """tesseract's peak RSS on one of the calls read_mrz made (untimed)."""
    try:
        _completed, peak = run_measuring_peak_rss(
            list(call.args),
            input=call.kwargs.get("input", b""),
            env=call.kwargs.get("env"),
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return peak


@dataclass
class StageRun:
    seconds: dict[str, float]
    decision: Decision
    headshot_image: images.DecodedImage = field(repr=False)
    document_image: images.DecodedImage = field(repr=False)
    tesseract: list[TesseractCall]


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (tesseract): other load barely moves it."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_end_to_end(case: Case) -> tuple[float, float, pipeline.Verification]:
    """Wall-clock seconds, CPU seconds and the result of one verify_identity call."""
    cpu = cpu_seconds()
    began = time.perf_counter()
    result = pipeline.verify_identity(
        headshot=case.headshot, document=case.document, typed_name=TYPED_NAME, today=TODAY
    )
    return time.perf_counter() - began, cpu_seconds() - cpu, result


def run_stages(case: Case, recorder: TesseractRecorder) -> StageRun:
    """What verify_identity does, in its order, with a clock between the stages."""
    clock = time.perf_counter
    cpu = cpu_seconds()
    t0 = clock()
    headshot_image = images.decode_image(case.headshot, reduce_to=pipeline.HEADSHOT_DECODE_SIDE)
    t1 = clock()
    vector = faces.headshot_embedding(headshot_image)
    t2 = clock()
    images.reencode_without_metadata(headshot_image)
    t3 = clock()
    document_image = images.decode_image(case.document, reduce_to=pipeline.DOCUMENT_DECODE_SIDE)
    t4 = clock()
    distance: float | None
    try:
        portrait = faces.document_portrait_embedding(document_image)
        distance = faces.face_distance(vector, portrait)
    except faces.FaceRejected:
        distance = None
    t5 = clock()
    with recorder.installed():
        try:
            reading: mrz.MRZResult | None = mrz.read_mrz(document_image, today=TODAY)
        except mrz.MRZNotFound:
            reading = None
    t6 = clock()
    score = None
    if reading is not None:
        score = names.name_match_score(
            TYPED_NAME,
            surname=reading.surname,
            given_names=reading.given_names,
            truncated=reading.name_truncated,
        )
    decision = decide(face_distance=distance, document=reading, name_score=score, policy=DEFAULT_POLICY)
    t7 = clock()
    cpu = cpu_seconds() - cpu
    seconds = {
        "decode": (t1 - t0) + (t4 - t3),
        "face": (t2 - t1) + (t5 - t4),
        "mrz": t6 - t5,
        "rest": (t3 - t2) + (t7 - t6),
    }
    seconds["sum"] = sum(seconds.values())
    seconds["sum_cpu"] = cpu
    seconds["tesseract_in_pipeline"] = sum(call.seconds for call in recorder.calls)
    return StageRun(
        seconds=seconds,
        decision=decision,
        headshot_image=headshot_image,
        document_image=document_image,
        tesseract=list(recorder.calls),
    )


@dataclass
class ModelRun:
    seconds: dict[str, float]
    hog_runs: int
    tesseract_calls: int
    tesseract_failures: int
    tesseract_output_differs: int
    faces_found: tuple[bool, bool]  # headshot, document portrait
    distance: float | None


def _contiguous(image: images.DecodedImage) -> np.ndarray:
    return np.ascontiguousarray(image.pixels)


def run_models(stages: StageRun, case: Case) -> ModelRun:
    """dlib and tesseract alone, on the inputs the pipeline gave them in `run_stages`.

    The arrays are prepared first, untimed: the headshot at the size the pipeline analyses, and the
    passport at each size of the pipeline's escalation (1600 px as is, upsampled once, 800 px upsampled
    twice), so only model calls are inside the clock.
    """
    models = faces._get_models()  # the instance the pipeline uses: no second copy of the weights
    headshot = _contiguous(images.fit_within(stages.headshot_image, max_side=faces.HEADSHOT_MAX_SIDE))
    big = _contiguous(images.fit_within(stages.document_image, max_side=faces.DOCUMENT_MAX_SIDE))
    small = _contiguous(images.fit_within(stages.document_image, max_side=faces.DOCUMENT_MAX_SIDE // 2))
    escalation = ((0, big), (1, big), (2, small))
    clock = time.perf_counter
    seconds: dict[str, float] = {"hog": 0.0, "landmarks": 0.0, "descriptor": 0.0}
    hog_runs = 0

    def embed(pixels: np.ndarray, rect: Any) -> np.ndarray:
        t0 = clock()
        shape = models.landmarks(pixels, rect)
        t1 = clock()
        descriptor = models.embedder.compute_face_descriptor(pixels, shape, 0)
        t2 = clock()
        seconds["landmarks"] += t1 - t0
        seconds["descriptor"] += t2 - t1
        return np.asarray(descriptor, dtype=np.float64)

    cpu = cpu_seconds()
    # Headshot: upsample 0, then 1 if nothing was found; the best-scoring face.
    began = clock()
    headshot_vector = None
    for upsample in (0, 1):
        t0 = clock()
        rects, scores, _ = models.detector.run(headshot, upsample, 0.0)
        seconds["hog"] += clock() - t0
        hog_runs += 1
        if len(rects):
            best = max(range(len(rects)), key=lambda i: scores[i])
            headshot_vector = embed(headshot, rects[best])
            break
    seconds["dlib_headshot"] = clock() - began

    # Passport: the pipeline's escalation; the largest face is the holder's.
    began = clock()
    portrait_vector = None
    for upsample, pixels in escalation:
        t0 = clock()
        rects, _scores, _ = models.detector.run(pixels, upsample, 0.0)
        seconds["hog"] += clock() - t0
        hog_runs += 1
        if len(rects):
            largest = max(rects, key=lambda r: r.width() * r.height())
            portrait_vector = embed(pixels, largest)
            break
    seconds["dlib_document"] = clock() - began
    seconds["dlib"] = seconds["dlib_headshot"] + seconds["dlib_document"]

    # tesseract: the exact calls read_mrz made, one process each, as it runs them.
    failures = differs = 0
    calls: list[float] = []
    for call in stages.tesseract:
        t0 = clock()
        completed = subprocess.run(call.args, **call.kwargs)  # kwargs as read_mrz passed them
        calls.append(clock() - t0)
        failures += completed.returncode != 0
        differs += completed.stdout != call.stdout
    seconds["tesseract"] = sum(calls)
    if calls:
        seconds["tesseract_call"] = calls[0]  # one bare call (the first), for the per-call figure
    seconds["models"] = seconds["dlib"] + seconds["tesseract"]
    seconds["models_cpu"] = cpu_seconds() - cpu

    # Pillow's JPEG decoding alone (no orientation, no RGB array), beside the decode stage: at the
    # reduced scale the pipeline asks for (libjpeg's DCT scaling, Image.draft).
    t0 = clock()
    for data, side in (
        (case.headshot, pipeline.HEADSHOT_DECODE_SIDE),
        (case.document, pipeline.DOCUMENT_DECODE_SIDE),
    ):
        with Image.open(io.BytesIO(data)) as img:
            images.reduce_while_decoding(img, side)
            img.load()
    seconds["jpeg_decode"] = clock() - t0

    distance = None
    if headshot_vector is not None and portrait_vector is not None:
        distance = float(np.linalg.norm(headshot_vector - portrait_vector))
    return ModelRun(
        seconds=seconds,
        hog_runs=hog_runs,
        tesseract_calls=len(calls),
        tesseract_failures=failures,
        tesseract_output_differs=differs,
        faces_found=(headshot_vector is not None, portrait_vector is not None),
        distance=distance,
    )


@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=dict)
    outcomes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    model_problems: list[str] = field(default_factory=list)
    dlib_distance_gaps: list[float] = field(default_factory=list)
    tesseract_calls: list[int] = field(default_factory=list)
    tesseract_output_differs: int = 0
    tesseract_peaks_mb: list[float] = field(default_factory=list)
    hog_runs: list[int] = field(default_factory=list)
    planned: int = 0
    elapsed: float = 0.0

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    @property
    def done(self) -> int:
        return len(self.outcomes)


def measure(cases: list[Case], config: Config, *, deadline: float) -> Results:
    results = Results(planned=len(cases) * config.repeat)
    recorder = TesseractRecorder()
    iteration = 0
    began = time.perf_counter()
    for round_ in range(config.repeat):
        for case in cases:
            if time.monotonic() > deadline:
                results.elapsed = time.perf_counter() - began
                return results
            label = f"passport seed {case.seed} (round {round_ + 1})"
            try:
                # Alternate which of the two goes first, so neither always meets warmer caches.
                if iteration % 2 == 0:
                    e2e, e2e_cpu, verification = run_end_to_end(case)
                    stages = run_stages(case, recorder)
                else:
                    stages = run_stages(case, recorder)
                    e2e, e2e_cpu, verification = run_end_to_end(case)
            except Exception as exc:  # a retake request or a crash: report it, keep measuring
                results.errors.append(f"{label}: {type(exc).__name__}: {exc}")
                iteration += 1
                continue
            models = run_models(stages, case)
            iteration += 1

            decision = verification.decision
            results.outcomes.append(decision.outcome)
            results.add("e2e", e2e)
            results.add("e2e_cpu", e2e_cpu)
            for name, value in stages.seconds.items():
                results.add(f"stage.{name}", value)
            for name, value in models.seconds.items():
                results.add(f"model.{name}", value)
            results.tesseract_calls.append(models.tesseract_calls)
            results.hog_runs.append(models.hog_runs)
            results.tesseract_output_differs += models.tesseract_output_differs

            staged = stages.decision
            same_distance = (decision.face_distance is None) == (staged.face_distance is None) and (
                decision.face_distance is None
                or staged.face_distance is None
                or abs(decision.face_distance - staged.face_distance) < 1e-6
            )
            if staged.outcome != decision.outcome or not same_distance:
                results.disagreements.append(
                    f"{label}: end to end {decision.outcome} (distance {decision.face_distance}), "
                    f"stage by stage {staged.outcome} (distance {staged.face_distance})"
                )
            if models.tesseract_failures:
                results.model_problems.append(
                    f"{label}: {models.tesseract_failures} tesseract call(s) failed"
                )
            pipeline_found = (True, decision.face_distance is not None)
            if models.faces_found != pipeline_found:
                results.model_problems.append(
                    f"{label}: bare dlib found faces {models.faces_found}, the pipeline {pipeline_found}"
                )
            if models.distance is not None and decision.face_distance is not None:
                results.dlib_distance_gaps.append(abs(models.distance - decision.face_distance))
            if round_ == 0 and stages.tesseract:
                peak = tesseract_own_peak_mb(stages.tesseract[0])
                if peak is not None:
                    results.tesseract_peaks_mb.append(peak)
            del stages
    results.elapsed = time.perf_counter() - began
    return results


# --- Memory ---------------------------------------------------------------------------------------


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def current_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- Report ---------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{1000 * value:8.0f}"


ROWS: tuple[tuple[str, str], ...] = (
    ("stage.decode", "decode (decode_image x2)"),
    ("stage.face", "face (2 embeddings + distance)"),
    ("stage.mrz", "MRZ (read_mrz)"),
    ("stage.rest", "rest (re-encode, names, decide)"),
    ("stage.sum", "sum of the stages, same iteration"),
    ("e2e", "end to end (verify_identity)"),
    ("", ""),
    ("model.jpeg_decode", "Pillow JPEG decode alone (x2)"),
    ("model.dlib_headshot", "dlib on the headshot"),
    ("model.dlib_document", "dlib on the passport"),
    ("model.hog", "  of which HOG detection"),
    ("model.landmarks", "  of which 5-point landmarks"),
    ("model.descriptor", "  of which ResNet descriptor"),
    ("model.dlib", "dlib total"),
    ("model.tesseract_call", "tesseract, one bare call"),
    ("model.tesseract", "tesseract, all calls of a document"),
    ("stage.tesseract_in_pipeline", "  (the same calls inside read_mrz)"),
    ("model.models", "models only (dlib + tesseract)"),
)
# CPU time (this process + tesseract): what the work costs, whatever else the machine is doing.
CPU_ROWS: tuple[tuple[str, str], ...] = (
    ("stage.sum_cpu", "sum of the stages"),
    ("e2e_cpu", "end to end (verify_identity)"),
    ("model.models_cpu", "models only (dlib + tesseract)"),
)


def tesseract_version() -> str:
    try:
        completed = subprocess.run(
            [mrz.tesseract_path(), "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError, mrz.TesseractMissing):
        return "?"
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].removeprefix("tesseract ").strip() if first else "?"


def print_report(
    *,
    config: Config,
    cases: list[Case],
    results: Results,
    control: str,
    memory: dict[str, float | None],
    generation_seconds: float,
) -> tuple[list[str], dict[str, float]]:
    """Print the figures; return the failed checks and the ratios."""
    import dlib

    samples = results.samples
    print()
    print("== Identity verification: headshot + passport through identity.pipeline.verify_identity ==")
    print(
        f"machine        : {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"dlib {dlib.__version__}, tesseract {tesseract_version()}, Pillow {Image.__version__}"
    )
    print(
        "load average   : {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the end of the run".format(*os.getloadavg())
    )
    widths = sorted({case.document_size for case in cases})
    sizes_kb = [len(case.document) / 1024 for case in cases]
    headshots = sorted({case.headshot_name for case in cases})
    print(
        f"inputs         : {len(cases)} TD3 passports (seeds 0-{len(cases) - 1}), "
        f"{widths[0][0]}x{widths[0][1]}"
        + (f"..{widths[-1][0]}x{widths[-1][1]}" if len(widths) > 1 else "")
        + f" px JPEG, {min(sizes_kb):.0f}-{max(sizes_kb):.0f} KB, drawn in {generation_seconds:.1f} s; "
        f"headshots {', '.join(headshots)} (at most 800 px)"
    )
    print(
        f"runs           : {results.done} of {results.planned} verifications measured "
        f"({config.repeat} per pair), each also stage by stage and model by model; "
        f"{results.elapsed:.0f} s"
    )

    ratios: dict[str, float] = {}
    if "e2e" in samples:
        print()
        print(f"{'wall clock per verification (ms)':<38}{'p50':>8}{'p95':>8}{'mean':>8}{'max':>8}")
        for key, label in ROWS:
            values = samples.get(key)
            if not key:
                print()
                continue
            if not values:
                continue
            print(
                f"{label:<38}{ms(percentile(values, 50))}{ms(percentile(values, 95))}"
                f"{ms(fmean(values))}{ms(max(values))}"
            )
        print()
        print(f"{'CPU time per verification (ms)':<38}{'p50':>8}{'p95':>8}{'mean':>8}{'max':>8}")
        for key, label in CPU_ROWS:
            values = samples[key]
            print(
                f"{label:<38}{ms(percentile(values, 50))}{ms(percentile(values, 95))}"
                f"{ms(fmean(values))}{ms(max(values))}"
            )
        calls = results.tesseract_calls
        hog = results.hog_runs
        print(
            f"tesseract calls per document: {min(calls)}-{max(calls)} (mean {fmean(calls):.2f}); "
            f"HOG runs per verification: {min(hog)}-{max(hog)}"
        )

        e2e95 = percentile(samples["e2e"], 95)
        ratios["stages"] = e2e95 / percentile(samples["stage.sum"], 95)
        ratios["models"] = e2e95 / percentile(samples["model.models"], 95)
        sum_of_p95 = sum(percentile(samples[f"stage.{s}"], 95) for s in ("decode", "face", "mrz", "rest"))
        print()
        print(
            f"end-to-end p95 / p95 of the per-verification stage sum : {ratios['stages']:.2f}x  "
            f"(/ sum of the stages' p95s: {e2e95 / sum_of_p95:.2f}x) -> target <= {TARGET_RATIO:.0f}x "
            f"{'MET' if ratios['stages'] <= TARGET_RATIO else 'NOT MET'}"
        )
        print(
            f"end-to-end p95 / models-only p95 (dlib + tesseract)    : {ratios['models']:.2f}x  "
            f"{'(within 2x)' if ratios['models'] <= TARGET_RATIO else '(more than 2x)'}"
        )
        cpu_ratio = percentile(samples["e2e_cpu"], 95) / percentile(samples["model.models_cpu"], 95)
        print(
            f"the same in CPU time (p95 / p95): end to end / stage sum "
            f"{percentile(samples['e2e_cpu'], 95) / percentile(samples['stage.sum_cpu'], 95):.2f}x, "
            f"end to end / models only {cpu_ratio:.2f}x"
        )
        median = {key: percentile(values, 50) for key, values in samples.items()}
        overhead = median["e2e"] - median["model.models"]
        print(
            f"pipeline work outside the models (p50)                 : {1000 * overhead:.0f} ms of "
            f"{1000 * median['e2e']:.0f} ms ({100 * overhead / median['e2e']:.0f} %)"
        )
        for stage, model, label in (
            ("stage.decode", "model.jpeg_decode", "decode stage / bare JPEG decode"),
            ("stage.face", "model.dlib", "face stage / dlib"),
            ("stage.mrz", "model.tesseract", "MRZ stage / tesseract"),
        ):
            extra = median[stage] - median[model]
            print(
                f"  {label:<32}: {median[stage] / median[model]:5.1f}x at p50 "
                f"({1000 * extra:+.0f} ms outside the engine)"
            )

    print()
    if memory.get("verify_peak") is not None:
        print(
            f"peak RSS       : {memory['verify_peak']:.0f} MB while verifying (ru_maxrss after a reset of "
            "the high-water mark once the documents were drawn); "
            f"whole process {memory['process_peak']:.0f} MB"
        )
    else:
        print(
            f"peak RSS       : {memory['process_peak']:.0f} MB (ru_maxrss, whole process, drawing included)"
        )
    print(
        f"RSS            : {memory['before_models'] or 0:.0f} MB before loading the dlib models, "
        f"{memory['after_models'] or 0:.0f} MB after the warm-up"
    )
    own = results.tesseract_peaks_mb
    print(
        "tesseract      : peak RSS "
        + (f"{max(own):.0f} MB (own, measured through a small wrapper process); " if own else "? MB; ")
        + f"RUSAGE_CHILDREN ru_maxrss {memory['children_peak']:.0f} MB (a child's figure starts from "
        "its parent's RSS when spawned, so this one is inflated)"
    )

    failures: list[str] = []
    same_person = results.done
    verified = results.outcomes.count("verified")
    print()
    print(
        f"verified       : {verified} of {same_person} same-person verifications "
        f"(need >= {MIN_VERIFIED_SHARE:.0%}); outcomes {dict(sorted(_count(results.outcomes).items()))}"
    )
    print(f"control        : {control}")
    if results.dlib_distance_gaps:
        print(
            f"bare dlib      : face distance within {max(results.dlib_distance_gaps):.4f} of the pipeline's; "
            f"tesseract replays with different output: {results.tesseract_output_differs}"
        )
    if results.done < results.planned:
        failures.append(
            f"only {results.done} of {results.planned} verifications measured "
            f"({len(results.errors)} errors, timeout {config.timeout:.0f} s)"
        )
    if same_person and verified < MIN_VERIFIED_SHARE * same_person:
        failures.append(f"only {verified} of {same_person} same-person verifications came out verified")
    if not same_person:
        failures.append("no verification was measured")
    if not control.startswith("ok"):
        failures.append(f"different-person control: {control}")
    failures += results.errors + results.disagreements + results.model_problems
    print(f"checks         : {'all passed' if not failures else 'FAILED'}")
    for failure in failures:
        print(f"  - {failure}")
    return failures, ratios


def _count(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


# --- Profile --------------------------------------------------------------------------------------

Key = tuple[str, int, str]


def _name(key: Key) -> str:
    filename, line, function = key
    if filename == "~":
        return function  # a builtin, e.g. "<method 'transform' of 'ImagingCore' objects>"
    path = Path(filename)
    for anchor in ("identity", "PIL", "numpy", "subprocess.py", "selectors.py"):
        if anchor in path.parts or path.name == anchor:
            parts = path.parts[path.parts.index(anchor) :] if anchor in path.parts else (path.name,)
            return f"{'/'.join(parts)}:{line}({function})"
    return f"{path.name}:{line}({function})"


def _find(stats: dict[Key, Any], path_end: str, function: str) -> Key | None:
    for key in stats:
        if key[0].endswith(path_end) and key[2] == function:
            return key
    return None


def _via(stats: dict[Key, Any], callee: Key | None, caller: Key | None) -> tuple[int, float]:
    """Calls and cumulative seconds of `callee` made from `caller`."""
    if callee is None or caller is None:
        return 0, 0.0
    entry = stats[callee][4].get(caller)
    if entry is None:
        return 0, 0.0
    return int(entry[1]), float(entry[3])


def profile(cases: list[Case], runs: int) -> None:
    chosen = cases[:runs]
    profiler = cProfile.Profile()
    began = time.perf_counter()
    for case in chosen:
        profiler.enable()
        try:
            pipeline.verify_identity(
                headshot=case.headshot, document=case.document, typed_name=TYPED_NAME, today=TODAY
            )
        finally:
            profiler.disable()
    wall = (time.perf_counter() - began) / len(chosen)
    stats: dict[Key, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    n = len(chosen)

    print()
    print(
        f"== cProfile of verify_identity, {n} verifications (seeds {chosen[0].seed}-{chosen[-1].seed}), "
        f"per verification; {1000 * wall:.0f} ms each under the profiler =="
    )
    print("own time (tottime), top 12:")
    print(f"{'ms':>8}{'calls':>8}  function  <- main caller")
    for key, (_cc, nc, tt, _ct, callers) in sorted(stats.items(), key=lambda item: -item[1][2])[:12]:
        main = max(callers.items(), key=lambda item: item[1][3])[0] if callers else None
        print(f"{1000 * tt / n:8.0f}{nc / n:8.1f}  {_name(key)}  <- {_name(main) if main else '-'}")
    print("cumulative time of the identity/ functions, top 12:")
    own = [(key, value) for key, value in stats.items() if f"{os.sep}identity{os.sep}" in key[0]]
    for key, (_cc, nc, _tt, ct, _callers) in sorted(own, key=lambda item: -item[1][3])[:12]:
        print(f"{1000 * ct / n:8.0f}{nc / n:8.1f}  {_name(key)}")

    def cum(key: Key | None) -> float:
        return float(stats[key][3]) / n if key else 0.0

    def calls(key: Key | None) -> float:
        return float(stats[key][1]) / n if key else 0.0

    read_mrz = _find(stats, "identity/mrz.py", "read_mrz")
    crops = _find(stats, "identity/mrz.py", "_candidate_crops")
    skew = _find(stats, "identity/mrz.py", "estimate_skew")
    segment = _find(stats, "identity/mrz.py", "_segment_zone")
    ocr = _find(stats, "identity/mrz.py", "_ocr_lines")
    run = _find(stats, "subprocess.py", "run")
    fit = _find(stats, "identity/images.py", "fit_within")
    rotate_crops = _via(stats, _find(stats, "PIL/Image.py", "rotate"), crops)
    skew_crops = _via(stats, skew, crops)
    # A generator's "calls" are its resumptions: one per crop plus the one that ends it.
    built = calls(crops) - 1
    print("where read_mrz's time goes (per verification):")
    print(
        f"  {1000 * cum(read_mrz):.0f} ms in read_mrz, of which {1000 * cum(run):.0f} ms in tesseract "
        f"(subprocess.run, {calls(ocr):.1f} call(s))"
    )
    print(
        f"  {built:.1f} candidate crops built up front by list(_candidate_crops(gray)): "
        f"{1000 * cum(crops):.0f} ms (estimate_skew {1000 * skew_crops[1] / n:.0f} ms, Image.rotate "
        f"{rotate_crops[0] / n:.1f}x {1000 * rotate_crops[1] / n:.0f} ms, at full resolution); "
        f"only {calls(segment):.1f} of them segmented, i.e. used"
    )
    print("Pillow time by caller (cumulative ms per verification, calls per verification):")
    for method in ("rotate", "resize", "thumbnail", "convert", "filter"):
        pil_key = _find(stats, "PIL/Image.py", method)
        if pil_key is None:
            continue
        callers = sorted(stats[pil_key][4].items(), key=lambda item: -item[1][3])
        parts = [
            f"{_name(caller).split(':')[0].removeprefix('identity/')}"
            f"({caller[2]}) {1000 * value[3] / n:.0f} ms x{value[1] / n:.1f}"
            for caller, value in callers
            if value[3] / n >= 0.005
        ]
        if parts:
            print(f"  Image.{method:<10}<- " + "; ".join(parts))
    decode = _find(stats, "identity/images.py", "decode_image")
    load = _via(stats, _find(stats, "PIL/ImageFile.py", "load"), decode)
    transpose = _via(
        stats,
        _find(stats, "PIL/ImageOps.py", "exif_transpose"),
        _find(stats, "identity/images.py", "_upright"),
    )
    print(
        f"other stages: images.fit_within (dlib's input downscale) {1000 * cum(fit):.0f} ms; "
        f"images.decode_image {1000 * cum(decode):.0f} ms, of which JPEG decoding "
        f"{1000 * load[1] / n:.0f} ms and exif_transpose {1000 * transpose[1] / n:.0f} ms "
        "(the rest: pixels copied into numpy)"
    )


# --- Main -----------------------------------------------------------------------------------------


def warm_up(cases: list[Case], photos: dict[str, bytes]) -> str:
    """Load the models and verify the different-person control; return the control's verdict."""
    faces.warm_up()
    run_end_to_end(cases[0])
    try:
        _seconds, _cpu, result = run_end_to_end(replace(cases[0], headshot=photos[OTHER_PERSON]))
    except Exception as exc:
        return f"FAILED: {OTHER_PERSON} against passport 0 raised {type(exc).__name__}: {exc}"
    decision = result.decision
    reasons = [reason.code for reason in decision.reasons]
    distance = f"{decision.face_distance:.3f}" if decision.face_distance is not None else "none"
    verdict = f"{OTHER_PERSON} against passport 0: {decision.outcome}, face distance {distance}, {reasons}"
    return ("ok, " if decision.outcome != "verified" else "FAILED: ") + verdict


def run(config: Config) -> int:
    started = time.monotonic()
    deadline = started + config.timeout
    photos = fixture_photos()
    print(f"drawing {config.documents} passports at {config.document_width} px wide ...", flush=True)
    began = time.perf_counter()
    cases = make_cases(photos, count=config.documents, width=config.document_width)
    generation = time.perf_counter() - began
    memory: dict[str, float | None] = {"process_peak_before": peak_rss_mb()}
    reset = reset_peak_rss()
    memory["before_models"] = current_rss_mb()
    print("warming up (models, tesseract) and checking a different-person control ...", flush=True)
    control = warm_up(cases, photos)
    memory["after_models"] = current_rss_mb()
    print(f"measuring {config.documents * config.repeat} verifications ...", flush=True)
    results = measure(cases, config, deadline=deadline)
    verify_peak = peak_rss_mb()
    memory["verify_peak"] = verify_peak if reset else None
    memory["process_peak"] = max(verify_peak, memory["process_peak_before"] or 0.0)
    memory["children_peak"] = peak_rss_mb(resource.RUSAGE_CHILDREN)

    failures, ratios = print_report(
        config=config,
        cases=cases,
        results=results,
        control=control,
        memory=memory,
        generation_seconds=generation,
    )
    exceeded = any(value > TARGET_RATIO for value in ratios.values())
    if config.profile == "always" or (config.profile == "auto" and exceeded):
        profile(cases, config.profile_runs)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        return run(config)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
