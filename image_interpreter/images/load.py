"""Safe image loading: untrusted bytes in, one fully decoded RGB image out, or `ImageRejected`.

Uploads come from anyone, so the size in bytes is checked before Pillow sees them and the size
in pixels is checked from the header before any pixel is decoded; a decompression bomb never gets
to allocate. Whatever Pillow reads (palette, 16-bit, float, CMYK, alpha, animation, EXIF-rotated)
comes out the same way, so the rest of the pipeline only ever handles upright 8-bit RGB.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from image_interpreter.errors import ImageRejected
from image_interpreter.settings import Limits

_PIXELS_VAR = "IMAGE_INTERPRETER_LIMITS__MAX_PIXELS"
_BYTES_VAR = "IMAGE_INTERPRETER_LIMITS__MAX_BYTES"
_ASPECT_VAR = "IMAGE_INTERPRETER_LIMITS__MAX_ASPECT_RATIO"
_CONVERT_HINT = "Convert it to PNG or JPEG and try again."

# EPS is decoded by running Ghostscript on the file: not something to do with an upload.
_REFUSED_FORMATS = frozenset({"EPS"})
_WHITE = (255, 255, 255)


def load_image(data: bytes, limits: Limits | None = None, name: str | None = None) -> Image.Image:
    """Decode `data` into an upright RGB image (first frame if animated), or raise ImageRejected."""
    limits = limits or Limits()
    label = f"'{name}'" if name else "The image"
    if not data:
        raise ImageRejected(
            f"{label} is empty (0 bytes). The upload or copy did not complete; send the file again."
        )
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"{label} is {_mib(len(data), limits.max_bytes)}; the limit is"
            f" {_mib(limits.max_bytes, len(data))} ({_BYTES_VAR})."
            " Compress or resize it before uploading."
        )
    try:
        # Pillow's own bomb checks (on open, and per frame or tile while decoding) become errors.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_accepted_formats()) as opened:
                _check_pixels(opened.size, limits, label)
                opened.seek(0)  # first frame of an animation
                opened.load()
                return _to_rgb(_upright(opened), label)
    except (ImageRejected, MemoryError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(exc, data, limits, label) from None
    except UnidentifiedImageError:
        raise ImageRejected(f"{label} is not an image that can be read: {_guess(data)}") from None
    except Exception as exc:  # whatever a decoder raises on bad input is the file's fault
        raise ImageRejected(
            f"{label} is truncated or corrupt and could not be decoded ({_detail(exc)})."
            " Export or download it again; if it opens in other programs, convert it to PNG or"
            " JPEG there."
        ) from None


def load_image_file(path: str | Path, limits: Limits | None = None) -> Image.Image:
    """`load_image` on a file, refusing an oversized one from its size on disk before reading it."""
    limits = limits or Limits()
    return load_image(read_image_file(path, limits), limits, name=str(path))


def open_regular_file(path: str | Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file, else NotARegularFile.

    Opened non-blocking and checked on the open descriptor: a FIFO (or a file swapped for one
    after a check) would otherwise block the open until something writes to it; a device or a
    socket has no end. Reads from the returned file block as usual."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(_file_kind(mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class NotARegularFile(OSError):
    """A path names a folder, FIFO, device or socket, not a file to read."""


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_image_file(path: str | Path, limits: Limits | None = None) -> bytes:
    """A file's bytes, at most `limits.max_bytes` of them: the size on disk is checked first and
    the read is bounded too (the file may grow); FIFOs, devices and sockets are refused without
    blocking."""
    limits = limits or Limits()
    path = Path(path)
    label = f"'{path}'"
    try:
        with open_regular_file(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.max_bytes:
                raise ImageRejected(
                    f"{label} is {_mib(size, limits.max_bytes)}; the limit is"
                    f" {_mib(limits.max_bytes, size)} ({_BYTES_VAR})."
                    " Compress or resize it before uploading."
                )
            data = handle.read(limits.max_bytes + 1)
    except (NotARegularFile, IsADirectoryError) as exc:
        kind = str(exc) if isinstance(exc, NotARegularFile) else "a folder"
        raise ImageRejected(f"{label} is {kind}, not an image file. Name an image file.") from None
    except FileNotFoundError:
        raise ImageRejected(f"There is no file at {label}. Check the path and try again.") from None
    except PermissionError:
        raise ImageRejected(
            f"{label} cannot be read (permission denied). Check the file's permissions."
        ) from None
    except OSError as exc:
        raise ImageRejected(f"{label} cannot be read ({_detail(exc)}).") from None
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"{label} is more than {_mib(limits.max_bytes, limits.max_bytes)} ({_BYTES_VAR})."
            " Compress or resize it before uploading."
        )
    return data


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes that depend only on the pixels, so identical images get one artifact id.

    No metadata is written (no ICC profile, text, time or transparency carried over in
    `image.info`). Bytes are stable for a given Pillow/zlib build; another build may compress
    differently, which only costs a duplicate in the store.
    """
    if image.mode != "RGB":
        raise ValueError(f"encode_png takes an RGB image, got mode {image.mode!r}.")
    if image.info:
        image = image.copy()
        image.info.clear()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6, optimize=False)
    return buffer.getvalue()


def _accepted_formats() -> list[str]:
    Image.init()
    return [fmt for fmt in Image.ID if fmt not in _REFUSED_FORMATS]


