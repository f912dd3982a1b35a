"""WordPiece tokenization for the text tasks, driven by a ``tokenizer.json``.

The text models take two int64 inputs of shape ``[batch, sequence]``:
``input_ids`` and ``attention_mask`` (``token_type_ids`` is not an input; the
graph supplies zeros). A batch is truncated to ``max_length`` tokens
(``[CLS]`` and ``[SEP]`` included) and padded to its longest member, so a
single string is never padded at all.

The tokenizer itself is an asset (``preprocess.tokenizer``, a ``tokenizer.json`` in the
version folder): the caller loads it with ``contract.tasks.assets.load_assets`` and
passes it in; ``preprocess.max_length`` says how many tokens the model reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from contract.tasks.assets import NO_ASSETS, TaskAssets

MODEL_INPUTS = ("input_ids", "attention_mask")


@dataclass(frozen=True)
class TextBatch:
    """The ``context`` of the text tasks: whether one string came in, and the padding mask."""

    single: bool
    attention_mask: np.ndarray | None
    texts: tuple[str, ...] = ()  # the inputs, for a rule-based fallback that reads the words


@lru_cache(maxsize=8)
def _load(path: str, max_length: int) -> Tokenizer:
    tokenizer = Tokenizer.from_file(path)
    padding = tokenizer.padding or {}
    pad_id = padding.get("pad_id", tokenizer.token_to_id("[PAD]") or 0)
    pad_token = padding.get("pad_token", "[PAD]")
    # The file may pin a fixed length (all-MiniLM's pads to 128): override both.
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, length=None)
    return tokenizer


def load_tokenizer(path: str | Path, max_length: int) -> Tokenizer:
    """The tokenizer in ``path``, truncating to ``max_length`` and padding to the longest.

    Cached per (resolved path, max_length); callers must not reconfigure it.
    """
    if max_length < 2:
        raise ValueError(
            f"max_length must be at least 2 (room for [CLS] and [SEP]), got {max_length}"
        )
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {resolved}")
    return _load(str(resolved), int(max_length))


def max_length(preprocess: Mapping[str, Any]) -> int:
    """How many tokens the model reads (``preprocess.max_length``, [CLS] and [SEP] included)."""
    if "max_length" not in preprocess:
        raise ValueError("preprocess.max_length is missing: a text model's recipe must say how many tokens it reads")
    return int(preprocess["max_length"])


def encode(texts: Sequence[str], tokenizer: Tokenizer) -> dict[str, np.ndarray]:
    """Tokenize a batch with a ``load_tokenizer`` tokenizer -> ``{"input_ids", "attention_mask"}``,
    both int64 ``[batch, seq]``."""
    if isinstance(texts, str):
        raise TypeError("encode takes a list of strings; wrap a single string in a list")
    if not texts:
        raise ValueError("encode needs at least one text")
    encodings = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }


def as_texts(sample: str | Sequence[str]) -> tuple[list[str], bool]:
    """A string or a list of strings -> (the list, whether it was a single string)."""
    if isinstance(sample, str):
        return [sample], True
    texts = list(sample)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("text input must be a string or a non-empty list of strings")
    return texts, False


def text_feeds(texts: Sequence[str], manifest: Mapping[str, Any], tokenizer: Tokenizer) -> dict[str, np.ndarray]:
    """Encode ``texts`` into the feeds the manifest's inputs ask for, by name."""
    encoded = encode(texts, tokenizer)
    feeds = {}
    for spec in manifest["inputs"]:
        if spec["name"] not in encoded:
            raise ValueError(
                f"text model input {spec['name']!r} is not produced by the tokenizer; "
                f"allowed: {', '.join(MODEL_INPUTS)}"
            )
        feeds[spec["name"]] = encoded[spec["name"]]
    return feeds


def prepare_texts(
    sample: str | Sequence[str], manifest: Mapping[str, Any], assets: TaskAssets = NO_ASSETS
) -> tuple[dict[str, np.ndarray], TextBatch]:
    """The shared ``prepare`` of the text tasks: a string or a list of strings -> feeds, context."""
    if assets.tokenizer is None:
        raise ValueError("text tasks need the tokenizer: load the version's assets with "
                         "contract.tasks.assets.load_assets and pass them to prepare")
    texts, single = as_texts(sample)
    feeds = text_feeds(texts, manifest, assets.tokenizer)
    return feeds, TextBatch(single=single, attention_mask=feeds.get("attention_mask"), texts=tuple(texts))
