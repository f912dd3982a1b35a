"""The drift reference of a new version: the manifest's ``drift`` object.

Built from the evaluation data (the inputs, through ``lifecycle.drift``'s feature
extraction) and the *source model's* results on it (its outputs through the task's own
``finish``, as every runtime computes results), with the thresholds of the recipe's
``[drift]`` table. The host later bins live traffic with the same bins and reports PSI
against these proportions (``app/drift.py``, ``browserml drift``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from contract.tasks import task_module
from contract.tasks.assets import load_assets
from convert.evaluate import Prepared
from convert.recipe import Recipe
from lifecycle import drift


def reference(recipe: Recipe, evaluation: list[Prepared], outputs: list[list[np.ndarray]],
              base: dict[str, Any], work: Path) -> dict[str, Any]:
    """``drift`` for the manifest: per feature its bins and the evaluation data's share in each.

    ``base`` is the manifest's contract part; the results are computed as a host computes them,
    with the recipe's ``fallback`` (the lexicon of text classification, from ``work``) applied.
    """
    module = task_module(recipe.task)
    manifest = {**base, "fallback": dict(recipe.fallback)}
    assets = load_assets(manifest, work)
    inputs: drift.Observations = {}
    results: drift.Observations = {}
    for prepared, output in zip(evaluation, outputs):
        tokenizer = prepared.assets.tokenizer
        drift.merge_into(inputs, drift.observe_input(recipe.task, prepared.sample.input, tokenizer))
        result = module.finish(output, prepared.context, manifest, assets)
        drift.merge_into(results, drift.observe_result(recipe.task, result))
    labels = manifest.get("postprocess", {}).get("labels") or []
    return drift.build_reference(recipe.task, inputs, results, labels,
                                 recipe.drift["psi_warn"], recipe.drift["psi_alert"])
