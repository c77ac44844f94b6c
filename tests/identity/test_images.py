"""Strict decoding: only real JPEG/PNG/WebP pixels get through, with no metadata left."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image

from identity.images import (
    DecodedImage,
    ImageRejected,
    decode_image,
    fit_within,
    reencode_without_metadata,
    refuse_blank,
    sniff_format,
)

GPS_IFD = 0x8825


def jpeg_bytes(size: tuple[int, int] = (320, 240), **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 120, 90)).save(buffer, format="JPEG", **save)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb in a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    # One compressed row of zeros is enough: the decoder must refuse from the header alone.
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)))
        + png_chunk(b"IEND", b"")
    )


def expect_rejection(data: bytes, code: str, **limits: Any) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, **limits)
    assert caught.value.code == code
    assert caught.value.message.endswith(".")  # a sentence a person reads, not a Pillow traceback
    return caught.value


def test_a_jpeg_decodes_to_upright_rgb_pixels() -> None:
    image = decode_image(jpeg_bytes((320, 240)))
    assert (image.width, image.height, image.source_format) == (320, 240, "JPEG")
    assert image.pixels.shape == (240, 320, 3)
    assert not image.pixels.flags.writeable


def test_a_png_with_transparency_decodes_on_white() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(buffer, format="PNG")
    image = decode_image(buffer.getvalue())
    assert image.source_format == "PNG"
    assert image.pixels[50, 50].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied_before_the_metadata_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    image = decode_image(jpeg_bytes((300, 200), exif=exif.tobytes()))
    assert (image.width, image.height) == (200, 300)


def test_gps_exif_is_gone_after_reencoding() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    original = jpeg_bytes((320, 240), exif=exif.tobytes(), comment=b"taken at home")
    with Image.open(io.BytesIO(original)) as img:
        assert img.getexif().get_ifd(GPS_IFD), "the test photo must carry GPS data to begin with"

    stored = reencode_without_metadata(decode_image(original))

    with Image.open(io.BytesIO(stored)) as img:
        assert not img.getexif()
        assert not img.getexif().get_ifd(GPS_IFD)
        assert "exif" not in img.info and "icc_profile" not in img.info and "comment" not in img.info
        assert "xmp" not in img.info
    assert b"Exif" not in stored and b"PhoneMaker" not in stored and b"taken at home" not in stored


def test_an_empty_file_is_rejected() -> None:
    expect_rejection(b"", "empty")


def test_an_oversized_upload_is_rejected_before_decoding() -> None:
    error = expect_rejection(jpeg_bytes() + b"\x00" * 2048, "too_large", max_bytes=2048)
    assert "limit" in error.message


def test_a_text_file_named_photo_jpg_is_not_an_image() -> None:
    error = expect_rejection(b"name=photo.jpg\nthis is not a photo\n", "not_an_image")
    assert "JPEG or PNG" in error.message


def test_a_pdf_is_named_as_a_pdf() -> None:
    error = expect_rejection(b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n", "unsupported_format")
    assert "PDF" in error.message


def test_a_heic_photo_gets_advice_for_iphones() -> None:
    error = expect_rejection(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "unsupported_format")
    assert "Most Compatible" in error.message


def test_webp_can_be_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80)).save(buffer, format="WEBP")
    assert decode_image(buffer.getvalue()).source_format == "WEBP"
    with pytest.raises(ImageRejected) as caught:
        decode_image(buffer.getvalue(), allow_webp=False)
    assert caught.value.code == "unsupported_format"


def test_a_truncated_jpeg_is_reported_as_damaged() -> None:
    whole = jpeg_bytes((640, 480), quality=95)
    error = expect_rejection(whole[: len(whole) // 2], "corrupt")
    assert "damaged" in error.message


def test_png_magic_with_garbage_after_it_is_reported_as_damaged() -> None:
    expect_rejection(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt")


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = png_declaring(50_000, 50_000)
    assert len(bomb) < 60_000
    error = expect_rejection(bomb, "too_many_pixels")
    assert "megapixels" in error.message


def test_pillows_global_pixel_limit_is_respected_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    expect_rejection(png_declaring(200, 200), "too_many_pixels")


def test_decoding_does_not_change_global_warning_filters() -> None:
    import warnings

    before = list(warnings.filters)
    with pytest.raises(ImageRejected):
        decode_image(png_declaring(50_000, 50_000))
    assert list(warnings.filters) == before


def test_a_thumbnail_is_too_small() -> None:
    expect_rejection(jpeg_bytes((40, 30)), "too_small")


def test_the_format_comes_from_the_magic_bytes_only() -> None:
    assert sniff_format(jpeg_bytes()) == "JPEG"
    with pytest.raises(ImageRejected):
        sniff_format(b"GIF89a" + b"\x00" * 10)


def test_fit_within_only_ever_shrinks() -> None:
    image = decode_image(jpeg_bytes((400, 200)))
    assert fit_within(image, max_side=1000) is image
    small = fit_within(image, max_side=100)
    assert (small.width, small.height) == (100, 50)
    assert isinstance(small, DecodedImage)


def test_repr_never_shows_pixels() -> None:
    assert repr(decode_image(jpeg_bytes((100, 100)))) == "DecodedImage(100x100, from JPEG)"


def _noisy(size: tuple[int, int], base: tuple[int, int, int], spread: int, seed: int = 0) -> bytes:
    """One colour with sensor-like noise of +-`spread`, as a JPEG."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(base) + rng.integers(-spread, spread + 1, (size[1], size[0], 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype("uint8"), "RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(jpeg_bytes((1600, 1200)), id="one-colour-jpeg"),
        pytest.param(_noisy((1600, 1200), (250, 250, 250), 3), id="white-page-with-noise"),
        pytest.param(_noisy((4000, 3000), (8, 8, 10), 4), id="covered-lens"),
        pytest.param(_noisy((800, 600), (128, 128, 128), 2), id="grey"),
    ],
)
def test_a_photo_of_one_colour_is_refused_as_blank(data: bytes) -> None:
    image = decode_image(data)  # a valid image (a gallery may hold such a photo) ...
    with pytest.raises(ImageRejected) as caught:
        refuse_blank(image)  # ... but no proof of anything from a subject
    assert caught.value.code == "blank" and "one colour" in caught.value.message


