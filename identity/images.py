"""Strict, in-memory decoding of the photos a subject uploads (headshot and ID document).

Why so strict: these bytes come from anyone on the internet and are handed to C decoders. The format
is decided from the magic bytes alone (a file name or a Content-Type is the sender's claim, not a
fact), only the decoder for that format is allowed to look at the data, the pixel count is checked
from the header before any pixel is decoded, and every failure becomes an `ImageRejected` whose
message tells the person what to do next.

Nothing here touches the disk, logs anything, or keeps a reference to the input after returning:
the caller drops the bytes and the `DecodedImage` when it is done with them.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_noop
from PIL import Image, ImageFile, ImageOps

from identity.errors import VerificationInputError

ImageFormat = Literal["JPEG", "PNG", "WEBP"]

# A 48 MP phone camera (8000 x 6000) stays under this after the phone's own downscaling; anything
# bigger is either not a photo of a person or a decompression bomb. Pillow's default allows ~179 MP.
DEFAULT_MAX_PIXELS: Final = 40_000_000
# Phone JPEGs are 2-12 MB; an uncompressed screenshot PNG can reach ~15 MB.
DEFAULT_MAX_BYTES: Final = 15 * 1024 * 1024
# Below this no face or machine-readable zone can be recognised, so say so rather than "no face".
DEFAULT_MIN_SIDE: Final = 64
# A photo whose brightness varies less than this (standard deviation, 0-255) shows one colour: a lens
# covered, a blank page, a filled rectangle. No face or text can be in it. JPEG noise alone is ~1-2; the
# fixture photos are above 60, and a photographed document faded to a fifth of its contrast above 18.
BLANK_MAX_STDDEV: Final = 6.0

JPEG_MAGIC: Final = b"\xff\xd8\xff"
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"

# Formats people plausibly send by mistake, so the message can name them instead of "not an image".
# The names are marked for translation and translated when the message is built.
_KNOWN_OTHER_FORMATS: Final[tuple[tuple[bytes, int, str], ...]] = (
    (b"GIF87a", 0, gettext_noop("a GIF")),
    (b"GIF89a", 0, gettext_noop("a GIF")),
    (b"%PDF-", 0, gettext_noop("a PDF")),
    (b"II*\x00", 0, gettext_noop("a TIFF")),
    (b"MM\x00*", 0, gettext_noop("a TIFF")),
    (b"BM", 0, gettext_noop("a BMP")),
    (b"\x00\x00\x00\x0cjP  ", 0, gettext_noop("a JPEG 2000")),
    (b"ftypheic", 4, gettext_noop("a HEIC (iPhone) photo")),
    (b"ftypheix", 4, gettext_noop("a HEIC (iPhone) photo")),
    (b"ftypmif1", 4, gettext_noop("a HEIF photo")),
    (b"ftypavif", 4, gettext_noop("an AVIF image")),
)
_HEIC_HINT: Final = gettext_noop(
    "On an iPhone, set Settings > Camera > Formats to 'Most Compatible', or take a screenshot."
)


class ImageRejected(VerificationInputError):
    """The upload cannot be used as a photo; `message` says why and what to do instead.

    Codes: `empty`, `too_large`, `not_an_image`, `unsupported_format`, `corrupt`, `too_many_pixels`,
    `too_small`.

    Translation: a fixed message is an English literal marked with `gettext_noop` and translated
    where it is shown (`gettext(exc.message)`). A message with numbers or names in it can't be looked
    up once formatted, so it is translated (`gettext`) and then formatted when it is raised: these
    errors are raised while a request is handled, with the subject's language active.
    """


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Upright RGB pixels with every piece of metadata already gone.

    `pixels` is a read-only (height, width, 3) uint8 array; `source_format` is what the magic bytes
    said. Frozen and read-only so a stage of the pipeline cannot alter what the next one sees.
    """

    pixels: np.ndarray
    width: int
    height: int
    source_format: ImageFormat

    def __repr__(self) -> str:  # the default would print pixel values
        return f"DecodedImage({self.width}x{self.height}, from {self.source_format})"

    def to_pil(self) -> Image.Image:
        """A fresh PIL image (a copy: the caller may mutate it)."""
        return Image.fromarray(np.array(self.pixels), mode="RGB")

    @classmethod
    def from_pil(cls, img: Image.Image, *, source_format: ImageFormat = "PNG") -> DecodedImage:
        """Wrap pixels that are already trusted (generated or resized by us)."""
        pixels = np.array(img.convert("RGB"), dtype=np.uint8)
        pixels.flags.writeable = False
        return cls(pixels=pixels, width=img.width, height=img.height, source_format=source_format)


