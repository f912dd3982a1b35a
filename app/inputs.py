"""Reading user input from a request: images and texts, safely, with helpful errors.

Images come as multipart (file field ``image``), as JSON ``{"image": "<base64>"}``
(a ``data:`` URL is fine), or as the raw bytes with an ``image/*`` content type.
Decoding guards against decompression bombs (the pixel count is checked from
the header before any pixel is decoded, and Pillow's own guard is an error),
truncated files and non-images. Texts come as ``{"text": ...}`` or ``{"texts": [...]}``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import warnings
from collections.abc import Mapping
from typing import Any

from flask import Request
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import ApiError

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
IMAGE_HOWTO = (
    "send multipart/form-data with a file field 'image', JSON {\"image\": \"<base64>\"}, "
    "or the image bytes with Content-Type image/jpeg, image/png or image/webp"
)
TEXT_HOWTO = 'send JSON {"text": "..."} or {"texts": ["...", "..."]}'


def read_json(request: Request) -> Any:
    """The JSON body; 415 if it is not JSON, 400 if it does not parse (saying where)."""
    if not request.is_json:
        raise ApiError(415, f"Content-Type is {request.mimetype or 'missing'}; expected application/json.")
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {err.start}); encode the JSON as UTF-8.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ApiError(400, f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}.") from None


def json_object(request: Request) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    body = read_json(request)
    if not isinstance(body, dict):
        raise ApiError(422, f"the JSON body is a {type(body).__name__}; expected an object ({{...}}).")
    return body


def image_bytes(request: Request) -> bytes:
    """The uploaded image's bytes, whichever of the three ways it came."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            # A part without a parseable name is keyed None: list only the named ones.
            fields = ", ".join(sorted(str(k) for k in set(request.files) | set(request.form) if k)) or "none"
            raise ApiError(422, f"the multipart form has no file field 'image' (fields: {fields}); {IMAGE_HOWTO}.")
        data = upload.read()
    elif request.is_json:
        body = json_object(request)
        if "image" not in body:
            raise ApiError(422, f"field 'image' is missing; {IMAGE_HOWTO}.")
        value = body["image"]
        if not isinstance(value, str):
            raise ApiError(422, f"field 'image' is a {type(value).__name__}; expected a base64 string.")
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "field 'image' is not valid base64; encode the file's bytes with base64.") from None
    elif mimetype.startswith("image/"):
        data = request.get_data()
    else:
        raise ApiError(415, f"Content-Type {mimetype or 'missing'} is not supported for images; {IMAGE_HOWTO}.")
    if not data:
        raise ApiError(422, f"the image is empty (0 bytes); {IMAGE_HOWTO}.")
    return data


def decode_image(data: bytes, max_pixels: int, min_side: int) -> Image.Image:
    """Decode ``data`` into an RGB/L/RGBA image, oriented as its EXIF says; 4xx on anything wrong."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ApiError(415, f"the upload is not an image this server reads ({', '.join(IMAGE_FORMATS)}).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ApiError(422, f"the image declares far more pixels than the {max_pixels / 1e6:g} megapixel "
                                "limit (a decompression bomb?); downscale it.") from None
        except Exception as err:  # a malformed header raises many kinds (SyntaxError, ValueError...)
            raise ApiError(422, f"the image header cannot be read ({err}); the file is corrupt.") from None
        if image.format not in IMAGE_FORMATS:
            raise ApiError(415, f"{image.format} images are not accepted; use one of {', '.join(IMAGE_FORMATS)}.")
        width, height = image.size
        if width * height > max_pixels:
            raise ApiError(
                422,
                f"the image is {width}x{height} ({width * height / 1e6:.1f} megapixels), more than the "
                f"{max_pixels / 1e6:g} megapixel limit; downscale it.",
            )
        if min(width, height) < min_side:
            raise ApiError(422, f"the image is {width}x{height}; the smallest accepted side is {min_side} pixels.")
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ApiError(422, f"the image expands past the {max_pixels / 1e6:g} megapixel limit; "
                                "downscale it.") from None
        except Exception as err:
            raise ApiError(422, f"the image is corrupt or truncated ({err}); upload the complete file.") from None
    if image.mode not in ("RGB", "L", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode or image.mode == "P" else "RGB")
    return image


def read_image(request: Request, config: Mapping[str, Any]) -> Image.Image:
    """The request's image, decoded safely under the app's limits."""
    return decode_image(image_bytes(request), int(config["MAX_IMAGE_PIXELS"]), int(config["MIN_IMAGE_SIDE"]))


def read_texts(request: Request, config: Mapping[str, Any], max_tokens: int) -> str | list[str]:
    """``{"text": str}`` -> the string; ``{"texts": [str, ...]}`` -> the list; 422 naming the field.

    ``max_tokens``: how many tokens the model reads (its manifest's ``preprocess.max_length``),
    named in the error for a text over the character limit.
    """
    body = json_object(request)
    max_chars, max_texts = int(config["MAX_TEXT_CHARS"]), int(config["MAX_TEXTS"])
    if ("text" in body) == ("texts" in body):
        raise ApiError(422, f"give exactly one of the fields 'text' or 'texts'; {TEXT_HOWTO}.")
    if "text" in body:
        return _check_text(body["text"], "text", max_chars, max_tokens)
    texts = body["texts"]
    if not isinstance(texts, list) or not texts:
        raise ApiError(422, "field 'texts' must be a non-empty array of strings.")
    if len(texts) > max_texts:
        raise ApiError(422, f"field 'texts' has {len(texts)} items; at most {max_texts} per request.")
    return [_check_text(t, f"texts[{i}]", max_chars, max_tokens) for i, t in enumerate(texts)]


def _check_text(value: Any, field: str, max_chars: int, max_tokens: int) -> str:
    if not isinstance(value, str):
        raise ApiError(422, f"field '{field}' is a {type(value).__name__}; expected a string.")
    if not value.strip():
        raise ApiError(422, f"field '{field}' is empty; send at least one word.")
    if len(value) > max_chars:
        raise ApiError(
            422,
            f"field '{field}' is {len(value):,} characters; the limit is {max_chars:,} "
            f"(the model reads only its first {max_tokens} tokens): send a shorter text or split it.",
        )
    return value
