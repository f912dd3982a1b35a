"""Face detection: MediaPipe BlazeFace (short range) decoding, weighted NMS, letterbox removal.

One image in, ``{"faces": [{"box": [x, y, w, h], "score": s, "keypoints": [[x, y], ...]}]}``
out, in SOURCE image pixels, best score first. This mirrors MediaPipe's
``face_detection_short_range_common.pbtxt`` graph:
``SsdAnchorsCalculator`` -> ``TensorsToDetectionsCalculator`` ->
``NonMaxSuppressionCalculator`` (algorithm WEIGHTED, overlap type
INTERSECTION_OVER_UNION) -> ``DetectionLetterboxRemovalCalculator``.

Preprocess (``manifest["preprocess"]``), as MediaPipe's ImageToTensorCalculator
does for this model (keep_aspect_ratio, zero border, range [-1, 1])::

    {"size": [128, 128], "resize": "letterbox", "colour": "RGB", "layout": "NHWC",
     "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5]}

``resize`` may be "letterbox" (the MediaPipe way) or "center-crop"; "stretch"
is refused because one uniform scale could not map boxes back.

Postprocess (``manifest["postprocess"]``); every key is optional and defaults
to the short-range value shown::

    {
      "anchors": {                      # SsdAnchorsCalculatorOptions
        "num_layers": 4,
        "strides": [8, 16, 16, 16],
        "input_size_height": 128,
        "input_size_width": 128,
        "anchor_offset_x": 0.5,
        "anchor_offset_y": 0.5,
        "min_scale": 0.1484375,
        "max_scale": 0.75,
        "aspect_ratios": [1.0],
        "interpolated_scale_aspect_ratio": 1.0,
        "reduce_boxes_in_lowest_layer": false,
        "fixed_anchor_size": true
      },
      "box_scale": 128,                 # x_scale = y_scale = w_scale = h_scale
      "score_clipping": 100,            # raw logits clipped to [-c, c] before the sigmoid
      "score_threshold": 0.5,           # keep detections with score >= threshold
      "min_suppression_threshold": 0.3, # IoU above which boxes are merged
      "num_keypoints": 6
    }

Raw outputs (one batch): ``regressors`` of shape (1, N, 4 + 2 * num_keypoints)
holding, per anchor, ``[dx, dy, w, h, kx0, ky0, kx1, ky1, ...]`` in model-input
pixels ("reverse_output_order": x before y), and ``classificators`` of shape
(1, N, 1) holding one raw face logit. ``finish`` finds them by the names
``regressors`` / ``classificators`` in ``manifest["outputs"]`` (the names
tf2onnx keeps from the TFLite file) and, failing that, by shape: the output
whose last axis has length 1 is ``classificators``, the other ``regressors``.

Decoding (``fixed_anchor_size`` makes every anchor's w = h = 1)::

    x_center = dx / box_scale * anchor.w + anchor.x_center        (relative to the input)
    w        = raw_w / box_scale * anchor.w
    keypoint = k / box_scale * anchor.w|h + anchor.x|y_center
    score    = sigmoid(clip(logit, -score_clipping, score_clipping))

Detections with a score below ``score_threshold``, or a negative / NaN width
or height, are dropped before NMS. Box coordinates are not clipped to the
image (MediaPipe does not clip either). The keypoints are, in order: right eye,
left eye, nose tip, mouth centre, right ear tragion, left ear tragion (the
subject's right/left, MediaPipe's FaceKeypoint order).

All arithmetic is float64 (the browser port computes in JS numbers too);
boxes and keypoints are rounded to 2 decimals, scores to 6.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from contract.tasks.assets import NO_ASSETS, TaskAssets
from contract.tasks.imaging import Letterbox, to_tensor

# Every setting (anchors, scales, thresholds) comes from the manifest's postprocess, written
# from the recipe (models/catalog/face-detector.toml: MediaPipe's short-range values):
# the code states none of them again. ``setting`` says which one is missing.
ANCHOR_KEYS = (
    "num_layers", "strides", "input_size_height", "input_size_width", "anchor_offset_x", "anchor_offset_y",
    "min_scale", "max_scale", "aspect_ratios", "interpolated_scale_aspect_ratio",
    "reduce_boxes_in_lowest_layer", "fixed_anchor_size",
)


def setting(block: Mapping[str, Any], key: str, where: str = "postprocess") -> Any:
    """``block[key]``, or a ValueError naming the missing recipe setting."""
    if key not in block:
        raise ValueError(f"{where}.{key} is missing: a face-detection recipe must set it "
                         "(see models/catalog/face-detector.toml)")
    return block[key]


# --------------------------------------------------------------------------- anchors


def _layer_scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    """MediaPipe's CalculateScale: linear from min_scale to max_scale over the strides."""
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


