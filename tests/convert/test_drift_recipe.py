"""A recipe's ``[drift]`` table: the PSI thresholds, checked field by field, with defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_recipe import valid_recipe, write_recipe

from convert.errors import ConversionError
from convert.recipe import DRIFT_DEFAULTS, load_recipe


def test_defaults_without_a_drift_table(tmp_path: Path, root: Path) -> None:
    assert DRIFT_DEFAULTS == {"psi_warn": 0.1, "psi_alert": 0.25}
    assert load_recipe(write_recipe(tmp_path, valid_recipe()), root).drift == DRIFT_DEFAULTS


def test_the_table_sets_the_thresholds(tmp_path: Path, root: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path, valid_recipe(extra="[drift]\npsi_warn = 0.2\npsi_alert = 0.5\n")), root)
    assert recipe.drift == {"psi_warn": 0.2, "psi_alert": 0.5}


@pytest.mark.parametrize(("table", "message"), [
    ("psi_warn = 0.3\npsi_alert = 0.2", r"psi_warn \(0.3\) must be below psi_alert \(0.2\)"),
    ("psi_warn = -1", r"drift.psi_warn is -1; expected a number above 0"),
    ('psi_alert = "high"', r"drift.psi_alert is 'high'; expected a number"),
    ("psi_warm = 0.1", r"unknown field\(s\) psi_warm; allowed: psi_warn, psi_alert"),
])
def test_bad_tables_name_the_field(tmp_path: Path, root: Path, table: str, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        load_recipe(write_recipe(tmp_path, valid_recipe(extra=f"[drift]\n{table}\n")), root)


def test_the_catalog_sets_the_conventional_thresholds(root: Path) -> None:
    for name in ("emotion", "face-detector", "imagenet", "sentiment", "text-embedder"):
        assert load_recipe(name, root).drift == {"psi_warn": 0.1, "psi_alert": 0.25}
