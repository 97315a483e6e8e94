"""Safe image loading: what a user uploading a file would see, good file or bad."""

from __future__ import annotations

import io
import random
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from image_interpreter.errors import ImageRejected
from image_interpreter.images import encode_png, load_image, load_image_file
from image_interpreter.settings import Limits

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height but carries almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


# --- good files come out as upright 8-bit RGB ------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "BMP"])
def test_a_photo_in_any_common_format_loads_as_rgb(fmt: str) -> None:
    photo = _astronaut()
    loaded = load_image(_save(photo, fmt))
    assert loaded.mode == "RGB"
    assert loaded.size == photo.size
    difference = np.abs(np.asarray(loaded, np.int16) - np.asarray(photo, np.int16))
    assert difference.mean() < 4  # lossless formats give 0, lossy ones stay close


def test_cmyk_jpeg_colours_come_out_right() -> None:
    swatches = {(0, 255, 255, 0): RED, (255, 0, 255, 0): GREEN, (0, 0, 0, 0): WHITE}
    for cmyk, rgb in swatches.items():
        loaded = load_image(_save(Image.new("CMYK", (32, 32), cmyk), "JPEG", quality=95))
        assert loaded.mode == "RGB"
        assert _close(loaded.getpixel((16, 16)), rgb), (cmyk, loaded.getpixel((16, 16)))


@pytest.mark.parametrize(
    ("fmt", "dtype"), [("PNG", np.uint16), ("TIFF", np.uint16), ("TIFF", ">u2")]
)
def test_16_bit_full_range_gradient_maps_onto_0_to_255(fmt: str, dtype: object) -> None:
    ramp = np.linspace(0, 65535, 1024).round().astype(np.uint16)
    source = Image.fromarray(np.tile(ramp, (64, 1)).astype(dtype))
    loaded = load_image(_save(source, fmt))
    row = np.asarray(loaded)[0, :, 0].astype(int)
    assert loaded.mode == "RGB"
    assert row[0] == 0 and row[-1] == 255  # scaled, not clipped to white
    assert np.all(np.diff(row) >= 0)
    assert len(np.unique(row)) == 256
    assert abs(int(row[512]) - 128) <= 1


def test_32_bit_integer_image_holding_16_bit_data_is_scaled() -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.int32)
    loaded = load_image(_save(Image.fromarray(values), "TIFF"))
    assert [loaded.getpixel((x, 0)) for x in range(3)] == [(0,) * 3, (128,) * 3, (255,) * 3]


def test_float_image_in_0_to_1_is_scaled_to_0_to_255() -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    loaded = load_image(_save(Image.fromarray(values), "TIFF"))
    assert [loaded.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_greyscale_and_one_bit_become_grey_rgb() -> None:
    grey = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    loaded = load_image(_save(grey, "PNG"))
    pixels = np.asarray(loaded)
    assert loaded.mode == "RGB"
    assert np.array_equal(pixels[..., 0], np.asarray(grey))
    assert np.array_equal(pixels[..., 0], pixels[..., 2])

    one_bit = Image.new("1", (8, 8), 0)
    one_bit.putpixel((3, 3), 1)
    loaded = load_image(_save(one_bit, "PNG"))
    assert loaded.getpixel((3, 3)) == WHITE and loaded.getpixel((0, 0)) == (0, 0, 0)


def test_rgba_is_composited_on_white() -> None:
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[0, 0] = (0, 0, 0, 0)  # fully transparent black
    pixels[0, 1] = (0, 0, 0, 128)  # half-transparent black
    pixels[0, 2] = (*BLUE, 255)  # opaque blue
    loaded = load_image(_save(Image.fromarray(pixels, "RGBA"), "PNG"))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == WHITE  # not black: transparency is not dropped
    assert _close(loaded.getpixel((1, 0)), (127, 127, 127), tolerance=2)
    assert loaded.getpixel((2, 0)) == BLUE


def test_greyscale_with_alpha_is_composited_on_white() -> None:
    image = Image.new("LA", (2, 1), (0, 255))
    image.putpixel((1, 0), (0, 0))
    loaded = load_image(_save(image, "PNG"))
    assert loaded.getpixel((0, 0)) == (0, 0, 0) and loaded.getpixel((1, 0)) == WHITE


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparent_index_shows_white(fmt: str) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 - 2) * 3)
    image.paste(1, (2, 0, 4, 4))  # right half red, left half index 0
    loaded = load_image(_save(image, fmt, transparency=0))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == WHITE  # index 0 is transparent, not black
    assert loaded.getpixel((3, 0)) == RED


