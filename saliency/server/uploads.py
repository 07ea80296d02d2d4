"""Uploaded photos -> RGB arrays, refusing what would exhaust the server before paying for it.

Every refusal is an `UploadRejected` with an HTTP status and one line a person can act on:
413 for a body or an image over the limits (the pixel count is read from the file's header, so a
decompression bomb is refused without being decoded), 400 for an empty body or a truncated or
corrupt image, 415 for bytes that are no image at all. Nothing is written to disk: multipart
bodies are parsed in memory, once their size is known to be within the limit.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import re
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Limits:
    """What one request may cost: the body's bytes and the photo's pixels (width x height)."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000


class UploadRejected(Exception):
    """An upload the server will not process; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, **details: object) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


def check_declared_length(content_length: str | None, limits: Limits) -> None:
    """Refuse a body whose declared length is over the limit before reading any of it."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limits.max_bytes:
        raise too_large(int(content_length), limits)


def too_large(size: int, limits: Limits) -> UploadRejected:
    return UploadRejected(
        413,
        f"upload of {size:,} bytes is over the server's limit of {limits.max_bytes:,} bytes; send a smaller file "
        "or start the server with a larger --max-upload-mb",
        limit_bytes=limits.max_bytes,
    )


async def read_limited(chunks: AsyncIterator[bytes], limits: Limits) -> bytes:
    """The whole body, stopping as soon as it passes the limit (a chunked upload declares no length)."""
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limits.max_bytes:
            raise too_large(size, limits)
        parts.append(chunk)
    return b"".join(parts)


def photo_bytes(body: bytes, content_type: str | None) -> bytes:
    """The photo inside a request body: the part named "file" (or the first file part) of a
    multipart form, else the raw body itself."""
    if not body:
        raise UploadRejected(400, "empty request: send a photo as the body or as the form field 'file'")
    if not (content_type or "").lower().startswith("multipart/form-data"):
        return body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise UploadRejected(400, "malformed multipart form: send the photo as the form field 'file'")
    parts = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") is not None]
    chosen = next((p for p in parts if p.get_param("name", header="content-disposition") == "file"), None)
    chosen = chosen or next((p for p in parts if p.get_filename()), None)
    if chosen is None:
        raise UploadRejected(400, "the form has no file: send the photo as the form field 'file'")
    data = chosen.get_payload(decode=True) or b""
    if not data:
        raise UploadRejected(400, "the form's file is empty: choose a photo")
    return data


def decode_photo(data: bytes, limits: Limits) -> np.ndarray:
    """Image bytes -> uint8 RGB [H, W, 3], EXIF orientation applied (as `predict` reads files).
    The size is checked from the header before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    from saliency.images import pil_to_rgb

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides, below
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # PIL's own ceiling, far above ours, met while reading the header
        declared = re.search(r"\((\d+) pixels\)", str(e))
        raise pixels_over(int(declared.group(1)) if declared else None, limits) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise UploadRejected(415, "not an image this server can read: send a JPEG, PNG, WebP, BMP or TIFF photo") from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise pixels_over(width * height, limits, f"{width:,} x {height:,} pixels")
    if width < 1 or height < 1:
        raise UploadRejected(400, f"the image is {width} x {height} pixels: nothing to predict")
    try:
        image.load()
        return pil_to_rgb(image)
    except (OSError, ValueError, SyntaxError) as e:
        raise UploadRejected(400, f"the image is truncated or corrupt ({e}); send the whole file") from None


def pixels_over(pixels: int | None, limits: Limits, stated: str | None = None) -> UploadRejected:
    stated = stated or (f"{pixels:,} pixels" if pixels else "far more pixels than any photo")
    return UploadRejected(
        413,
        f"the image declares {stated}, over the server's limit of {limits.max_pixels:,} pixels; "
        "send a smaller image or start the server with a larger --max-megapixels",
        limit_pixels=limits.max_pixels,
    )
