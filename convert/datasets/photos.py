"""Photos bundled with scikit-image and scikit-learn, split by photo.

Calibration and evaluation never share a photo: the photos alternate between
the two splits, and each photo adds a few crops and a mirror so that a split
holds dozens of distinct views rather than a handful of files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from convert.datasets import Sample

# Natural photos (scikit-image's data folder, scikit-learn's sample images).
PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera",
    "hubble_deep_field", "retina", "china", "flower", "coins", "clock_motion",
    "brick", "gravel", "grass", "moon", "ihc", "cell", "motorcycle_right", "page",
)
# Photos that show no human face, for the face detector's false-positive check.
# (scikit-learn's flower.jpg is left out: BlazeFace sees a face in the dahlia at 0.61.)
NO_FACE_PHOTOS = ("coffee", "rocket", "motorcycle_left", "hubble_deep_field", "china", "brick")
# The astronaut's face, in source pixels [x, y, w, h]: eyebrows to chin, ear to ear,
# drawn over the photo and checked by eye.
ASTRONAUT_FACE = (177.3, 80.6, 94.6, 94.6)


def photo(name: str) -> Image.Image:
    """One bundled photo as an RGB PIL image."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(f"{name}.jpg")).convert("RGB")
    # Read the bundled file itself: some skimage.data helpers would try a download.
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    for ext in (".png", ".jpg"):
        if (folder / f"{name}{ext}").is_file():
            with Image.open(folder / f"{name}{ext}") as image:
                return image.convert("RGB")
    raise FileNotFoundError(f"scikit-image has no bundled photo {name!r} in {folder}")


def views(image: Image.Image) -> list[tuple[str, Image.Image]]:
    """The photo, its mirror, a centre zoom and four overlapping corner crops."""
    w, h = image.size
    cw, ch = int(w * 0.7), int(h * 0.7)
    out = [("full", image), ("mirror", ImageOps.mirror(image))]
    out.append(("zoom", image.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2))))
    for tag, (x, y) in {"tl": (0, 0), "tr": (w - cw, 0), "bl": (0, h - ch), "br": (w - cw, h - ch)}.items():
        out.append((tag, image.crop((x, y, x + cw, y + ch))))
    return out


def photos(split: str) -> list[Sample]:
    """Views of every other photo: even positions calibrate, odd ones evaluate."""
    offset = 0 if split == "calibration" else 1
    return [
        Sample(id=f"{name}/{tag}", input=view, group=name)
        for name in PHOTOS[offset::2]
        for tag, view in views(photo(name))
    ]


def face_photos(split: str) -> list[Sample]:
    """Photos with a known face (ground-truth box) and photos without any face."""
    astronaut = photo("astronaut")
    samples = [
        Sample("astronaut", astronaut, "faces", {"boxes": [list(ASTRONAUT_FACE)]}),
        Sample(
            "astronaut/mirror",
            ImageOps.mirror(astronaut),
            "faces",
            {"boxes": [[astronaut.width - ASTRONAUT_FACE[0] - ASTRONAUT_FACE[2], *ASTRONAUT_FACE[1:]]]},
        ),
    ]
    samples += [Sample(name, photo(name), "no-faces", {"boxes": []}) for name in NO_FACE_PHOTOS]
    if split == "calibration":
        # Calibration wants typical activations, not ground truth: add the
        # upscaled LFW faces so the quantiser sees many faces.
        samples += lfw_faces("calibration")
    return samples


def lfw_faces(split: str) -> list[Sample]:
    """Scikit-image's LFW subset: the 100 face crops (25x25 grey), half per split."""
    import skimage.data

    faces = skimage.data.lfw_subset()[:100]
    offset = 0 if split == "calibration" else 1
    return [
        Sample(f"lfw/{i}", Image.fromarray((faces[i] * 255).astype(np.uint8)).convert("RGB"), "faces")
        for i in range(offset, len(faces), 2)
    ]