@functools.lru_cache(maxsize=16)
def _anchors_cached(key: str) -> np.ndarray:
    opts = json.loads(key)
    for name in ANCHOR_KEYS:
        setting(opts, name, "postprocess.anchors")
    strides = [int(s) for s in opts["strides"]]
    num_layers = int(opts["num_layers"])
    if len(strides) != num_layers:
        raise ValueError(f"anchors.strides has {len(strides)} entries, num_layers is {num_layers}")
    fm_heights = opts.get("feature_map_height") or []
    fm_widths = opts.get("feature_map_width") or []
    min_scale, max_scale = float(opts["min_scale"]), float(opts["max_scale"])
    interpolated = float(opts["interpolated_scale_aspect_ratio"])
    anchors: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < num_layers:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        # Consecutive layers with the same stride share one feature map.
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _layer_scale(min_scale, max_scale, last, len(strides))
            if last == 0 and opts["reduce_boxes_in_lowest_layer"]:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ratio in opts["aspect_ratios"]:
                    ratios.append(float(ratio))
                    scales.append(scale)
                if interpolated > 0.0:
                    following = (
                        1.0 if last == len(strides) - 1
                        else _layer_scale(min_scale, max_scale, last + 1, len(strides))
                    )
                    scales.append(math.sqrt(scale * following))
                    ratios.append(interpolated)
            last += 1
        sizes = [(s * math.sqrt(r), s / math.sqrt(r)) for s, r in zip(scales, ratios)]  # (w, h)
        if fm_heights:
            fm_h, fm_w = int(fm_heights[layer]), int(fm_widths[layer])
        else:
            fm_h = math.ceil(int(opts["input_size_height"]) / strides[layer])
            fm_w = math.ceil(int(opts["input_size_width"]) / strides[layer])
        for y in range(fm_h):
            y_center = (y + float(opts["anchor_offset_y"])) / fm_h
            for x in range(fm_w):
                x_center = (x + float(opts["anchor_offset_x"])) / fm_w
                for w, h in sizes:
                    if opts["fixed_anchor_size"]:
                        w, h = 1.0, 1.0
                    anchors.append((x_center, y_center, w, h))
        layer = last
    out = np.asarray(anchors, dtype=np.float64).reshape(-1, 4)
    out.setflags(write=False)  # shared through the cache
    return out


def generate_anchors(options: Mapping[str, Any]) -> np.ndarray:
    """SSD anchors as MediaPipe's SsdAnchorsCalculator builds them.

    ``options`` are SsdAnchorsCalculatorOptions (see the module docstring;
    every key of ``ANCHOR_KEYS`` is required; ``feature_map_height`` /
    ``feature_map_width`` lists may replace the stride-derived map sizes).
    Returns a read-only float64 array of shape (N, 4), rows
    ``[x_center, y_center, w, h]`` relative to the model input; N is 896 for
    the short-range model. Cached per distinct options.
    """
    return _anchors_cached(json.dumps(dict(options), sort_keys=True))


# --------------------------------------------------------------------------- decoding


