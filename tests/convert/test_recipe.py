"""Recipe errors name the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from convert.errors import ConversionError
from convert.recipe import conversion_order, list_recipes, load_recipe

CATALOG = ["emotion", "face-detector", "imagenet", "sentiment", "text-embedder"]


def write_recipe(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def valid_recipe(**override: str) -> str:
    fields = {
        "format": "onnx",
        "task": "image-classification",
        "precisions": '["fp32", "int8"]',
        "extra": "",
    } | override
    return f"""
name = "demo"
task = "{fields['task']}"
licence = "MIT"
{fields['extra']}
[source]
format = "{fields['format']}"
[[inputs]]
name = "x"
dtype = "float32"
shape = ["batch", 3]
[[outputs]]
name = "y"
dtype = "float32"
shape = ["batch", 2]
[preprocess]
[postprocess]
[data.calibration]
dataset = "photos"
[data.evaluation]
dataset = "photos"
[variants]
precisions = {fields['precisions']}
[gates]
max_bytes = {{ fp32 = 10, int8 = 5 }}
"""


def test_the_catalog_has_the_five_models(root: Path) -> None:
    assert list_recipes(root) == CATALOG
    for name in CATALOG:
        assert load_recipe(name, root).name == name


def test_convert_all_builds_the_embedder_before_the_model_composed_on_it(root: Path) -> None:
    # On a fresh clone sentiment's browser backbone is found only if text-embedder was converted first.
    order = conversion_order(list_recipes(root), root)
    assert sorted(order) == CATALOG
    assert order.index("text-embedder") < order.index("sentiment")
    assert conversion_order(["sentiment"], root) == ["sentiment"]  # alone: its own order, nothing added


def test_recipes_naming_each_other_as_embedder_are_refused(tmp_path: Path) -> None:
    catalog = tmp_path / "models" / "catalog"
    catalog.mkdir(parents=True)
    for name, other in (("a", "b"), ("b", "a")):
        (catalog / f"{name}.toml").write_text(f'[source]\nformat = "compose"\nembedder = "{other}"\n')
    with pytest.raises(ConversionError, match="a -> b -> a"):
        conversion_order(["a", "b"], tmp_path)


def test_a_valid_recipe_loads(tmp_path: Path, root: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path, valid_recipe()), root)
    assert recipe.precisions == ["fp32", "int8"]
    assert recipe.inputs[0].shape == ["batch", 3]


def test_unknown_recipe_lists_the_known_ones(root: Path) -> None:
    with pytest.raises(ConversionError, match="unknown recipe 'nope'.*Known recipes: emotion, face-detector"):
        load_recipe("nope", root)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"format": "caffe"}, r"source.format is 'caffe'; allowed: tflite, keras, pytorch, sklearn, onnx, compose"),
        ({"task": "translation"}, r"task is 'translation'; allowed: embeddings, face-detection"),
        ({"precisions": '["fp32", "int4"]'}, r"variants.precisions\[\] is 'int4'; allowed: fp32, int8, fp16"),
        ({"precisions": '["int8"]'}, r"must include 'fp32'"),
        ({"extra": 'colour = "red"'}, r"unknown field\(s\) colour; allowed:"),
    ],
)
def test_a_bad_field_is_named_with_what_is_allowed(tmp_path: Path, root: Path, override: dict, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        load_recipe(write_recipe(tmp_path, valid_recipe(**override)), root)


def test_a_missing_size_budget_is_named(tmp_path: Path, root: Path) -> None:
    text = valid_recipe(precisions='["fp32", "int8", "fp16"]')
    with pytest.raises(ConversionError, match=r"gates.max_bytes.fp16 is missing"):
        load_recipe(write_recipe(tmp_path, text), root)


def test_broken_toml_says_fix_the_syntax(tmp_path: Path, root: Path) -> None:
    with pytest.raises(ConversionError, match="not valid TOML"):
        load_recipe(write_recipe(tmp_path, "name = "), root)


def test_assets_name_a_file_in_a_package(tmp_path: Path, root: Path) -> None:
    good = valid_recipe() + (
        '[assets."lexicon.txt"]\npackage = "vaderSentiment"\nmodule = "vaderSentiment"\nfile = "vader_lexicon.txt"\n'
    )
    assert load_recipe(write_recipe(tmp_path, good), root).assets["lexicon.txt"]["package"] == "vaderSentiment"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    missing = valid_recipe() + '[assets."lexicon.txt"]\npackage = "vaderSentiment"\n'
    with pytest.raises(ConversionError, match=r"needs package, module and file"):
        load_recipe(write_recipe(tmp_path / "a", missing), root)
    escaping = valid_recipe() + '[assets."../x.txt"]\npackage = "p"\nmodule = "m"\nfile = "f"\n'
    with pytest.raises(ConversionError, match=r"must be a plain file name"):
        load_recipe(write_recipe(tmp_path / "b", escaping), root)