def test_palette_without_transparency_keeps_its_colours() -> None:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([*GREEN, *BLUE] + [0] * 254 * 3)
    image.putpixel((1, 0), 1)
    loaded = load_image(_save(image, "PNG"))
    assert [loaded.getpixel((0, 0)), loaded.getpixel((1, 0))] == [GREEN, BLUE]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, GREEN, BLUE)]
    animated = _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(animated)).n_frames == 3  # really animated
    loaded = load_image(animated)
    assert loaded.mode == "RGB"
    assert _close(loaded.getpixel((8, 8)), RED)


@pytest.mark.parametrize(
    ("orientation", "marked_corner"),
    [(6, (39, 0)), (8, (0, 59))],  # 6: shown rotated 90° clockwise; 8: counter-clockwise
)
def test_exif_orientation_is_applied(orientation: int, marked_corner: tuple[int, int]) -> None:
    stored = Image.new("RGB", (60, 40), WHITE)
    stored.paste(RED, (0, 0, 8, 8))  # mark the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    loaded = load_image(_save(stored, "JPEG", exif=exif, quality=95))
    assert loaded.size == (40, 60)  # width and height swapped
    assert _close(loaded.getpixel(marked_corner), RED, tolerance=40)
    assert _close(loaded.getpixel((20, 30)), WHITE)


def test_loaded_image_is_fully_decoded_and_independent_of_the_input() -> None:
    data = bytearray(_save(_astronaut(), "PNG"))
    loaded = load_image(bytes(data))
    data[:] = b"\x00" * len(data)
    assert loaded.getpixel((0, 0)) == _astronaut().getpixel((0, 0))


def test_load_image_file_reads_a_file(tmp_path) -> None:
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(_save(_astronaut(), "JPEG"))
    assert load_image_file(path).size == (512, 512)
    assert load_image_file(str(path)).mode == "RGB"


# --- bad files are refused with a message the user can act on ----------------------------------