def sniff_format(data: bytes, *, allow_webp: bool = True) -> ImageFormat:
    """The format the magic bytes prove, or `ImageRejected` naming what the file is instead."""
    head = bytes(data[:16])
    if head.startswith(JPEG_MAGIC):
        return "JPEG"
    if head.startswith(PNG_MAGIC):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        if allow_webp:
            return "WEBP"
        raise ImageRejected(
            "unsupported_format",
            gettext_noop("WebP images aren't accepted here. Send the photo as a JPEG or PNG."),
        )
    for magic, offset, what in _KNOWN_OTHER_FORMATS:
        if head[offset : offset + len(magic)] == magic:
            message = gettext(
                "This file is %(what)s, not a JPEG or PNG photo. Send the photo as a JPEG or PNG."
            ) % {"what": gettext(what)}
            if "HEI" in what:
                message = f"{message} {gettext(_HEIC_HINT)}"
            raise ImageRejected("unsupported_format", message)
    raise ImageRejected(
        "not_an_image",
        gettext_noop(
            "This file is not a photo (whatever its name says). Take a photo, or choose a JPEG or PNG file."
        ),
    )


def decode_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    allow_webp: bool = True,
    reduce_to: int | None = None,
) -> DecodedImage:
    """Decode an untrusted upload into upright RGB pixels, or raise `ImageRejected`.

    The effective pixel ceiling is the lower of `max_pixels` and `PIL.Image.MAX_IMAGE_PIXELS`, so an
    operator who lowered Pillow's global limit is obeyed too. Pillow's decompression-bomb warning is
    made an error only inside this call (global warning filters are left alone).

    With `reduce_to`, a JPEG larger than needed is decoded at a reduced scale (1/2, 1/4 or 1/8, by
    libjpeg's DCT scaling, which costs a fraction of a full decode and needs no resize afterwards),
    its longer side staying at least `reduce_to`: a 12 MP phone photo carries far more pixels than
    the face and MRZ readers use. The limits above are checked on the full size first.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("decode_image takes the uploaded bytes")
    size = len(data)
    if size == 0:
        raise ImageRejected("empty", gettext_noop("The file is empty. Choose the photo again."))
    if size > max_bytes:
        raise ImageRejected(
            "too_large",
            gettext(
                "The photo is %(size)s; the limit is %(limit)s. Send a smaller photo "
                "(choose a smaller size when sharing it, or take a screenshot of it)."
            )
            % {"size": _mb(size), "limit": _mb(max_bytes)},
        )
    image_format = sniff_format(data, allow_webp=allow_webp)
    ceiling = max_pixels if Image.MAX_IMAGE_PIXELS is None else min(max_pixels, Image.MAX_IMAGE_PIXELS)

    # Pillow's switch is process-wide and other libraries set it (WeasyPrint's import does): a truncated
    # upload is damaged, whatever they chose for their own images.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[image_format]) as img:
                # The header is parsed, no pixel is decoded yet: refuse bombs before allocating them.
                _check_dimensions(img.width, img.height, ceiling=ceiling, min_side=min_side)
                if reduce_to is not None and image_format == "JPEG":
                    reduce_while_decoding(img, reduce_to)
                img.load()
                upright = _upright(img)
                pixels = np.array(_to_rgb(upright), dtype=np.uint8)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(ceiling) from exc
        except Exception as exc:
            # Truncated data, bad checksums, broken Huffman tables, MemoryError... all of them mean
            # the same thing to the person: this file is damaged.
            raise ImageRejected(
                "corrupt",
                gettext_noop(
                    "This photo file is damaged or incomplete and can't be opened. Take the photo again "
                    "or send the original file (not a partly downloaded copy)."
                ),
            ) from exc
    pixels.flags.writeable = False
    height, width = pixels.shape[:2]
    return DecodedImage(pixels=pixels, width=width, height=height, source_format=image_format)


def reencode_without_metadata(image: DecodedImage, *, image_format: str = "JPEG", quality: int = 90) -> bytes:
    """Encode pixels only: no EXIF (so no GPS, camera serial or time), no ICC, XMP or comments.

    This is what gets stored for the headshot (encrypted, by the caller); building a new image from
    the pixel array is the only way to be sure no metadata block survives, whatever the encoder
    would otherwise copy over.
    """
    fresh = Image.fromarray(np.array(image.pixels), mode="RGB")
    buffer = io.BytesIO()
    if image_format.upper() == "JPEG":
        fresh.save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        fresh.save(buffer, format=image_format.upper())
    return buffer.getvalue()


def fit_within(image: DecodedImage, *, max_side: int) -> DecodedImage:
    """Downscale (never upscale) so the longer side is at most `max_side`.

    Face detection and OCR time grow with the pixel count while a 12 MP phone photo carries far
    more detail than they need.
    """
    longest = max(image.width, image.height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    smaller = Image.fromarray(np.asarray(image.pixels), mode="RGB").resize(size, Image.Resampling.LANCZOS)
    return DecodedImage.from_pil(smaller, source_format=image.source_format)


def refuse_blank(image: DecodedImage) -> None:
    """Refuse a photo of one colour before any model looks at it: a clearer answer than "no face",
    and no attempt is spent on it. (For the subject's uploads; a gallery photo may well be blank.)"""
    step = max(1, max(image.height, image.width) // 512)
    sample = image.pixels[::step, ::step].astype(np.float32)
    brightness = sample @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if float(brightness.std()) < BLANK_MAX_STDDEV:
        raise ImageRejected(
            "blank",
            gettext_noop(
                "This photo shows one colour and nothing else (was the lens covered?). Take the photo again, "
                "in good light, with the whole subject in the frame."
            ),
        )


def _check_dimensions(width: int, height: int, *, ceiling: int, min_side: int) -> None:
    if width * height > ceiling:
        raise _too_many_pixels(ceiling)
    if min(width, height) < min_side:
        raise ImageRejected(
            "too_small",
            gettext(
                "The photo is only %(width)sx%(height)s pixels. Send the full-size photo, not a thumbnail."
            )
            % {"width": width, "height": height},
        )


def _too_many_pixels(ceiling: int) -> ImageRejected:
    return ImageRejected(
        "too_many_pixels",
        gettext(
            "The photo has more than %(megapixels)s megapixels. Send it at a smaller size "
            "(for example by taking a screenshot of it)."
        )
        % {"megapixels": number_format(round(ceiling / 1_000_000), 0)},
    )


def reduce_while_decoding(img: Image.Image, reduce_to: int) -> None:
    """Ask an opened, not yet loaded JPEG to decode at the smallest libjpeg scale whose longer side is
    still at least `reduce_to` (no effect on other formats or on smaller images)."""
    scale = reduce_to / max(img.width, img.height)
    if scale < 1:
        # libjpeg picks the smallest of its scales that keeps both sides at least the requested ones.
        img.draft(None, (math.ceil(img.width * scale), math.ceil(img.height * scale)))


def _upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        # A malformed orientation tag should not cost the person a retake: use the pixels as stored.
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent areas become white (as a viewer shows them), not black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def _mb(size: int) -> str:
    """The size in MB, one decimal, in the active language ("15.0 MB", "15,0 Mo")."""
    # Rounded first: number_format cuts the extra decimals off instead of rounding them.
    return gettext("%(megabytes)s MB") % {"megabytes": number_format(round(size / (1024 * 1024), 1), 1)}