def test_a_faded_or_dark_photo_with_content_is_not_blank() -> None:
    gradient = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    buffer = io.BytesIO()
    gradient.save(buffer, format="JPEG")
    refuse_blank(decode_image(buffer.getvalue()))
    # Faint print on a grey ground: about a tenth of the range, still more than one colour.
    refuse_blank(decode_image(_noisy((1200, 900), (120, 120, 120), 24)))


def test_a_truncated_jpeg_is_refused_even_after_a_library_allowed_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow's LOAD_TRUNCATED_IMAGES is process-wide; WeasyPrint (the transparency PDF) sets it on import."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = jpeg_bytes((640, 480), quality=95)
    expect_rejection(whole[: len(whole) // 2], "corrupt")


@pytest.mark.django_db
def test_drawing_a_transparency_pdf_leaves_pillows_truncation_switch_alone(client: Any) -> None:
    from PIL import ImageFile

    from tests.ledger.test_metrics import seed_this_year

    year = seed_this_year(3, seed=9)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert client.get(f"/transparency/{year}.pdf").status_code == 200
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_large_jpeg_is_decoded_reduced_no_smaller_than_asked_and_upright() -> None:
    phone = jpeg_bytes((4032, 3024))
    assert decode_image(phone, reduce_to=2000).width == 2016  # half size: libjpeg's DCT scaling
    assert decode_image(phone, reduce_to=1280).width == 2016  # a quarter (1008) would be too small
    assert decode_image(phone, reduce_to=900).width == 1008
    assert decode_image(phone).width == 4032
    # A portrait photo stored sideways (EXIF orientation 6) is turned upright after the reduction.
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (4032, 3024), (180, 120, 90)).save(buffer, format="JPEG", exif=exif)
    sideways = decode_image(buffer.getvalue(), reduce_to=2000)
    assert (sideways.width, sideways.height) == (1512, 2016)
    # Other formats and smaller photos come as they are.
    png = io.BytesIO()
    Image.new("RGB", (3000, 2000), (180, 120, 90)).save(png, format="PNG")
    assert decode_image(png.getvalue(), reduce_to=1000).width == 3000
    assert decode_image(jpeg_bytes((1800, 1200)), reduce_to=2000).width == 1800


def test_the_pixel_limit_is_checked_on_the_full_size_before_any_reduction() -> None:
    with pytest.raises(ImageRejected) as refused:
        decode_image(jpeg_bytes((4032, 3024)), max_pixels=4032 * 3024 - 1, reduce_to=1000)
    assert refused.value.code == "too_many_pixels"