def test_empty_input_is_refused() -> None:
    with pytest.raises(ImageRejected, match=r"'upload\.png' is empty \(0 bytes\)"):
        load_image(b"", name="upload.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_file_is_refused(fmt: str) -> None:
    data = _save(_astronaut(), fmt)
    with pytest.raises(ImageRejected) as refused:
        load_image(data[: len(data) // 2], name=f"half.{fmt.lower()}")
    message = str(refused.value)
    assert f"'half.{fmt.lower()}'" in message
    assert "truncated or corrupt" in message or "not recognised" in message
    assert "again" in message


def test_text_file_named_png_is_refused(tmp_path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("Shopping list:\n- milk\n- eggs\n")
    with pytest.raises(ImageRejected) as refused:
        load_image_file(path)
    assert "notes.png" in str(refused.value)
    assert "looks like text" in str(refused.value)


def test_unrecognised_binary_is_refused() -> None:
    noise = random.Random(0).randbytes(4096)
    with pytest.raises(ImageRejected, match="not recognised"):
        load_image(noise)


def test_eps_is_refused_without_running_ghostscript() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageRejected, match="Ghostscript"):
        load_image(eps, name="drawing.eps")


def test_heic_gets_a_specific_hint() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(ImageRejected, match=r"HEIC.*Convert it to PNG or JPEG"):
        load_image(heic, name="IMG_0001.HEIC")


def test_huge_png_header_is_refused_without_decoding() -> None:
    bomb = _png_header(30000, 30000)
    assert len(bomb) < 200
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as refused:
        load_image(bomb, name="bomb.png")
    assert time.perf_counter() - started < 1.0  # 900 MP of RGB would be 2.7 GB to decode
    message = str(refused.value)
    assert "'bomb.png'" in message
    assert "30000x30000 = 900 MP; the limit is 40 MP" in message
    assert "IMAGE_INTERPRETER_LIMITS__MAX_PIXELS" in message
    assert "resize it" in message


def test_pixel_limit_is_checked_from_the_header() -> None:
    # 64 MP is under Pillow's own ceiling, so this is our check: it names the dimensions, and
    # (the file holding almost no pixel data) it would say "truncated" had it decoded.
    with pytest.raises(ImageRejected, match=r"8000x8000 = 64 MP; the limit is 40 MP"):
        load_image(_png_header(8000, 8000))


def test_configured_pixel_limit_applies_to_real_photos() -> None:
    with pytest.raises(ImageRejected, match=r"512x512 = 262,144 pixels; the limit is 100,000"):
        load_image(_save(_astronaut(), "PNG"), Limits(max_pixels=100_000))
    assert load_image(_save(_astronaut(), "PNG"), Limits(max_pixels=512 * 512)).size == (512, 512)


def test_pillow_bomb_warning_is_a_refusal_even_with_a_higher_limit() -> None:
    filters_before = list(warnings.filters)
    ceiling = Image.MAX_IMAGE_PIXELS
    assert ceiling is not None
    side = int((ceiling * 1.2) ** 0.5)  # above Pillow's warning, below its hard error
    with pytest.raises(ImageRejected, match="MAX_IMAGE_PIXELS"):
        load_image(_png_header(side, side), Limits(max_pixels=10 * ceiling))
    assert warnings.filters == filters_before  # no global change left behind
    assert ceiling == Image.MAX_IMAGE_PIXELS


def test_byte_limit_is_checked_before_decoding() -> None:
    data = _save(_astronaut(), "PNG")
    with pytest.raises(ImageRejected) as refused:
        load_image(data, Limits(max_bytes=100_000), name="big.png")
    message = str(refused.value)
    assert "'big.png'" in message
    assert f"{len(data) / 1024:.1f} KiB" in message
    assert "the limit is 97.7 KiB" in message
    assert "IMAGE_INTERPRETER_LIMITS__MAX_BYTES" in message


def test_oversized_file_is_refused_from_its_size_on_disk(tmp_path) -> None:
    path = tmp_path / "huge.tif"
    with path.open("wb") as handle:  # sparse: 60 MiB on paper, nothing to read
        handle.truncate(60 * 2**20)
    with pytest.raises(ImageRejected, match=r"huge\.tif' is 60 MiB; the limit is 50 MiB"):
        load_image_file(path)


def test_missing_file_and_folder_are_refused(tmp_path) -> None:
    with pytest.raises(ImageRejected, match=r"no file at .*missing\.png"):
        load_image_file(tmp_path / "missing.png")
    with pytest.raises(ImageRejected, match="is a folder"):
        load_image_file(tmp_path)


def test_damaged_files_never_escape_as_raw_pillow_errors() -> None:
    rng = random.Random(1234)
    small = _astronaut().resize((64, 64))
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"):
        original = _save(small, fmt)
        for _ in range(15):
            damaged = bytearray(original)
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            damaged = damaged[: rng.randint(1, len(damaged))]
            try:
                loaded = load_image(bytes(damaged))
            except ImageRejected:
                continue
            assert loaded.mode == "RGB"  # a damage the decoder tolerates still gives RGB


# --- deterministic PNG for the content-addressed store -----------------------------------------


def test_encode_png_is_deterministic_and_lossless() -> None:
    photo = load_image(_save(_astronaut(), "JPEG"))
    first = encode_png(photo)
    assert encode_png(photo) == first
    assert encode_png(Image.fromarray(np.asarray(photo))) == first  # same pixels, new object
    assert np.array_equal(np.asarray(load_image(first)), np.asarray(photo))


def test_encode_png_ignores_metadata() -> None:
    plain = Image.fromarray(skdata.astronaut())
    tagged = plain.copy()
    tagged.info.update({"icc_profile": b"not a real profile", "dpi": (300, 300), "Comment": "x"})
    assert encode_png(tagged) == encode_png(plain)
    assert Image.open(io.BytesIO(encode_png(tagged))).info == {}


def test_encode_png_takes_only_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        encode_png(Image.new("RGBA", (2, 2)))
