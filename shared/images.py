"""Uploaded images, judged by their bytes with Pillow: PNG, JPEG or WebP, at most 10 MB, decodable,
of sane dimensions, and no decompression bomb."""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor

from shared.errors import ImageTooLarge, InvalidRequest, UnsupportedImageType

MAX_BYTES = 10 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 64, 4096
MAX_PIXELS = 4096 * 4096
# Decoding is what costs memory (a 4096x4096 image is 48-64 MB of pixels whatever its file size), and
# it happens before the charge, so anyone with a token can ask for it: one decode at a time per
# process, on a thread of its own. Its own thread, not just a semaphore: glibc gives each thread its
# own malloc arena and keeps what was freed there, so decodes spread over 40 request threads left 40
# arenas of pixels behind (2 GB measured by `scripts/bench --only upload-memory`; 250 MB with two
# decoder threads, 107 MB with one).
MAX_CONCURRENT_DECODES = 1
_decoder = ThreadPoolExecutor(MAX_CONCURRENT_DECODES, thread_name_prefix="image-decode")
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "WEBP": ("webp", "image/webp")}


def read_limited(stream, limit: int = MAX_BYTES) -> bytes:
    """Read at most `limit` bytes; a larger upload is refused without reading the rest."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The image is larger than {limit // (1024 * 1024)} MB.")
    return data


def inspect(data: bytes, field: str = "image") -> tuple[str, str, int, int]:
    """(file extension, content type, width, height) of a valid image; the contract's error otherwise,
    naming `field` (image, or last_image)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidRequest(errors=[{"field": field, "message": f"{field}: the file is empty"}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:  # reads the header only
                fmt, (width, height) = img.format, img.size
                _check_dimensions(width, height, field)
                if fmt == "JPEG":  # decode at 1/8 scale: every byte is still parsed, an 8th of the pixels kept
                    img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                _decoder.submit(_decode, img, data).result()  # a truncated or corrupt file fails here
        except UnidentifiedImageError:
            raise UnsupportedImageType("The image must be a PNG, JPEG or WebP file (judged by its content).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _invalid("the image has too many pixels to be decoded safely", field) from None
        except (OSError, SyntaxError, ValueError):
            raise _invalid("the image is damaged or truncated and cannot be decoded", field) from None
    return (*FORMATS[fmt], width, height)


def _decode(img, data: bytes) -> None:
    img.load()
    if img.format == "PNG" and not _png_has_every_row(data, *img.size):
        raise OSError("truncated PNG")


# Pillow's PNG decoder stops without an error when the compressed stream ends early (a valid
# 4096x4096 header and 16 rows of data decode as an image, the rest black), so the rows are counted:
# the IDAT stream inflated in bounded steps, its bytes compared with what the header says the image
# holds (PNG spec 7.2: each row is a filter byte and its packed samples; Adam7 has 7 smaller passes).
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_has_every_row(data: bytes, width: int, height: int) -> bool:
    import struct
    import zlib

    depth, color, interlace = data[24], data[25], data[28]  # IHDR, the first chunk (Pillow checked it)
    bits = _CHANNELS.get(color, 4) * depth

    def size(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = sum(size((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in passes)
    inflate, total, pos = zlib.decompressobj(), 0, 8
    while pos + 8 <= len(data) and total < expected:
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            pending = data[pos + 8:pos + 8 + length]
            while pending and total < expected:
                total += len(inflate.decompress(pending, 1 << 20))  # at most 1 MB out at a time
                pending = inflate.unconsumed_tail
        pos += 12 + length
    return total >= expected


def _check_dimensions(width: int, height: int, field: str = "image") -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise _invalid(f"the image is {width}x{height}; at most {MAX_SIDE} pixels a side", field)
    if min(width, height) < MIN_SIDE:
        raise _invalid(f"the image is {width}x{height}; at least {MIN_SIDE} pixels a side", field)


def _invalid(message: str, field: str = "image") -> InvalidRequest:
    return InvalidRequest(errors=[{"field": field, "message": f"{field}: {message}"}])
