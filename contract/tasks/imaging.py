"""Image geometry shared by the image tasks: resize modes, colour, layout, normalisation.

Resize modes (``preprocess.resize``):
- ``stretch``: scale both axes to the target size (aspect ratio not kept);
- ``center-crop``: scale the short side to the target, crop the centre;
- ``letterbox``: scale the long side to the target, pad the rest with black,
  centred (keeps the aspect ratio; boxes map back through the ``Letterbox``).
Resampling is bilinear everywhere, so the browser can reproduce it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

RESIZE_MODES = ("stretch", "center-crop", "letterbox")
COLOURS = ("RGB", "L")
LAYOUTS = ("NHWC", "NCHW")


@dataclass(frozen=True)
class Letterbox:
    """Where the source image lies inside the model input, in model-input pixels."""

    source_width: int
    source_height: int
    scale: float  # model-input pixels per source pixel
    pad_x: float
    pad_y: float

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Map a point in model-input pixels back to source-image pixels."""
        return (x - self.pad_x) / self.scale, (y - self.pad_y) / self.scale


def resize(image: Image.Image, size: tuple[int, int], mode: str) -> tuple[Image.Image, Letterbox]:
    """Resize ``image`` to ``size`` = (height, width) with ``mode``; return it and its mapping."""
    height, width = size
    src_w, src_h = image.size
    if mode == "stretch":
        # Non-uniform scale: a single Letterbox cannot describe it for boxes, so
        # stretch is only offered to classification tasks.
        out = image.resize((width, height), Image.Resampling.BILINEAR)
        return out, Letterbox(src_w, src_h, width / src_w, 0.0, 0.0)
    if mode == "center-crop":
        scale = max(width / src_w, height / src_h)
        new_w, new_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
        scaled = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - width) // 2, (new_h - height) // 2
        out = scaled.crop((left, top, left + width, top + height))
        return out, Letterbox(src_w, src_h, scale, -float(left), -float(top))
    if mode == "letterbox":
        scale = min(width / src_w, height / src_h)
        new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        scaled = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
        canvas = Image.new(image.mode, (width, height))
        canvas.paste(scaled, (pad_x, pad_y))
        return canvas, Letterbox(src_w, src_h, scale, float(pad_x), float(pad_y))
    raise ValueError(f"preprocess.resize is {mode!r}; allowed: {', '.join(RESIZE_MODES)}")


def premultiply(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour * alpha / 255`` rounded half up, in Skia's exact integers (``SkMulDiv255Round``).

    ``colour`` and ``alpha`` are uint8 arrays that broadcast together; so is the result.
    """
    t = colour.astype(np.uint32) * alpha.astype(np.uint32) + 128
    return ((t + (t >> 8)) >> 8).astype(np.uint8)


def composite_on_black(image: Image.Image) -> Image.Image:
    """``image`` composited over black, as RGB, the way a browser canvas sees it.

    A canvas stores premultiplied colour: each channel times alpha, rounded half
    up (``premultiply``). ``getImageData`` un-premultiplies it and the
    TypeScript port (``toColour``) premultiplies what it gets with the same
    integers, which gives the stored products back (exactly, when the browser
    un-premultiplies to the nearest integer). So a pixel is
    ``c * a / 255`` over black, and a fully transparent one is black whatever
    colour the file hid under it. This does the same here, before any resize:
    images with transparency data (RGBA, LA, PA, a palette with alpha, or a
    ``transparency`` key on P, L or RGB) go through ``convert("RGBA")`` and
    ``premultiply``; the premultiplied modes (RGBa, La) already hold the
    products. Other images have nothing to composite and are returned as they
    are, bit for bit (a palette image as its RGB colours).
    """
    if image.mode == "RGBa":
        return Image.fromarray(np.ascontiguousarray(np.asarray(image)[:, :, :3]), "RGB")
    if image.mode == "La":
        return Image.fromarray(np.ascontiguousarray(np.asarray(image)[:, :, 0]), "L").convert("RGB")
    if not image.has_transparency_data:
        return image.convert("RGB") if image.mode == "P" else image
    rgba = np.asarray(image.convert("RGBA"))
    return Image.fromarray(premultiply(rgba[:, :, :3], rgba[:, :, 3:]), "RGB")


def to_tensor(image: Image.Image, spec: Mapping[str, Any]) -> tuple[np.ndarray, Letterbox]:
    """Turn a PIL image into a normalised float32 batch of one, as ``spec`` (manifest.preprocess) says.

    Transparency is composited over black first, before any resize
    (``composite_on_black``: the premultiplied colour a browser canvas gives
    the TypeScript port), then the colour is converted, the image resized,
    normalised and laid out.
    """
    colour = spec.get("colour", "RGB")
    if colour not in COLOURS:
        raise ValueError(f"preprocess.colour is {colour!r}; allowed: {', '.join(COLOURS)}")
    layout = spec.get("layout", "NHWC")
    if layout not in LAYOUTS:
        raise ValueError(f"preprocess.layout is {layout!r}; allowed: {', '.join(LAYOUTS)}")
    image = composite_on_black(image).convert(colour)
    resized, box = resize(image, tuple(spec["size"]), spec.get("resize", "stretch"))
    pixels = np.asarray(resized, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    mean = np.asarray(spec.get("mean", [0.0]), dtype=np.float32)
    std = np.asarray(spec.get("std", [1.0]), dtype=np.float32)
    pixels = (pixels - mean) / std
    if layout == "NCHW":
        pixels = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels[None, ...], dtype=np.float32), box
