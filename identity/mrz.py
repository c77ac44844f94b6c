"""Read and validate the machine-readable zone (MRZ) of passports (TD3) and ID cards (TD1).

OCR is Debian's `tesseract`, fed a PNG on stdin and answering on stdout, so no crop of the document
is ever written to the temporary directory (pytesseract and passporteye do write one). Its output is
hOCR with per-character boxes and the LSTM's ranked alternatives, which lets this module:

- place every character in its cell of the fixed-pitch OCR-B grid from its position, so fillers (`<`)
  that OCR drops or doubles don't shift the fields after them;
- decode each cell under the ICAO 9303 format of its field (a date cell takes the best-ranked digit,
  a nationality cell the best-ranked letter), which fixes the classic O/0, I/1, S/5, B/8 confusions
  only where the format leaves no doubt;
- use the check digits as the error-correcting code they are (`correct_zone`): where a field allows
  letters and digits (document number, optional data) a cell may hold either of a confusable pair
  (0/O, 1/I, 2/Z, 5/S, 6/G, 8/B...), an unsure cell any of its ranked alternatives, an unread cell
  anything its field allows; the readings that make every check digit and the composite agree are
  searched (bounded), the most likely (fewest corrections, then least confident characters replaced)
  wins, and two equally likely ones make the zone ambiguous. A confidently read digit is only ever
  replaced by one of the OCR's own alternatives, so a forged check digit still fails;
- validate every check digit with the `mrz` package. Number, dates and nationality are returned only
  when all check digits pass. Only a confidently read zone whose digits disagree is a failed
  reading; an unsure or ambiguous one raises `MRZUnclear` (retake the photo).

Nothing here logs or raises with MRZ text: the text is a document number and a name. The result's
repr hides those fields too.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise
from statistics import median
from typing import Final, Literal, TypeVar

import numpy as np
from django.utils.translation import gettext_noop
from PIL import Image, ImageFilter, ImageOps

from identity.errors import VerificationInputError
from identity.images import DecodedImage

DocumentType = Literal["TD1", "TD3"]
_T = TypeVar("_T")

WHITELIST: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
LINE_LENGTHS: Final[dict[DocumentType, int]] = {"TD1": 30, "TD3": 44}
LINE_COUNTS: Final[dict[DocumentType, int]] = {"TD1": 3, "TD3": 2}
DEFAULT_TIMEOUT: Final = 20.0
# Cells the LSTM read with less confidence than this may be swapped for a ranked alternative.
UNSURE_BELOW: Final = 90.0
# The MRZ is re-scaled so the crop is about this wide: OCR-B characters then stand 40-60 px tall,
# comfortably inside what tesseract's English LSTM model reads best.
OCR_WIDTH: Final = 2400
# The width a photo is brought down to before deskewing and cropping. Below OCR_WIDTH on purpose: a
# 12 MP phone photo (4032 px) is then decoded at half size (images.decode_image's `reduce_to`), which
# costs a fraction of a full decode and a resize, and the MRZ's characters still stand 30 px tall or
# more before the crop is scaled up to OCR_WIDTH (the 1600 px photos of bench/identity_eval.py read).
WORK_WIDTH: Final = 2000

# Character classes of the ICAO 9303 layouts: D digit, C check digit, A letter or filler,
# N letter/digit/filler, S sex (M, F, X or filler), O optional-data check (digit or filler).
_FORMATS: Final[dict[DocumentType, tuple[str, ...]]] = {
    "TD3": (
        "AA" + "AAA" + "A" * 39,
        "N" * 9 + "C" + "AAA" + "DDDDDD" + "C" + "S" + "DDDDDD" + "C" + "N" * 14 + "O" + "C",
    ),
    "TD1": (
        "AA" + "AAA" + "N" * 9 + "C" + "N" * 15,
        "DDDDDD" + "C" + "S" + "DDDDDD" + "C" + "AAA" + "N" * 11 + "C",
        "A" * 30,
    ),
}
_TO_DIGIT: Final = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "7", "Z": "2"} | {
    "S": "5",
    "B": "8",
    "G": "6",
    "A": "4",
}
_TO_LETTER: Final = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "8": "B"}
_SEX_FIXES: Final = {"H": "M", "N": "M", "E": "F", "P": "F", "K": "X"}


class MRZNotFound(VerificationInputError):
    """No machine-readable zone could be read from the photo (code `mrz_not_found`)."""


class MRZUnclear(MRZNotFound):
    """A zone was found but not read with certainty (glare, blur, a bent page): retake, not a verdict.

    Codes: `mrz_ambiguous` (two corrections agree equally well) and `mrz_unclear` (too many cells
    unsure or unread).
    """


UNCLEAR_ADVICE: Final = gettext_noop(
    "We found the machine-readable lines of your document but couldn't read them with certainty. "
    "Take the photo again: hold the document flat, avoid glare from lamps or windows (tilt it slightly "
    "or turn off the flash), and keep the phone still so the letters are sharp."
)


class TesseractMissing(RuntimeError):
    """The `tesseract` program is not installed (a deployment problem, not the subject's)."""


@dataclass(frozen=True)
class MRZResult:
    """What the MRZ says. Names are as printed (unprotected by check digits, may carry OCR noise);
    number, dates and nationality are None unless every check digit passed."""

    document_type: DocumentType
    document_code: str
    issuing_state: str
    nationality: str | None
    surname: str = field(repr=False)
    given_names: str = field(repr=False)
    # True when the name filled the whole field: the printed name may be cut short.
    name_truncated: bool
    # Kept in memory only: the caller stores an HMAC of it, never the number.
    document_number: str | None = field(repr=False)
    birth_date: date | None = field(repr=False)
    expiry_date: date | None
    sex: str = field(repr=False)
    check_digits_valid: bool
    # None when the expiry date could not be trusted (check digits failed).
    expired: bool | None
    failed_checks: tuple[str, ...] = ()
    # Characters of the zone that differ from what the OCR printed first: format coercions (S -> 5 in
    # a date) and the corrections the check digits chose (N5R0 read as NSRO).
    corrected_characters: int = 0
    # For a reading whose check digits fail: True when every checked cell was read with confidence and
    # no correction within the bounds agrees (what is printed is wrong), False when the OCR was unsure.
    zone_clear: bool = False
    # For a reading whose check digits fail: two different corrections agreed equally well.
    ambiguous: bool = False


def tesseract_path() -> str:
    """Where `tesseract` is, or `TesseractMissing` saying how to install it."""
    found = shutil.which("tesseract")
    if not found:
        raise TesseractMissing(
            "The tesseract OCR program is not installed: apt-get install tesseract-ocr "
            "(scripts/install_system_packages.sh does it)"
        )
    return found


def read_mrz(image: DecodedImage, *, today: date, timeout: float = DEFAULT_TIMEOUT) -> MRZResult:
    """Find, read and validate the MRZ of a photographed document.

    Tries a few crops of the deskewed photo (the MRZ is at the bottom of the document, which is not
    necessarily the bottom of the photo) and stops at the first reading whose check digits all pass.
    A reading whose check digits fail is corrected first (`correct_zone`: the check digits choose
    among the characters OCR confuses). If none passes, returns the confidently read zone with
    `check_digits_valid=False` (what is printed is wrong); raises `MRZUnclear` when the zone was
    found but not read with certainty (ambiguous, unsure or unread cells: the photo must be retaken)
    and `MRZNotFound` when no MRZ-shaped text is found at all.
    """
    executable = tesseract_path()
    gray = Image.fromarray(np.asarray(image.pixels), mode="RGB").convert("L")
    if gray.width > WORK_WIDTH:
        # Every crop is scaled to OCR_WIDTH anyway: rotating and cropping a 12 MP phone photo at full
        # size only costs time (about half of this function's, measured by bench/verify.py).
        height = max(1, round(gray.height * WORK_WIDTH / gray.width))
        gray = gray.resize((WORK_WIDTH, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    angle = estimate_skew(gray)
    if abs(angle) >= 0.1:
        gray = gray.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    best: tuple[int, MRZResult] | None = None
    seen: set[tuple[str, ...]] = set()
    first_crop: Image.Image | None = None
    # Lazily: usually the first crop reads, and deskewing the others would be wasted.
    for crop in _candidate_crops(gray):
        first_crop = first_crop or crop
        prepared = _prepare(crop)
        zone = _segment_zone(prepared)
        if not zone:
            continue  # no tesseract call at all for a crop without MRZ-like lines
        for result, text in _readings(
            _ocr_zone(prepared, zone, executable=executable, timeout=timeout), today=today
        ):
            if result.check_digits_valid:
                return result
            if text in seen and result.zone_clear:
                # Two crops read the very same, fully legible characters: the check digits really are
                # wrong on the document, more crops won't change that.
                return result
            seen.add(text)
            best = _better(best, result)
    # Last resort, once: tesseract's own layout analysis on the lower half (an MRZ whose characters
    # touch or are smudged defeats the segmentation above).
    assert first_crop is not None  # _candidate_crops always yields
    fallback = _prepare(first_crop)
    rows = [_cells(line) for line in _ocr_lines(fallback, executable=executable, timeout=timeout)]
    for result, _text in _readings(rows, today=today):
        if result.check_digits_valid:
            return result
        best = _better(best, result)
    if best is not None:
        if best[1].zone_clear:
            return best[1]
        # Found but not read with certainty: a verdict on it would be a verdict on the photo.
        raise MRZUnclear("mrz_ambiguous" if best[1].ambiguous else "mrz_unclear", UNCLEAR_ADVICE)
    raise MRZNotFound(
        "mrz_not_found",
        gettext_noop(
            "We couldn't read the machine-readable lines (the rows of letters and <<< at the bottom of "
            "your document). Show the whole document in the frame, flat, in good light and without glare."
        ),
    )


def parse_mrz(lines: Sequence[str], *, today: date) -> MRZResult:
    """Validate and split already-read MRZ lines (2 x 44 for TD3, 3 x 30 for TD1).

    Raises ValueError (without quoting the text) when the lines have neither shape.
    """
    cleaned = [line.strip().upper().replace(" ", "") for line in lines if line.strip()]
    kind = _kind_of(cleaned)
    if kind is None:
        raise ValueError("not the shape of a TD1 (3 x 30) or TD3 (2 x 44) machine-readable zone")
    return _interpret(kind, cleaned, today=today)


def _better(best: tuple[int, MRZResult] | None, result: MRZResult) -> tuple[int, MRZResult]:
    # A confidently read zone outweighs any unsure one: it is what the document says.
    score = -len(result.failed_checks) + (100 if result.zone_clear else 0)
    return (score, result) if best is None or score > best[0] else best


# --- Image preparation ------------------------------------------------------------------------------


def estimate_skew(gray: Image.Image, *, search: float = 8.0, max_side: int = 800) -> float:
    """The rotation (degrees, counter-clockwise positive) that makes the text lines horizontal.

    Projection-profile method: dark ink is rotated through candidate angles and the angle whose row
    sums are the most "peaky" wins, because only level text lines put all their ink in few rows.
    """
    small = gray.copy()
    small.thumbnail((max_side, max_side))
    rows_of_ink, columns_of_ink = np.nonzero(_ink(small))
    if len(columns_of_ink) == 0:
        return 0.0
    # Rotating the ink coordinates (not the image) is what makes trying 60 angles cheap.
    xs = columns_of_ink - small.width / 2
    ys = rows_of_ink - small.height / 2

    def sharpness(angle: float) -> float:
        theta = np.deg2rad(angle)
        rows = np.round(ys * np.cos(theta) - xs * np.sin(theta)).astype(np.int64)
        profile = np.bincount(rows - rows.min()).astype(np.float64)
        # Smoothed first: at exactly 0 degrees no row is split by rounding, which alone would make
        # the raw profile look sharper than at any other angle.
        profile = np.convolve(profile, np.ones(3) / 3, mode="same")
        return float(np.square(profile).sum())

    step = search / 16
    coarse = max(np.arange(-search, search + step / 2, step), key=sharpness)
    fine = max(np.arange(coarse - step, coarse + step * 1.01, step / 5), key=sharpness)
    return float(round(fine, 2))


def _ink(gray: Image.Image) -> np.ndarray:
    """Thin dark strokes (print), not large dark areas (the table around the document, shadows).

    A black top-hat: closing the image with a window wider than a stroke erases the strokes, and
    what the closing brightened most is ink. The edge of a dark table or a light gradient barely
    changes under a closing, so neither can outweigh the text lines in the skew estimate.
    """
    size = max(3, (gray.width // 180) | 1)
    pixels = np.asarray(gray, dtype=np.int16)
    closed = _rank_filter(_rank_filter(pixels, size, np.maximum), size, np.minimum)
    return (closed - pixels) > 40


def _rank_filter(pixels: np.ndarray, size: int, pick: np.ufunc) -> np.ndarray:
    """Square max or min filter, done separably (Pillow's rank filters cost size² per pixel)."""
    half = size // 2
    height, width = pixels.shape
    padded = np.pad(pixels, ((half, half), (0, 0)), mode="edge")
    vertical = padded[0:height]
    for offset in range(1, size):
        vertical = pick(vertical, padded[offset : offset + height])
    padded = np.pad(vertical, ((0, 0), (half, half)), mode="edge")
    result = padded[:, 0:width]
    for offset in range(1, size):
        result = pick(result, padded[:, offset : offset + width])
    return result


def _candidate_crops(gray: Image.Image) -> Iterator[Image.Image]:
    width, height = gray.size
    for top in (0.5, 0.35, 0.6, 0.0):
        crop = gray.crop((0, round(height * top), width, height))
        # A second, finer deskew on the crop alone, where the MRZ's long lines dominate the profile:
        # perspective leaves the bottom of a document at a slightly different angle than the rest.
        angle = estimate_skew(crop, search=1.6, max_side=1600)
        if abs(angle) >= 0.05:
            crop = crop.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        yield crop


def _prepare(crop: Image.Image) -> Image.Image:
    # Never more than 3x: a photo that small holds no legible MRZ, and upscaling it only costs time.
    scale = min(OCR_WIDTH / crop.width, 3.0)
    size = (round(crop.width * scale), max(1, round(crop.height * scale)))
    resized = crop.resize(size, Image.Resampling.LANCZOS)
    # Divide out the illumination (a heavy blur is the background estimate), then stretch contrast.
    background = np.asarray(resized.filter(ImageFilter.GaussianBlur(40)), dtype=np.float32) + 1.0
    flat = np.asarray(resized, dtype=np.float32) / background
    normalised = Image.fromarray(np.clip(flat * 235.0, 0, 255).astype(np.uint8), mode="L")
    return ImageOps.autocontrast(normalised, cutoff=1)


# --- OCR ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Glyph:
    left: int
    right: int
    top: int
    bottom: int
    confidence: float
    choices: tuple[str, ...]  # best first; choices[0] is what tesseract printed

    @property
    def center(self) -> float:
        return (self.left + self.right) / 2


def _ocr_lines(image: Image.Image, *, executable: str, timeout: float, psm: int = 6) -> list[list[_Glyph]]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    command = [
        executable,
        "stdin",
        "stdout",
        "--psm",
        str(psm),
        "--oem",
        "1",
        "-l",
        "eng",
        "-c",
        f"tessedit_char_whitelist={WHITELIST}",
        # MRZ text is not words: the dictionaries would only pull readings towards English.
        "-c",
        "load_system_dawg=0",
        "-c",
        "load_freq_dawg=0",
        "-c",
        "hocr_char_boxes=1",
        "-c",
        "lstm_choice_mode=2",
        "hocr",
    ]
    # One OCR thread: the web workers are the parallelism, and OpenMP oversubscription on a small
    # machine makes tesseract several times slower.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            command, input=buffer.getvalue(), capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MRZNotFound(
            "mrz_timeout",
            gettext_noop(
                "Reading the document took too long. Take the photo again, closer and with the document flat."
            ),
        ) from exc
    if completed.returncode != 0:
        # stderr is tesseract's own diagnostics (never document text); keep it short.
        raise RuntimeError(f"tesseract failed with exit code {completed.returncode}")
    return _parse_hocr(completed.stdout)


def _parse_hocr(document: bytes) -> list[list[_Glyph]]:
    try:
        root = ET.fromstring(document)  # noqa: S314 - our own tesseract's output, whitelisted characters
    except ET.ParseError:
        return []
    lines: list[list[_Glyph]] = []
    for element in root.iter():
        if _classes(element) & {"ocr_line", "ocr_textfloat", "ocr_header", "ocr_caption"}:
            glyphs = [glyph for glyph in _line_glyphs(element) if glyph is not None]
            if glyphs:
                lines.append(glyphs)
    return lines


def _line_glyphs(line: ET.Element) -> Iterator[_Glyph | None]:
    for word in line:
        children = list(word)
        for index, child in enumerate(children):
            title = child.get("title", "")
            if "x_bboxes" not in title or not child.text:
                continue
            props = dict(part.strip().split(" ", 1) for part in title.split(";") if " " in part.strip())
            left, top, right, bottom = (int(v) for v in props["x_bboxes"].split())
            alternatives: list[str] = [child.text]
            if index + 1 < len(children) and (children[index + 1].get("id") or "").startswith("lstm_choices"):
                alternatives += [c.text for c in children[index + 1] if c.text and c.text not in alternatives]
            yield _Glyph(
                left=left,
                right=right,
                top=top,
                bottom=bottom,
                confidence=float(props.get("x_conf", "0")),
                choices=tuple(alternatives),
            )


def _classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


# --- Segmenting the zone ------------------------------------------------------------------------------
#
# Tesseract's English model reads OCR-B letters and digits well but not runs of the filler `<`: its
# line recogniser collapses repeated symbols and often sees a lone `<` as K, C or E. So the zone is
# cut into character cells here (OCR-B is monospaced and every MRZ position is printed, fillers
# included), fillers are recognised by their chevron shape, blanked out, and tesseract reads only the
# letters and digits, each of which is put back in its cell by position.


@dataclass(frozen=True)
class _TextLine:
    top: int
    bottom: int
    cells: tuple[tuple[int, int], ...]  # (left, right) of each character, in reading order


CHEVRON_MIN: Final = 0.72  # fillers score 0.85-0.95 against the template, letters (even K) < 0.55


def _segment_zone(image: Image.Image) -> list[_TextLine]:
    """The text lines that look like MRZ lines: 24-50 evenly spaced characters."""
    ink = _ink(image)
    # An MRZ line covers a quarter or more of a text row with ink; a short field, a photo's edge or
    # the faint background print stays far below 6 %.
    rows = ink.sum(axis=1) > 0.06 * ink.shape[1]
    lines = []
    for top, bottom in _runs(rows, min_gap=3):
        if bottom - top < 12:
            continue
        cells = _character_cells(ink[top:bottom])
        if 24 <= len(cells) <= 50:
            lines.append(_TextLine(top=top, bottom=bottom, cells=tuple(cells)))
    return lines


def _runs(mask: np.ndarray, *, min_gap: int = 1) -> list[tuple[int, int]]:
    """(start, end) of the True runs, joining runs separated by fewer than `min_gap` False values."""
    padded = np.concatenate(([False], mask.astype(bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    joined: list[tuple[int, int]] = []
    for start, end in runs:
        if joined and start - joined[-1][1] < min_gap:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _character_cells(band: np.ndarray) -> list[tuple[int, int]]:
    runs = _runs(np.asarray(band.any(axis=0)))
    if len(runs) < 2:
        return []
    widths = [end - start for start, end in runs]
    typical_width = median(widths)
    runs = [run for run, width in zip(runs, widths, strict=True) if width >= 0.35 * typical_width]
    if len(runs) < 2:
        return []
    pitch = median(b[0] - a[0] for a, b in pairwise(runs))
    # Characters blurred into each other form one wide run: split it evenly.
    split: list[tuple[int, int]] = []
    for start, end in runs:
        parts = max(1, round((end - start) / pitch)) if end - start > 1.5 * typical_width else 1
        step = (end - start) / parts
        split += [(round(start + i * step), round(start + (i + 1) * step)) for i in range(parts)]
    # Keep the longest evenly spaced stretch: marks beside the zone (an edge, a shadow) fall away.
    clusters: list[list[tuple[int, int]]] = [[split[0]]]
    for previous, current in pairwise(split):
        if current[0] - previous[0] > 2.2 * pitch:
            clusters.append([])
        clusters[-1].append(current)
    return max(clusters, key=len)


def _chevron_template(size: int = 24) -> np.ndarray:
    from PIL import ImageDraw

    template = Image.new("L", (size, size), 0)
    ImageDraw.Draw(template).line([(size - 1, 0), (0, size // 2), (size - 1, size - 1)], fill=255, width=4)
    blurred = np.asarray(template.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
    return blurred - blurred.mean()


_CHEVRON = _chevron_template()


def _chevron_score(cell_ink: np.ndarray) -> float:
    """Correlation of a cell's ink with the filler's chevron shape (1.0 = identical)."""
    ys, xs = np.nonzero(cell_ink)
    if len(xs) < 4:
        return 0.0
    box = cell_ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8) * 255
    size = _CHEVRON.shape[0]
    shape = Image.fromarray(box, mode="L").resize((size, size), Image.Resampling.BILINEAR)
    values = np.asarray(shape.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
    values -= values.mean()
    norm = float(np.sqrt((values * values).sum() * (_CHEVRON * _CHEVRON).sum()))
    return float((values * _CHEVRON).sum() / norm) if norm else 0.0


def _ocr_zone(
    image: Image.Image, zone: list[_TextLine], *, executable: str, timeout: float
) -> list[list[_Cell]]:
    """Read the letters and digits of the zone; fillers are recognised by shape, not by OCR.

    The letters and digits of each line are re-set side by side at the line's own pitch, without
    the fillers: a blank where a filler was makes the LSTM's character boxes spill into the blank,
    while contiguous text keeps them exact, so each glyph finds its way back to its cell.
    """
    pixels = np.asarray(image, dtype=np.uint8)
    ink = _ink(image)
    height = max(line.bottom - line.top for line in zone)
    pitch = max(
        round(median(b[0] - a[0] for a, b in pairwise(line.cells))) for line in zone if len(line.cells) > 1
    )
    margin = height
    canvas = np.full((margin + len(zone) * 2 * height, margin * 2 + 50 * pitch), 255, dtype=np.uint8)
    placed: list[list[tuple[int, int]]] = []  # per line: (cell index, canvas x) of each re-set glyph
    fillers: list[list[bool]] = []
    for row, line in enumerate(zone):
        top = margin + row * 2 * height
        flags, positions, x = [], [], margin
        for index, (left, right) in enumerate(line.cells):
            is_filler = _chevron_score(ink[line.top : line.bottom, left:right]) >= CHEVRON_MIN
            flags.append(is_filler)
            if is_filler:
                continue
            width = min(right - left + 4, pitch)
            source = pixels[line.top : line.bottom, max(0, left - 2) : max(0, left - 2) + width]
            canvas[top : top + source.shape[0], x : x + source.shape[1]] = source
            positions.append((index, x))
            x += pitch
        fillers.append(flags)
        placed.append(positions)

    lines = _ocr_lines(Image.fromarray(canvas, mode="L"), executable=executable, timeout=timeout)
    rows: list[list[_Cell]] = []
    for row, flags in enumerate(fillers):
        top = margin + row * 2 * height
        cells: list[_Cell | None] = [_Cell(choices=("<",), confidence=95.0) if f else None for f in flags]
        for glyph in (g for ocr_line in lines for g in ocr_line):
            if not top - height / 2 <= (glyph.top + glyph.bottom) / 2 <= top + 1.5 * height:
                continue
            # The left edge of an LSTM box is reliable; the last glyph's box stretches to the line end.
            centre = glyph.left + min(glyph.right - glyph.left, pitch * 0.8) / 2
            slot = min(placed[row], key=lambda item: abs(item[1] + pitch / 2 - centre), default=None)
            if slot is None or abs(slot[1] + pitch / 2 - centre) > pitch * 0.6:
                continue
            current = cells[slot[0]]
            if current is None or glyph.confidence > current.confidence:
                cells[slot[0]] = _Cell(choices=glyph.choices, confidence=glyph.confidence)
        rows.append([cell or _UNREAD_CELL for cell in cells])
    return rows


# --- From glyphs to cells -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    choices: tuple[str, ...]
    confidence: float


_FILLER_CELL: Final = _Cell(choices=("<",), confidence=0.0)
# A letter or digit position OCR returned nothing for: no guess, so the check digits decide.
_UNREAD_CELL: Final = _Cell(choices=("?",), confidence=0.0)


def _cells(glyphs: list[_Glyph]) -> list[_Cell]:
    """Place glyphs in the fixed-pitch grid by position; cells OCR skipped become fillers."""
    glyphs = sorted(glyphs, key=lambda g: g.left)
    if len(glyphs) < 2:
        return [_Cell(g.choices, g.confidence) for g in glyphs]
    steps = [b.center - a.center for a, b in pairwise(glyphs)]
    rough = median(steps)
    typical = [s for s in steps if 0.6 * rough <= s <= 1.6 * rough] or steps
    pitch = median(typical)
    if pitch <= 0:
        return [_Cell(g.choices, g.confidence) for g in glyphs]
    cells: dict[int, _Cell] = {0: _Cell(glyphs[0].choices, glyphs[0].confidence)}
    index = 0
    for step, glyph in zip(steps, glyphs[1:], strict=True):
        advance = round(step / pitch)
        if advance == 0:
            # Two readings of one character: keep the surer.
            if glyph.confidence > cells[index].confidence:
                cells[index] = _Cell(glyph.choices, glyph.confidence)
            continue
        index += advance
        cells[index] = _Cell(glyph.choices, glyph.confidence)
    return [cells.get(i, _FILLER_CELL) for i in range(index + 1)]


def _fit(cells: list[_Cell], length: int) -> Iterator[list[_Cell]]:
    """Candidate alignments of a line to its nominal length (fillers at the end are often lost)."""
    if len(cells) == length:
        yield cells
    elif len(cells) < length:
        yield cells + [_FILLER_CELL] * (length - len(cells))
        yield [_FILLER_CELL] + cells + [_FILLER_CELL] * (length - len(cells) - 1)
    else:
        extra = len(cells) - length
        yield cells[:length]
        yield cells[extra:]
        if extra >= 2:
            yield cells[1 : length + 1]


def _readings(rows: list[list[_Cell]], *, today: date) -> Iterator[tuple[MRZResult, tuple[str, ...]]]:
    # The MRZ is the last block of text on the document: try windows from the bottom up.
    for kind in ("TD3", "TD1"):
        count, length = LINE_COUNTS[kind], LINE_LENGTHS[kind]
        for start in range(len(rows) - count, -1, -1):
            window = rows[start : start + count]
            if not all(length - 6 <= len(row) <= length + 4 for row in window):
                continue
            yield from _readings_of(kind, window, today=today)


def _readings_of(
    kind: DocumentType, window: list[list[_Cell]], *, today: date
) -> Iterator[tuple[MRZResult, tuple[str, ...]]]:
    length = LINE_LENGTHS[kind]
    fits = [list(_fit(row, length)) for row in window]
    # Each line has at most three alignments; twelve combinations cover every plausible one.
    for tried, combination in enumerate(_product(fits)):
        if tried >= 12:
            return
        decoded = [_decode(row, fmt) for row, fmt in zip(combination, _FORMATS[kind], strict=True)]
        text = tuple("".join(cell[0] for cell in row) for row in decoded)
        printed = tuple("".join(cell.choices[0] for cell in row) for row in combination)
        result = _interpret(kind, list(text), today=today)
        if result.check_digits_valid:
            result = replace(result, corrected_characters=_differences(printed, text))
        else:
            correction = correct_zone(kind, decoded)
            if correction.outcome == "valid":
                corrected = _interpret(kind, list(correction.lines), today=today)
                if corrected.check_digits_valid:
                    result = replace(corrected, corrected_characters=_differences(printed, correction.lines))
            if not result.check_digits_valid:
                result = replace(
                    result,
                    zone_clear=(
                        correction.outcome == "none"
                        and all(len(row) == length for row in window)
                        and _confidently_read(kind, decoded)
                    ),
                    ambiguous=correction.outcome == "ambiguous",
                )
        yield result, text
        if result.check_digits_valid:
            return


def _differences(printed: Sequence[str], final: Sequence[str]) -> int:
    """Characters of the final reading that are not what the OCR printed first (fillers excepted:
    those are recognised by shape, not read)."""
    return sum(
        a != b for line, other in zip(printed, final, strict=True) for a, b in zip(line, other, strict=True)
    )


def _confidently_read(kind: DocumentType, decoded: list[list[tuple[str, tuple[str, ...], float]]]) -> bool:
    """Every cell of the checked fields read as a character its format allows, and few unsure (their
    alternatives have been tried by the search): a zone whose check digits then disagree says what is
    printed, it is not an OCR accident."""
    formats = _FORMATS[kind]
    unsure = 0
    cells = {
        (r, c)
        for _name, spans, check in _CHECKS[kind]
        for r, s, e in (*spans, (check[0], check[1], check[1] + 1))
        for c in range(s, e)
    }
    for row, col in cells:
        best, _alternatives, confidence = decoded[row][col]
        if best not in _ALPHABET[formats[row][col]]:
            return False
        if best != "<" and confidence < UNSURE_BELOW:
            unsure += 1
    return unsure <= MAX_UNSURE_FOR_VERDICT


def _product(options: list[list[list[_Cell]]]) -> Iterator[list[list[_Cell]]]:
    if not options:
        yield []
        return
    for first in options[0]:
        for rest in _product(options[1:]):
            yield [first, *rest]


def _decode(row: list[_Cell], fmt: str) -> list[tuple[str, tuple[str, ...], float]]:
    """Per cell: the character the field's format allows, the allowed alternatives, the confidence."""
    decoded = []
    for cell, kind in zip(row, fmt, strict=True):
        allowed = [c for c in (_coerce(choice, kind) for choice in cell.choices) if c is not None]
        unique = tuple(dict.fromkeys(allowed))
        best = unique[0] if unique else cell.choices[0]
        decoded.append((best, unique, cell.confidence))
    return decoded


def _coerce(char: str, kind: str) -> str | None:
    if kind in "DC":
        if char.isdigit():
            return char
        return _TO_DIGIT.get(char)
    if kind == "O":
        return char if char.isdigit() or char == "<" else _TO_DIGIT.get(char)
    if kind == "A":
        if char.isalpha() or char == "<":
            return char
        return _TO_LETTER.get(char)
    if kind == "S":
        if char in "MFX<":
            return char
        return _SEX_FIXES.get(char)
    return char  # N: letters and digits are both legitimate, nothing to coerce


# --- Correction: the check digits as an error-correcting code ----------------------------------------
#
# A check digit is a weighted sum mod 10 over its field: it detects any single misread character and
# can settle which of a few candidate readings is the printed one. The OCR's confusions are few and
# known (OCR-B's 0 and O, 5 and S, 8 and B... differ by a stroke's curvature), so each cell gets a
# short list of candidate characters and the search looks for the readings that make every check
# digit and the composite agree. Bounded twice (corrections per zone, nodes visited), so a garbage
# zone costs milliseconds and comes out "unclear", never a guess.

# The most characters a reading may differ from what the OCR printed first (format coercions such as
# S -> 5 in a date are not counted here: the field's format leaves no choice there).
MAX_CORRECTIONS: Final = 3
# A zone with more letter/digit cells OCR returned nothing for than this is retaken, not guessed.
MAX_UNREAD: Final = 2
# A zone with more unsure cells than this whose check digits fail is retaken: too unsure for a verdict.
MAX_UNSURE_FOR_VERDICT: Final = 3
# Search nodes per zone; a garbage zone (every cell unsure) hits it at once.
MAX_SEARCH_NODES: Final = 50_000
# Two valid readings with the same number of corrections whose OCR confidence costs differ by less
# than this are equally likely: the zone is ambiguous and must be retaken.
AMBIGUITY_MARGIN: Final = 25.0

# Pairs tesseract confuses in OCR-B, in both directions (letter/digit fields keep both readings). Only
# these: every extra pair doubles the readings one mod-10 check digit must tell apart (D for 0 made
# `NSROT6W2B` read as NSRDT6W2B). Rarer confusions come in as the OCR's own ranked alternatives.
_CONFUSABLE: Final[dict[str, tuple[str, ...]]] = {
    "0": ("O", "D"),
    "O": ("0",),
    "D": ("0",),
    "1": ("I",),
    "I": ("1",),
    "2": ("Z",),
    "Z": ("2",),
    "5": ("S",),
    "S": ("5",),
    "6": ("G",),
    "G": ("6",),
    "8": ("B",),
    "B": ("8",),
}
_ALPHABET: Final[dict[str, str]] = {
    "D": "0123456789",
    "C": "0123456789",
    "O": "0123456789<",
    "N": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<",
}
# (row, start, end) slices and the (row, column) of the check digit over them, per ICAO 9303 part 4/5.
_Span = tuple[int, int, int]
_CHECKS: Final[dict[DocumentType, tuple[tuple[str, tuple[_Span, ...], tuple[int, int]], ...]]] = {
    "TD3": (
        ("document_number", ((1, 0, 9),), (1, 9)),
        ("birth_date", ((1, 13, 19),), (1, 19)),
        ("expiry_date", ((1, 21, 27),), (1, 27)),
        ("optional_data", ((1, 28, 42),), (1, 42)),
        ("final", ((1, 0, 10), (1, 13, 20), (1, 21, 43)), (1, 43)),
    ),
    "TD1": (
        ("document_number", ((0, 5, 14),), (0, 14)),
        ("birth_date", ((1, 0, 6),), (1, 6)),
        ("expiry_date", ((1, 8, 14),), (1, 14)),
        ("final", ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)), (1, 29)),
    ),
}


def _char_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    return 0


def _check_holds(text: Sequence[Sequence[str]], spans: tuple[_Span, ...], check: tuple[int, int]) -> bool:
    chars = [text[row][col] for row, start, end in spans for col in range(start, end)]
    digit = text[check[0]][check[1]]
    if digit == "<":
        # ICAO lets an unused optional field carry a filler as its check digit.
        return all(char == "<" for char in chars)
    total = sum(_char_value(char) * (7, 3, 1)[index % 3] for index, char in enumerate(chars))
    return digit.isdigit() and total % 10 == int(digit)


@dataclass(frozen=True)
class _Option:
    char: str
    corrections: int  # 0 for the reading the format allows, 1 for any other character
    cost: float  # how unlikely: the OCR's confidence in the character it would replace


class _TooUncertain(Exception):
    """More unknowns than the search may guess (the zone must be retaken)."""


@dataclass(frozen=True)
class Correction:
    """How a reading was corrected: `outcome` is "valid" (one best reading, `lines`), "ambiguous"
    (two readings equally likely), "none" (no reading within the bounds agrees) or "unclear" (too
    many unknowns to search)."""

    outcome: Literal["valid", "ambiguous", "none", "unclear"]
    lines: tuple[str, ...] = ()
    corrections: int = 0


def _cell_options(cell: tuple[str, tuple[str, ...], float], kind: str) -> list[_Option]:
    best, alternatives, confidence = cell
    alphabet = _ALPHABET[kind]
    if best not in alphabet:
        # Unread, or read as something the field can't hold: every character of the field is a guess.
        return [_Option(char, 1, 0.0) for char in alphabet]
    options = {best: _Option(best, 0, 0.0)}
    # A confidently read character keeps its confusable partner only: the LSTM lists alternatives
    # for every glyph, and taking them all would let a check digit pick among too many readings.
    unsure = confidence < UNSURE_BELOW
    for rank, alternative in enumerate(alternatives[1:] if unsure else (), start=1):
        if alternative in alphabet and alternative not in options:
            options[alternative] = _Option(alternative, 1, confidence + rank)
    for partner in _CONFUSABLE.get(best, ()):
        if partner in alphabet and partner not in options:
            # Not among the OCR's own alternatives: a little less likely than one that is.
            options[partner] = _Option(partner, 1, confidence + 10.0)
    return list(options.values())


def correct_zone(kind: DocumentType, decoded: list[list[tuple[str, tuple[str, ...], float]]]) -> Correction:
    """Search the readings of the checked fields that make every check digit agree.

    `decoded` is per line and cell: the character the field's format allows, its ranked alternatives
    and the OCR's confidence. Cells outside the checked fields (names, nationality) are left as they
    are. Returns the most likely valid reading, or why there is none.
    """
    formats = _FORMATS[kind]
    text = [[cell[0] for cell in row] for row in decoded]
    checks = _CHECKS[kind]
    positions = sorted(
        {
            (row, col)
            for _name, spans, _check in checks
            for row, start, end in spans
            for col in range(start, end)
        }
        | {check for _name, _spans, check in checks}
    )
    options: dict[tuple[int, int], list[_Option]] = {}
    unread = 0
    for row, col in positions:
        field_kind = formats[row][col]
        cell_options = _cell_options(decoded[row][col], field_kind)
        if cell_options[0].corrections:
            unread += 1
        if len(cell_options) > 1:
            options[(row, col)] = cell_options
    if unread > MAX_UNREAD:
        return Correction("unclear")

    # Own-check fields first (each a small independent search), the composite joins them.
    own = [(spans, check) for name, spans, check in checks if name != "final"]
    final_spans, final_check = next((spans, check) for name, spans, check in checks if name == "final")
    covered = {(r, c) for spans, check in own for r, s, e in spans for c in range(s, e)} | {
        check for _spans, check in own
    }
    free = [(r, c) for r, s, e in final_spans for c in range(s, e) if (r, c) not in covered] + [final_check]
    nodes = [0]

    def assignments(
        cells: list[tuple[int, int]], accept: Callable[[list[list[str]]], bool]
    ) -> list[tuple[int, float, dict[tuple[int, int], str]]]:
        variable = [cell for cell in cells if cell in options]
        found: list[tuple[int, float, dict[tuple[int, int], str]]] = []
        trial = [list(row) for row in text]

        def visit(index: int, corrections: int, cost: float, chosen: dict[tuple[int, int], str]) -> None:
            nodes[0] += 1
            if nodes[0] > MAX_SEARCH_NODES:
                raise _TooUncertain
            if index == len(variable):
                if accept(trial):
                    found.append((corrections, cost, dict(chosen)))
                return
            row, col = variable[index]
            for option in options[(row, col)]:
                if corrections + option.corrections > MAX_CORRECTIONS:
                    continue
                trial[row][col] = option.char
                chosen[(row, col)] = option.char
                visit(index + 1, corrections + option.corrections, cost + option.cost, chosen)
            trial[row][col] = text[row][col]
            chosen.pop((row, col), None)

        visit(0, 0, 0.0, {})
        return sorted(found, key=lambda item: (item[0], item[1]))[:32]

    try:
        groups = [
            assignments(
                [(r, c) for r, s, e in spans for c in range(s, e)] + [check],
                functools.partial(_holds_on, spans=spans, check=check),
            )
            for spans, check in own
        ]
        groups.append(assignments(free, lambda _trial: True))
    except _TooUncertain:
        return Correction("unclear")
    if any(not group for group in groups):
        return Correction("none")

    candidates: list[tuple[int, float, tuple[str, ...]]] = []
    for combination in _product_of(groups):
        corrections = sum(item[0] for item in combination)
        if corrections > MAX_CORRECTIONS:
            continue
        nodes[0] += 1
        if nodes[0] > MAX_SEARCH_NODES:
            return Correction("unclear")
        trial = [list(row) for row in text]
        for _corrections, _cost, chosen in combination:
            for (row, col), char in chosen.items():
                trial[row][col] = char
        if _check_holds(trial, final_spans, final_check):
            cost = sum(item[1] for item in combination)
            candidates.append((corrections, cost, tuple("".join(row) for row in trial)))
    if not candidates:
        return Correction("none")
    candidates.sort(key=lambda item: (item[0], item[1]))
    best = candidates[0]
    for other in candidates[1:]:
        if other[2] != best[2] and other[0] == best[0] and other[1] - best[1] < AMBIGUITY_MARGIN:
            return Correction("ambiguous")
    return Correction("valid", best[2], best[0])


def _holds_on(trial: list[list[str]], *, spans: tuple[_Span, ...], check: tuple[int, int]) -> bool:
    return _check_holds(trial, spans, check)


def _product_of(groups: list[list[_T]]) -> Iterator[list[_T]]:
    if not groups:
        yield []
        return
    for first in groups[0]:
        for rest in _product_of(groups[1:]):
            yield [first, *rest]


# --- Interpretation -----------------------------------------------------------------------------------


def _kind_of(lines: list[str]) -> DocumentType | None:
    if len(lines) == 2 and all(len(line) == 44 for line in lines):
        return "TD3"
    if len(lines) == 3 and all(len(line) == 30 for line in lines):
        return "TD1"
    return None


def _interpret(kind: DocumentType, lines: list[str], *, today: date) -> MRZResult:
    from mrz.checker.td1 import TD1CodeChecker
    from mrz.checker.td3 import TD3CodeChecker

    code = "\n".join(lines)
    failed: list[str]
    try:
        checker = TD3CodeChecker(code) if kind == "TD3" else TD1CodeChecker(code)
        checks = [(name, ok) for name, ok in checker.report.fields if name.endswith("hash")]
        failed = [name.removesuffix(" hash").replace(" ", "_") for name, ok in checks if not ok]
        if not checks:
            failed = ["all"]
    except Exception:
        # Characters outside the MRZ alphabet, wrong lengths: nothing can be trusted.
        failed = ["format"]

    if kind == "TD3":
        document_code, issuing_state, name_field = lines[0][0:2], lines[0][2:5], lines[0][5:44]
        number, nationality = lines[1][0:9], lines[1][10:13]
        birth, sex, expiry = lines[1][13:19], lines[1][20], lines[1][21:27]
    else:
        document_code, issuing_state, name_field = lines[0][0:2], lines[0][2:5], lines[2][0:30]
        number, nationality = lines[0][5:14], lines[1][15:18]
        birth, sex, expiry = lines[1][0:6], lines[1][7], lines[1][8:14]

    birth_date = _date(birth, today=today, future_allowed=False)
    expiry_date = _date(expiry, today=today, future_allowed=True)
    if birth_date is None:
        failed.append("birth_date_format")
    if expiry_date is None:
        failed.append("expiry_date_format")
    valid = not failed
    surname, given_names = _split_name(name_field)
    return MRZResult(
        document_type=kind,
        document_code=document_code.rstrip("<"),
        issuing_state=issuing_state.replace("<", ""),
        nationality=nationality.replace("<", "") if valid else None,
        surname=surname,
        given_names=given_names,
        name_truncated=not name_field.endswith("<"),
        document_number=number.replace("<", "") if valid else None,
        birth_date=birth_date if valid else None,
        expiry_date=expiry_date if valid else None,
        sex=sex.replace("<", "X"),
        check_digits_valid=valid,
        expired=(expiry_date < today) if valid and expiry_date else None,
        failed_checks=tuple(failed),
    )


def _date(text: str, *, today: date, future_allowed: bool) -> date | None:
    if len(text) != 6 or not text.isdigit():
        return None
    yy, mm, dd = int(text[0:2]), int(text[2:4]), int(text[4:6])
    century = 2000 if (future_allowed and 2000 + yy <= today.year + 50) else 1900
    if not future_allowed and 2000 + yy <= today.year:
        century = 2000
    try:
        parsed = date(century + yy, mm, dd)
    except ValueError:
        return None
    if not future_allowed and parsed > today:
        return None
    return parsed


def _split_name(field_text: str) -> tuple[str, str]:
    """Surname and given names as printed, fillers turned to spaces.

    The surname ends at the first `<<`; the given names end at the next `<<`, where the padding
    starts. Anything in the padding is OCR noise (a filler read as a letter) and is dropped.
    """
    surname, _, rest = field_text.partition("<<")
    given, _, _padding = rest.lstrip("<").partition("<<")
    return _words(surname), _words(given)


def _words(part: str) -> str:
    return " ".join(word for word in part.split("<") if word)
