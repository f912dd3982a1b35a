"""Write the image golden files read by pytest (tests/contract/test_golden_images.py) and vitest.

    .venv/bin/python tests/data/golden/make_image_goldens.py

- ``image_preprocessing.json``: small synthetic images (raw pixels) through
  ``contract.tasks.imaging.to_tensor`` with the preprocess block of every image model
  in models/catalog/; the expected tensors and letterboxes are what Python
  (Pillow 13) produces.
- ``image_classification.json``: logits through ``contract.tasks.image_classification.classify``.

The images are computed, not loaded, so the file is reproducible anywhere; the
pixels are stored too, so a reader never needs this script. Re-run it only when
the Python reference changes on purpose, and say why in the commit.
"""

from __future__ import annotations

import base64
import json
import tomllib
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from contract.tasks import IMAGE_TASKS
from contract.tasks.image_classification import classify
from contract.tasks.imaging import to_tensor

HERE = Path(__file__).resolve().parent

CATALOG = HERE.parents[2] / "models" / "catalog"


def catalog_preprocess() -> dict[str, dict[str, Any]]:
    """The preprocess block of every image model in the catalog, by model name."""
    blocks = {}
    for path in sorted(CATALOG.glob("*.toml")):
        recipe = tomllib.loads(path.read_text())
        if recipe["task"] in IMAGE_TASKS:
            blocks[recipe["name"]] = recipe["preprocess"]
    return blocks


def gradient(width: int, height: int) -> np.ndarray:
    """Smooth ramps in R and G, a diagonal pattern in B: exercises upscaling."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    r = np.rint(255 * x / (width - 1))
    g = np.rint(255 * y / (height - 1))
    b = (x * 7 + y * 13) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def checker_with_alpha(width: int, height: int, cell: int) -> np.ndarray:
    """A two-colour checkerboard whose alpha falls from opaque to clear down the image."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    dark = ((x // cell + y // cell) % 2).astype(bool)
    rgb = np.where(dark[..., None], [30, 60, 200], [240, 220, 10])
    alpha = np.clip(np.rint(255 * (1.0 - 1.25 * y / (height - 1))), 0, 255)
    return np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.uint8)