def _check_pixels(size: tuple[int, int], limits: Limits, label: str) -> None:
    """Area and shape from the header: a 2000x1 strip is a few bytes but blows up any resize
    that scales its shorter side, so an extreme aspect ratio is refused like a bomb."""
    width, height = size
    pixels = width * height
    if pixels > limits.max_pixels:
        raise ImageRejected(
            f"{label} is {width}x{height} = {_mp(pixels, limits.max_pixels)}; the limit is"
            f" {_mp(limits.max_pixels, pixels)} ({_PIXELS_VAR}). Resize it before uploading."
        )
    if min(width, height) < 1:
        raise ImageRejected(f"{label} is {width}x{height}: it has no pixels.")
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise ImageRejected(
            f"{label} is {width}x{height}, {_ratio(ratio)} long side to short; the limit is"
            f" {_ratio(limits.max_aspect_ratio)} ({_ASPECT_VAR}). Crop it to a less extreme"
            " shape before uploading."
        )


def _ratio(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + ":1"


def _bomb(exc: Exception, data: bytes, limits: Limits, label: str) -> ImageRejected:
    """Pillow refused before we saw the size (its ceiling fires inside `Image.open`)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(found.group(1)) if found else None
    ceiling = Image.MAX_IMAGE_PIXELS or 0
    size = _mp(pixels, limits.max_pixels) if pixels else "too large"
    dimensions = _header_size(data)
    if pixels and dimensions and dimensions[0] * dimensions[1] == pixels:
        size = f"{dimensions[0]}x{dimensions[1]} = {size}"
    if pixels and pixels <= limits.max_pixels:  # only when the configured limit exceeds Pillow's
        return ImageRejected(
            f"{label} is {size}, above Pillow's decompression-bomb ceiling of"
            f" {_mp(ceiling, pixels)} (PIL.Image.MAX_IMAGE_PIXELS), which is lower than"
            f" {_PIXELS_VAR}. Resize it before uploading."
        )
    return ImageRejected(
        f"{label} is {size}; the limit is {_mp(limits.max_pixels, pixels or 0)} ({_PIXELS_VAR})."
        " It may be a decompression bomb; resize it before uploading."
    )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """The size in the header, read by the format's plugin without Pillow's ceiling check (which
    would refuse again); only used to word a refusal, so any failure just means no dimensions."""
    for fmt in _accepted_formats():
        factory, accept = Image.OPEN[fmt]
        try:
            matches = accept is None or accept(data[:16])
            if matches and not isinstance(matches, str):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    with factory(io.BytesIO(data), "") as header:
                        return header.size
        except Exception:
            continue
    return None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image.copy()


def _to_rgb(image: Image.Image, label: str) -> Image.Image:
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        return Image.fromarray(_sixteen_to_eight(np.asarray(image))).convert("RGB")
    if mode == "F":
        return Image.fromarray(_float_to_eight(np.asarray(image))).convert("RGB")
    try:
        if image.has_transparency_data:
            if mode == "La":  # premultiplied; Pillow converts it only to LA
                image = image.convert("LA")
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, _WHITE)
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("RGB")
    except ValueError:
        raise ImageRejected(
            f"{label} uses colour mode {mode}, which is not supported. {_CONVERT_HINT}"
        ) from None


def _sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """16-bit to 8-bit by scaling (65535 -> 255), not clipping; 32-bit data outside 0..65535 is
    stretched over its own range."""
    values = values.astype(np.int64)
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 65535:
        return _stretch(values.astype(np.float64))
    return ((values * 255 + 32767) // 65535).astype(np.uint8)


def _float_to_eight(values: np.ndarray) -> np.ndarray:
    """Float images are 0..1 or 0..255 by convention; anything else is stretched."""
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        return np.round(values * 255.0).astype(np.uint8)
    if low >= 0.0 and high <= 255.0:
        return np.round(values).astype(np.uint8)
    return _stretch(values)


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _guess(data: bytes) -> str:
    """Why Pillow did not recognise `data`, in terms a user can act on."""
    head = data[:64]
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return f"EPS/PostScript is not accepted (decoding runs Ghostscript). {_CONVERT_HINT}"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypmsf1"):
        return f"it is HEIC/HEIF, which this installation cannot decode. {_CONVERT_HINT}"
    if head.lstrip().lower().startswith((b"<svg", b"<?xml")):
        return f"it looks like SVG/XML, a drawing rather than a picture. {_CONVERT_HINT}"
    start = data[:1024]
    try:  # an incremental decoder tolerates a character cut at the end of the sample
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)
        is_text = b"\x00" not in start
    except UnicodeDecodeError:
        is_text = False
    if is_text:
        return "it looks like text, not image data. Check that you picked the right file."
    return f"the format is not recognised, or the file is damaged. {_CONVERT_HINT}"


def _detail(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _mp(pixels: int, other: int) -> str:
    return _amount(pixels, other, ((10**6, "MP"), (1, "pixels")))


def _mib(size: int, other: int) -> str:
    return _amount(size, other, ((2**20, "MiB"), (2**10, "KiB"), (1, "bytes")))


def _amount(value: int, other: int, units: tuple[tuple[int, str], ...]) -> str:
    """`value` in the largest unit it fills, exact if rounding would make it look like `other`."""
    text = _in_units(value, units)
    if text == _in_units(other, units) and value != other:
        return f"{value:,} {units[-1][1]}"
    return text


def _in_units(value: int, units: tuple[tuple[int, str], ...]) -> str:
    for scale, unit in units:
        if value >= scale and scale > 1:
            return f"{value / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{value:,} {units[-1][1]}"