def decode(
    regressors: np.ndarray,
    classificators: np.ndarray,
    anchors: np.ndarray,
    post: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs -> (detections, scores) above the score threshold, in anchor order.

    ``detections`` has shape (M, 2 + K, 2): row 0 is ``[xmin, ymin]``, row 1
    ``[xmax, ymax]``, rows 2.. the K keypoints ``[x, y]``, all relative to the
    model input (0..1 inside it). ``scores`` has shape (M,).
    """
    num_keypoints = int(setting(post, "num_keypoints"))
    scale = float(setting(post, "box_scale"))
    clip = float(setting(post, "score_clipping"))
    threshold = float(setting(post, "score_threshold"))
    raw = np.asarray(regressors, dtype=np.float64)
    raw = raw.reshape(-1, raw.shape[-1])
    logits = np.asarray(classificators, dtype=np.float64).reshape(-1)
    if raw.shape[0] != anchors.shape[0] or logits.shape[0] != anchors.shape[0]:
        raise ValueError(
            f"{raw.shape[0]} boxes and {logits.shape[0]} scores for {anchors.shape[0]} anchors"
        )
    if raw.shape[1] < 4 + 2 * num_keypoints:
        raise ValueError(
            f"regressors have {raw.shape[1]} values per box; need {4 + 2 * num_keypoints}"
        )
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -clip, clip)))
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    x_center = raw[:, 0] / scale * aw + ax
    y_center = raw[:, 1] / scale * ah + ay
    w = raw[:, 2] / scale * aw
    h = raw[:, 3] / scale * ah
    out = np.empty((raw.shape[0], 2 + num_keypoints, 2), dtype=np.float64)
    out[:, 0, 0], out[:, 0, 1] = x_center - w / 2, y_center - h / 2
    out[:, 1, 0], out[:, 1, 1] = x_center + w / 2, y_center + h / 2
    for k in range(num_keypoints):
        out[:, 2 + k, 0] = raw[:, 4 + 2 * k] / scale * aw + ax
        out[:, 2 + k, 1] = raw[:, 5 + 2 * k] / scale * ah + ay
    # MediaPipe: skip score < threshold, and boxes with negative or NaN size.
    keep = (scores >= threshold) & (w >= 0) & (h >= 0)  # NaN compares False
    return out[keep], scores[keep]


# --------------------------------------------------------------------------- NMS


def overlap_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``[[xmin, ymin], [xmax, ymax], ...]`` detections (0 when disjoint)."""
    ix = min(a[1, 0], b[1, 0]) - max(a[0, 0], b[0, 0])
    iy = min(a[1, 1], b[1, 1]) - max(a[0, 1], b[0, 1])
    if ix < 0 or iy < 0:
        return 0.0
    intersection = ix * iy
    area_a = (a[1, 0] - a[0, 0]) * (a[1, 1] - a[0, 1])
    area_b = (b[1, 0] - b[0, 0]) * (b[1, 1] - b[0, 1])
    union = area_a + area_b - intersection
    return float(intersection / union) if union > 0 else 0.0


def weighted_nms(
    detections: np.ndarray, scores: np.ndarray, min_suppression_threshold: float
) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's WeightedNonMaxSuppression (overlap type INTERSECTION_OVER_UNION).

    Repeatedly takes the best remaining detection; every remaining detection
    (itself included) whose IoU with it exceeds ``min_suppression_threshold``
    becomes a candidate, and the output is the score-weighted mean of the
    candidates' corners and keypoints, carrying the best detection's score.
    Candidates leave the pool; the loop stops when the pool is empty or an
    iteration removes nothing. Ties in score keep anchor order (stable sort).
    Returns ``[(detection (2 + K, 2), score), ...]`` in the order produced.
    """
    order = [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")]
    outputs: list[tuple[np.ndarray, float]] = []
    while order:
        top = detections[order[0]]
        candidates: list[int] = []
        remaining: list[int] = []
        for index in order:
            if overlap_similarity(detections[index], top) > min_suppression_threshold:
                candidates.append(index)
            else:
                remaining.append(index)
        merged = top
        if candidates:
            weights = np.asarray([scores[i] for i in candidates], dtype=np.float64)
            merged = np.tensordot(weights, detections[candidates], axes=1) / weights.sum()
        outputs.append((merged, float(scores[order[0]])))
        if len(remaining) == len(order):
            break
        order = remaining
    return outputs


# --------------------------------------------------------------------------- task contract


def _split_outputs(
    outputs: Sequence[np.ndarray], manifest: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Pick (regressors, classificators): by manifest output name, else by shape."""
    names = [str(o.get("name", "")) for o in manifest.get("outputs", [])]
    if len(names) == len(outputs) and {"regressors", "classificators"} <= set(names):
        return (np.asarray(outputs[names.index("regressors")]),
                np.asarray(outputs[names.index("classificators")]))
    arrays = [np.asarray(o) for o in outputs]
    scores = [a for a in arrays if a.shape[-1] == 1]
    boxes = [a for a in arrays if a.shape[-1] > 1]
    if len(scores) != 1 or len(boxes) != 1:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ValueError(f"cannot tell regressors from classificators among outputs {shapes}")
    return boxes[0], scores[0]


def detect(
    regressors: np.ndarray,
    classificators: np.ndarray,
    letterbox: Letterbox,
    input_size: Sequence[int],
    post: Mapping[str, Any],
) -> dict[str, Any]:
    """Raw outputs of one image -> ``{"faces": [...]}`` in source pixels, best first.

    ``input_size`` is the model input (height, width) in pixels; ``letterbox``
    maps model-input pixels back to the source image.
    """
    anchors = generate_anchors(setting(post, "anchors"))
    detections, scores = decode(regressors, classificators, anchors, post)
    merged = weighted_nms(detections, scores, float(setting(post, "min_suppression_threshold")))
    in_h, in_w = float(input_size[0]), float(input_size[1])
    faces: list[dict[str, Any]] = []
    for points, score in merged:
        src = [letterbox.to_source(float(x) * in_w, float(y) * in_h) for x, y in points]
        (x0, y0), (x1, y1) = src[0], src[1]
        faces.append({
            "box": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": round(score, 6),
            "keypoints": [[round(x, 2), round(y, 2)] for x, y in src[2:]],
        })
    faces.sort(key=lambda f: -f["score"])  # stable: NMS order breaks ties
    return {"faces": faces}


def prepare(
    image: Image.Image, manifest: Mapping[str, Any], assets: TaskAssets = NO_ASSETS
) -> tuple[dict[str, np.ndarray], Letterbox]:
    """Letterbox ``image`` into the model's single input; the context maps boxes back."""
    spec = manifest["preprocess"]
    if spec.get("resize", "stretch") == "stretch":
        raise ValueError(
            "face-detection needs preprocess.resize 'letterbox' (or 'center-crop'), not 'stretch'"
        )
    tensor, box = to_tensor(image, spec)
    return {manifest["inputs"][0]["name"]: tensor}, box


def finish(
    outputs: Sequence[np.ndarray], context: Letterbox, manifest: Mapping[str, Any],
    assets: TaskAssets = NO_ASSETS,
) -> dict[str, Any]:
    """Model outputs (manifest order) + the letterbox from ``prepare`` -> the task result."""
    regressors, classificators = _split_outputs(outputs, manifest)
    size = manifest["preprocess"]["size"]
    return detect(regressors, classificators, context, size, manifest["postprocess"])