def texture(width: int, height: int) -> np.ndarray:
    """High-frequency integer texture: exercises the antialiasing of downscaling."""
    x, y = np.meshgrid(np.arange(width, dtype=np.int64), np.arange(height, dtype=np.int64))
    r = (x * x * 3 + y * 17 + x * y) % 256
    g = np.rint(127.5 + 127.5 * np.sin(x / 3.0) * np.cos(y / 5.0))
    b = np.where((x // 2 + y // 3) % 2 == 0, 255, 0)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def tall_stripes(width: int, height: int) -> np.ndarray:
    """A portrait of thin stripes: shrinks its height far more than its width, which
    makes Pillow (>= 13) run the vertical pass first; the pass order changes pixels."""
    x, y = np.meshgrid(np.arange(width, dtype=np.int64), np.arange(height, dtype=np.int64))
    r = np.where(y % 3 == 0, 250, 20) + 0 * x
    g = (x * 37 + y * 11) % 256
    b = ((x * 5) ^ (y * 9)) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


ALPHA_LEVELS = (0, 1, 127, 128, 254, 255)


def alpha_bands(width: int, height: int, cell: int) -> np.ndarray:
    """Diagonal bands of alpha 0, 1, 127, 128, 254 and 255 (so every resize mode keeps
    each level), over a smooth 0..255 alpha ramp in the bottom ``cell`` rows. Under
    alpha 0 hide vivid colours (red, green, blue, white, yellow, magenta by row of
    cells): composited over black they must vanish, so a port that drops alpha
    fails loudly."""
    x, y = np.meshgrid(np.arange(width, dtype=np.int64), np.arange(height, dtype=np.int64))
    band = (x // cell + y // cell) % len(ALPHA_LEVELS)
    alpha = np.asarray(ALPHA_LEVELS)[band]
    ramp = y >= height - cell
    alpha = np.where(ramp, np.rint(255 * x / (width - 1)).astype(np.int64), alpha)
    r = (x * 29 + y * 3) % 256
    g = np.where((x + y) % 2 == 0, 255, (y * 41) % 256)
    b = (x * 7 + y * 53 + 11) % 256
    rgb = np.stack([r, g, b], axis=-1)
    hidden = np.asarray(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [255, 255, 0], [255, 0, 255]]
    )[(y // cell) % 6]
    rgb = np.where((alpha == 0)[..., None], hidden, rgb)
    return np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.uint8)


IMAGES: dict[str, tuple[str, np.ndarray]] = {
    "gradient-37x23": ("RGB", gradient(37, 23)),
    "checker-rgba-29x41": ("RGBA", checker_with_alpha(29, 41, 4)),
    "texture-160x120": ("RGB", texture(160, 120)),
    "tall-stripes-40x150": ("RGB", tall_stripes(40, 150)),
    "alpha-bands-48x36": ("RGBA", alpha_bands(48, 36, 6)),
}


def encode_bytes(raw: bytes, compress: bool = False) -> str:
    return base64.b64encode(zlib.compress(raw, 9) if compress else raw).decode("ascii")


def preprocessing_golden() -> dict[str, Any]:
    images = {
        name: {
            "mode": mode,
            "width": int(pixels.shape[1]),
            "height": int(pixels.shape[0]),
            "base64": encode_bytes(pixels.tobytes()),
        }
        for name, (mode, pixels) in IMAGES.items()
    }
    cases = []
    blocks = catalog_preprocess()
    for image_name, (mode, pixels) in IMAGES.items():
        for model, spec in blocks.items():
            tensor, box = to_tensor(Image.fromarray(pixels, mode), spec)
            cases.append({
                "name": f"{image_name} {model}",
                "image": image_name,
                "model": model,
                "preprocess": spec,
                "letterbox": {
                    "source_width": box.source_width,
                    "source_height": box.source_height,
                    "scale": box.scale,
                    "pad_x": box.pad_x,
                    "pad_y": box.pad_y,
                },
                "expected": {
                    "shape": list(tensor.shape),
                    "dtype": "float32",
                    "byteorder": "little",
                    "compression": "zlib",
                    "base64": encode_bytes(tensor.astype("<f4").tobytes(), compress=True),
                },
            })
    return {
        "task": "image-preprocessing",
        "about": (
            "contract.tasks.imaging.to_tensor on synthetic images, once per preprocess block of the "
            "catalog's image models. Images: raw 8-bit pixels, row-major, 3 (RGB) or 4 (RGBA) "
            "channels, base64; RGBA is composited over black first (c * a / 255 rounded half up, "
            "as a canvas stores it). Expected tensors: little-endian float32 in C order, "
            "zlib-compressed, base64. Written by make_image_goldens.py; do not edit by hand."
        ),
        "images": images,
        "cases": cases,
    }


def classification_golden() -> dict[str, Any]:
    labels7 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    labels5 = ["a", "b", "c", "d", "e"]
    inputs: list[tuple[str, list[float], dict[str, Any]]] = [
        ("softmax confident",
         [0.2, -1.3, 0.7, 4.1, -0.5, 1.0, 0.3],
         {"activation": "softmax", "top_k": 3, "confidence_threshold": 0.4, "labels": labels7}),
        ("softmax uncertain",
         [0.2, 0.1, 0.3, 0.5, 0.0, 0.4, 0.45],
         {"activation": "softmax", "top_k": 3, "confidence_threshold": 0.4, "labels": labels7}),
        ("softmax large logits stay finite",
         [1000.0, 999.0, -1000.0, 998.5, 0.0],
         {"activation": "softmax", "top_k": 5, "confidence_threshold": 0.2, "labels": labels5}),
        ("ties keep the lower index first",
         [1.5, 3.0, 3.0, -2.0, 3.0],
         {"activation": "none", "top_k": 4, "confidence_threshold": 0.0, "labels": labels5}),
        ("softmax ties",
         [2.0, 2.0, 1.0, 2.0, 0.0],
         {"activation": "softmax", "top_k": 3, "confidence_threshold": 0.5, "labels": labels5}),
        ("sigmoid multi-label",
         [-3.0, 0.0, 2.5, -0.2, 6.0],
         {"activation": "sigmoid", "top_k": 2, "confidence_threshold": 0.9, "labels": labels5}),
        ("none passes probabilities through",
         [0.05, 0.6, 0.1, 0.2, 0.05],
         {"activation": "none", "top_k": 2, "confidence_threshold": 0.6, "labels": labels5}),
        ("top_k larger than the classes",
         [0.3, -0.3],
         {"activation": "softmax", "top_k": 5, "confidence_threshold": 0.0,
          "labels": ["no", "yes"]}),
        ("defaults: softmax, top 5, no threshold",
         [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
         {"labels": labels7}),
    ]
    cases = []
    for name, logits, post in inputs:
        row = np.asarray(logits, dtype=np.float32)
        cases.append({
            "name": name,
            "postprocess": post,
            "logits": [float(v) for v in row],
            "expected": classify(row, post),
        })
    return {
        "task": "image-classification",
        "about": (
            "contract.tasks.image_classification.classify: float32 logits of one sample -> "
            "{labels: top_k [{label, score}], uncertain}. Scores rounded to 6 decimals; ties keep "
            "the lower class index first; uncertain = top score < confidence_threshold. Written by "
            "make_image_goldens.py; do not edit by hand."
        ),
        "cases": cases,
    }


def main() -> None:
    for name, golden in (
        ("image_preprocessing.json", preprocessing_golden()),
        ("image_classification.json", classification_golden()),
    ):
        path = HERE / name
        path.write_text(json.dumps(golden, indent=1) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
