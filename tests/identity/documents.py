"""Synthetic passports (TD3) and ID cards (TD1) drawn with Pillow, and phone-photo degradation.

Everything is generated in memory from a seed, so no document image is ever committed. The machine
readable zone is set in OCR-B (Debian's fonts-ocr-b) at the ICAO pitch of 2.54 mm; the check digits
are computed here, independently of the code under test, so a bug there cannot hide itself.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OCR_B = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

PX_PER_MM = 12
DocumentKind = Literal["TD1", "TD3"]
SIZES_MM = {"TD3": (125.0, 88.0), "TD1": (85.6, 54.0)}


@dataclass(frozen=True)
class Holder:
    surname: str = "QUINTERO<HADDAD"
    given_names: str = "ZOE<MARIA"
    document_number: str = "X4RT58N21"
    nationality: str = "UTO"
    issuing_state: str = "UTO"
    birth_date: date = date(1984, 3, 9)
    sex: str = "F"
    expiry_date: date = date(2031, 6, 30)
    optional: str = ""


def check_digit(field: str) -> str:
    """ICAO 9303 part 3, 4.9: weights 7, 3, 1; digits count as themselves, A-Z as 10-35, '<' as 0."""
    total = 0
    for index, char in enumerate(field):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        else:
            value = 0
        total += value * (7, 3, 1)[index % 3]
    return str(total % 10)


def _pad(text: str, length: int) -> str:
    return (text + "<" * length)[:length]


def _yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def td3_lines(holder: Holder) -> tuple[str, str]:
    name = _pad(f"{holder.surname}<<{holder.given_names}", 39)
    line1 = f"P<{holder.issuing_state}{name}"
    number = _pad(holder.document_number, 9)
    optional = _pad(holder.optional, 14)
    optional_check = check_digit(optional) if holder.optional else "<"
    birth, expiry = _yymmdd(holder.birth_date), _yymmdd(holder.expiry_date)
    composite = (
        (number + check_digit(number) + birth + check_digit(birth) + expiry + check_digit(expiry))
        + optional
        + optional_check
    )
    line2 = (
        f"{number}{check_digit(number)}{holder.nationality}{birth}{check_digit(birth)}{holder.sex}"
        f"{expiry}{check_digit(expiry)}{optional}{optional_check}{check_digit(composite)}"
    )
    assert len(line1) == len(line2) == 44
    return line1, line2


def td1_lines(holder: Holder) -> tuple[str, str, str]:
    number = _pad(holder.document_number, 9)
    optional1 = _pad(holder.optional, 15)
    line1 = f"I<{holder.issuing_state}{number}{check_digit(number)}{optional1}"
    birth, expiry = _yymmdd(holder.birth_date), _yymmdd(holder.expiry_date)
    optional2 = "<" * 11
    composite = (
        number + check_digit(number) + optional1 + birth + check_digit(birth) + expiry + check_digit(expiry)
    ) + optional2
    line2 = (
        f"{birth}{check_digit(birth)}{holder.sex}{expiry}{check_digit(expiry)}{holder.nationality}"
        f"{optional2}{check_digit(composite)}"
    )
    line3 = _pad(f"{holder.surname}<<{holder.given_names}", 30)
    assert len(line1) == len(line2) == len(line3) == 30
    return line1, line2, line3


def tamper_check_digit(lines: tuple[str, ...], *, line: int, position: int) -> tuple[str, ...]:
    """Change one check digit (as a forger editing the birth date without recomputing would)."""
    text = lines[line]
    wrong = str((int(text[position]) + 3) % 10)
    return (*lines[:line], text[:position] + wrong + text[position + 1 :], *lines[line + 1 :])


def _font(path: Path, size: int, fallback_bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def render_document(
    kind: DocumentKind,
    holder: Holder,
    portrait: Image.Image,
    *,
    mrz: tuple[str, ...] | None = None,
    seed: int = 0,
) -> Image.Image:
    """A flat, clean document: background pattern, printed fields, the portrait and the MRZ."""
    rng = random.Random(seed)
    width_mm, height_mm = SIZES_MM[kind]
    width, height = round(width_mm * PX_PER_MM), round(height_mm * PX_PER_MM)
    tint = (rng.randint(225, 240), rng.randint(232, 245), rng.randint(215, 235))
    doc = Image.new("RGB", (width, height), tint)
    draw = ImageDraw.Draw(doc)
    # A guilloche-like pattern: fine security printing is what makes real documents hard to OCR.
    for k in range(18):
        phase = rng.uniform(0, math.tau)
        amplitude = rng.uniform(8, 30)
        y0 = k * height / 18
        points = [(x, y0 + amplitude * math.sin(x / rng.uniform(35, 70) + phase)) for x in range(0, width, 6)]
        draw.line(points, fill=(tint[0] - 25, tint[1] - 15, tint[2] - 10), width=1)

    mm = PX_PER_MM
    small = kind == "TD1"
    label = _font(DEJAVU, round((1.3 if small else 1.6) * mm))
    value = _font(DEJAVU_BOLD, round((1.9 if small else 2.4) * mm))
    title = "PASSPORT / PASSEPORT" if kind == "TD3" else "IDENTITY CARD / CARTE D'IDENTITE"
    draw.text((4 * mm, (3 if kind == "TD3" else 2.5) * mm), f"UTOPIA  {title}", font=value, fill=(40, 40, 90))

    portrait_w = round((32 if kind == "TD3" else 19) * mm)
    portrait_h = round(portrait_w * 1.28)
    face = _portrait_crop(portrait, portrait_w, portrait_h)
    top = round((9 if kind == "TD3" else 7.5) * mm)
    doc.paste(face, (round(4 * mm), top))

    lines = mrz or (td3_lines(holder) if kind == "TD3" else td1_lines(holder))
    pretty = [
        ("Surname / Nom", holder.surname.replace("<", " ")),
        ("Given names / Prenoms", holder.given_names.replace("<", " ")),
        ("Nationality", holder.nationality),
        ("Date of birth", holder.birth_date.strftime("%d %b %Y").upper()),
        ("Sex", holder.sex),
        ("Date of expiry", holder.expiry_date.strftime("%d %b %Y").upper()),
        ("Document no.", holder.document_number),
    ]
    if small:
        pretty = [pretty[0], pretty[1], pretty[3], pretty[5], pretty[6]]
    x = round(4 * mm) + portrait_w + round(5 * mm)
    y = top
    step = round((6.2 if kind == "TD3" else 5.0) * mm)
    for caption, text in pretty:
        draw.text((x, y), caption, font=label, fill=(70, 70, 110))
        draw.text((x, y + round((1.9 if not small else 1.5) * mm)), text, font=value, fill=(20, 20, 20))
        y += step

    _draw_mrz(draw, lines, width=width, height=height, kind=kind)
    return doc


def _portrait_crop(photo: Image.Image, width: int, height: int) -> Image.Image:
    ratio = width / height
    w, h = photo.size
    if w / h > ratio:
        new_w = round(h * ratio)
        box = ((w - new_w) // 2, 0, (w - new_w) // 2 + new_w, h)
    else:
        new_h = round(w / ratio)
        box = (0, 0, w, new_h)  # keep the top: that is where the face is in a portrait photo
    return photo.convert("RGB").crop(box).resize((width, height), Image.Resampling.LANCZOS)


def _draw_mrz(
    draw: ImageDraw.ImageDraw, lines: tuple[str, ...], *, width: int, height: int, kind: str
) -> None:
    mm = PX_PER_MM
    pitch = 2.54 * mm
    font = _font(OCR_B, round(pitch / 0.723))
    line_step = 4.23 * mm  # 6 lines per inch
    left = (width - pitch * len(lines[0])) / 2
    # ICAO: the last line's baseline sits a few mm above the bottom edge.
    bottom_margin = (4.0 if kind == "TD3" else 2.5) * mm
    first_top = height - bottom_margin - line_step * len(lines)
    for row, text in enumerate(lines):
        for col, char in enumerate(text):
            draw.text((left + col * pitch, first_top + row * line_step), char, font=font, fill=(15, 15, 15))


@dataclass(frozen=True)
class Degradation:
    rotation: float
    blur: float
    quality: int
    out_width: int
    corner_jitter: float
    light: float


def degradation_for(seed: int) -> Degradation:
    rng = random.Random(seed * 7919 + 17)
    return Degradation(
        rotation=rng.uniform(-3.0, 3.0),
        blur=rng.uniform(0.5, 1.3),
        quality=rng.randint(65, 75),
        out_width=rng.randint(1200, 1600),
        corner_jitter=rng.uniform(0.005, 0.025),
        light=rng.uniform(0.75, 0.95),
    )


def photograph(document: Image.Image, *, seed: int, degradation: Degradation | None = None) -> bytes:
    """What a phone makes of the document: on a table, a bit tilted and skewed, soft, JPEG-compressed."""
    spec = degradation or degradation_for(seed)
    rng = np.random.default_rng(seed)
    doc_w, doc_h = document.size
    margin = round(0.08 * doc_w)
    canvas_w, canvas_h = doc_w + 2 * margin, doc_h + 2 * margin
    table = rng.normal(110, 12, size=(canvas_h // 8 + 1, canvas_w // 8 + 1, 3)).clip(0, 255).astype(np.uint8)
    background = Image.fromarray(table, "RGB").resize((canvas_w, canvas_h), Image.Resampling.BILINEAR)
    background.paste(document, (margin, margin))

    # Perspective: move each corner a little, as a hand-held phone does.
    jitter = spec.corner_jitter * doc_w
    corners = [(0.0, 0.0), (float(canvas_w), 0.0), (float(canvas_w), float(canvas_h)), (0.0, float(canvas_h))]
    moved = [(x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)) for x, y in corners]
    tilted = background.transform(
        (canvas_w, canvas_h),
        Image.Transform.PERSPECTIVE,
        _perspective_coefficients(corners, moved),
        resample=Image.Resampling.BICUBIC,
        fillcolor=(100, 100, 100),
    )
    tilted = tilted.rotate(spec.rotation, resample=Image.Resampling.BICUBIC, fillcolor=(100, 100, 100))

    # Uneven light: darker on one side.
    ramp = np.linspace(spec.light, 1.05, canvas_w, dtype=np.float32)
    if rng.random() < 0.5:
        ramp = ramp[::-1]
    pixels = np.asarray(tilted, dtype=np.float32) * ramp[None, :, None]
    pixels += rng.normal(0, 3.0, size=pixels.shape)
    shot = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    shot = shot.filter(ImageFilter.GaussianBlur(spec.blur))
    out_h = round(canvas_h * spec.out_width / canvas_w)
    shot = shot.resize((spec.out_width, out_h), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    shot.save(buffer, format="JPEG", quality=spec.quality)
    return buffer.getvalue()


def _perspective_coefficients(
    source: list[tuple[float, float]], target: list[tuple[float, float]]
) -> tuple[float, ...]:
    # Pillow maps output pixels back to input pixels: solve for the transform from target to source.
    rows = []
    rhs = []
    for (sx, sy), (tx, ty) in zip(source, target, strict=True):
        rows.append([tx, ty, 1, 0, 0, 0, -sx * tx, -sx * ty])
        rows.append([0, 0, 0, tx, ty, 1, -sy * tx, -sy * ty])
        rhs += [sx, sy]
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return tuple(float(v) for v in solution)


def with_holder(holder: Holder, **changes: object) -> Holder:
    return replace(holder, **changes)  # type: ignore[arg-type]


def with_glare(
    document: Image.Image, *, kind: DocumentKind, strength: float = 0.85, seed: int = 0
) -> Image.Image:
    """A lamp's reflection over part of the machine-readable zone: a bright soft ellipse that washes
    out the print under it (`strength` 1.0 turns its centre white)."""
    rng = random.Random(seed * 104729 + 3)
    width, height = document.size
    zone_top = (
        height - (4.0 if kind == "TD3" else 2.5) * PX_PER_MM - 4.23 * PX_PER_MM * (2 if kind == "TD3" else 3)
    )
    cx = rng.uniform(0.25, 0.75) * width
    cy = rng.uniform(zone_top, height - 2 * PX_PER_MM)
    rx, ry = 0.09 * width, 0.05 * height
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    falloff = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))[..., None] * strength
    pixels = np.asarray(document, dtype=np.float32)
    glared = pixels * (1 - falloff) + 255.0 * falloff
    return Image.fromarray(glared.clip(0, 255).astype(np.uint8), "RGB")


def with_low_contrast(document: Image.Image, *, factor: float = 0.45) -> Image.Image:
    """Faded print or a grey day: every pixel pulled towards mid-grey."""
    pixels = np.asarray(document, dtype=np.float32)
    return Image.fromarray((128 + (pixels - 128) * factor).clip(0, 255).astype(np.uint8), "RGB")
