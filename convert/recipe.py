"""Recipes: models/catalog/<name>.toml, parsed and checked field by field.

A recipe says where a model comes from (a registry package and the file inside
it), what task it serves, how inputs are pre- and post-processed, which data
calibrates and evaluates it, and which gates each variant must pass. Every
error names the field and what is allowed.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.tasks import TASKS
from convert.errors import ConversionError

SOURCE_FORMATS = ("tflite", "keras", "pytorch", "sklearn", "onnx", "compose")
PRECISIONS = ("fp32", "int8", "fp16")
INT8_METHODS = ("static-qdq", "dynamic")
TOP_LEVEL = {
    "name", "task", "description", "licence", "source", "inputs", "outputs", "preprocess",
    "postprocess", "labels", "data", "variants", "gates", "client", "fallback", "assets", "retrain",
    "drift", "tfjs",
}
# PSI thresholds of the drift monitor when a recipe has no [drift] table (lifecycle/drift.py):
# the conventional ones, under 0.1 no shift, 0.25 and over a major one.
DRIFT_DEFAULTS = {"psi_warn": 0.1, "psi_alert": 0.25}
# ``[retrain]`` (``browserml retrain``): the recipe's trainer takes consented feedback as extra examples.
RETRAIN_KEYS = {"feedback_weight", "compare_domains"}
# ``[tfjs]``: TF.js graph models of a Keras or TFLite source (convert/tfjs.py), by stored weight precision.
TFJS_SOURCES = ("keras", "tflite")
TFJS_WEIGHTS = ("fp32", "fp16", "uint8")


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: dims are ints or names of dynamic axes."""

    name: str
    dtype: str
    shape: list[int | str]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Recipe:
    """A parsed, checked recipe. ``raw`` keeps the TOML tables for the manifest."""

    name: str
    task: str
    path: Path
    sha256: str
    licence: str
    description: str
    source: dict[str, Any]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocess: dict[str, Any]
    postprocess: dict[str, Any]
    labels: dict[str, Any]
    data: dict[str, Any]
    precisions: list[str]
    int8_method: str
    gates: dict[str, Any]
    client: dict[str, Any]
    fallback: dict[str, Any]
    # Extra files shipped beside the variants, by file name: {package, module, file}.
    assets: dict[str, dict[str, str]] = field(default_factory=dict)
    # ``[retrain]``: empty when the model cannot be retrained from feedback (see ``_retrain``).
    retrain: dict[str, Any] = field(default_factory=dict)
    # PSI thresholds of the drift monitor: {"psi_warn", "psi_alert"} ([drift], else DRIFT_DEFAULTS).
    drift: dict[str, float] = field(default_factory=lambda: dict(DRIFT_DEFAULTS))
    # ``[tfjs]``: {"weights": [...], "max_bytes": {weights: bytes}}; empty: no TF.js variants.
    tfjs: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _assets(raw: dict[str, Any], where: str) -> dict[str, dict[str, str]]:
    """``[assets."<file>"]`` tables: each names a file inside an installed package."""
    assets = raw.get("assets", {})
    if not isinstance(assets, dict):
        raise ConversionError(f"{where}: [assets] must be a table of file names")
    for name, spec in assets.items():
        if "/" in name or name.startswith("."):
            raise ConversionError(f"{where}: asset name {name!r} must be a plain file name")
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) for k in ("package", "module", "file")):
            raise ConversionError(f"{where}: [assets.{name!r}] needs package, module and file (strings)")
    return assets


def _retrain(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """``[retrain]``: only a composed model with a trained head (``source.trainer``) can be retrained.

    ``feedback_weight`` (number > 0, default 1): how much one feedback example counts against one
    training snippet; ``compare_domains`` (non-empty list of strings): the held-out domains on which
    the new version is compared with the one before it.
    """
    if "retrain" not in raw:
        return {}
    table = raw["retrain"]
    if not isinstance(table, dict):
        raise ConversionError(f"{where}: [retrain] must be a table (feedback_weight, compare_domains)")
    unknown = sorted(set(table) - RETRAIN_KEYS)
    if unknown:
        raise ConversionError(f"{where}.retrain: unknown field(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(RETRAIN_KEYS))}.")
    if raw.get("source", {}).get("format") != "compose" or "trainer" not in raw.get("source", {}):
        raise ConversionError(f"{where}: [retrain] needs a trained head: source.format = \"compose\" "
                              "with source.trainer.")
    weight = table.get("feedback_weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
        raise ConversionError(f"{where}.retrain.feedback_weight is {weight!r}; expected a number > 0.")
    domains = _need(table, "compare_domains", list, f"{where}.retrain")
    if not domains or not all(isinstance(d, str) and d for d in domains):
        raise ConversionError(f"{where}.retrain.compare_domains is {domains!r}; expected a non-empty list of names.")
    return {"feedback_weight": float(weight), "compare_domains": list(domains)}


def _tfjs(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """``[tfjs]``: ``weights`` (a non-empty list of fp32, fp16, uint8: how the graph model stores its
    weights) and ``max_bytes`` (model.json + shards, per weights). Only Keras and TFLite sources."""
    if "tfjs" not in raw:
        return {}
    table = raw["tfjs"]
    if not isinstance(table, dict):
        raise ConversionError(f"{where}: [tfjs] must be a table (weights, max_bytes)")
    unknown = sorted(set(table) - {"weights", "max_bytes"})
    if unknown:
        raise ConversionError(f"{where}.tfjs: unknown field(s) {', '.join(unknown)}; allowed: max_bytes, weights.")
    fmt = raw.get("source", {}).get("format")
    if fmt not in TFJS_SOURCES:
        raise ConversionError(f"{where}: [tfjs] needs a {' or '.join(TFJS_SOURCES)} source (source.format is "
                              f"{fmt!r}); TF.js variants are exported from TensorFlow models only.")
    weights = _need(table, "weights", list, f"{where}.tfjs")
    if not weights or len(set(weights)) != len(weights):
        raise ConversionError(f"{where}.tfjs.weights is {weights!r}; expected distinct values of "
                              f"{', '.join(TFJS_WEIGHTS)}.")
    for w in weights:
        _choice(w, TFJS_WEIGHTS, f"{where}.tfjs.weights[]")
    max_bytes = _need(table, "max_bytes", dict, f"{where}.tfjs")
    for w in weights:
        _need(max_bytes, w, int, f"{where}.tfjs.max_bytes")
    return {"weights": list(weights), "max_bytes": {w: int(max_bytes[w]) for w in weights}}


def _drift(raw: dict[str, Any], where: str) -> dict[str, float]:
    """``[drift]``: ``psi_warn`` and ``psi_alert``, positive numbers with warn < alert."""
    table = raw.get("drift", {})
    if not isinstance(table, dict):
        raise ConversionError(f"{where}: [drift] must be a table with psi_warn and psi_alert.")
    unknown = sorted(set(table) - set(DRIFT_DEFAULTS))
    if unknown:
        raise ConversionError(f"{where}.drift: unknown field(s) {', '.join(unknown)}; allowed: psi_warn, psi_alert.")
    out = dict(DRIFT_DEFAULTS)
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 10:
            raise ConversionError(f"{where}.drift.{key} is {value!r}; expected a number above 0 (0.1 / 0.25 are "
                                  "the conventional warn / alert levels of PSI).")
        out[key] = float(value)
    if out["psi_warn"] >= out["psi_alert"]:
        raise ConversionError(f"{where}.drift: psi_warn ({out['psi_warn']}) must be below psi_alert "
                              f"({out['psi_alert']}).")
    return out


def catalog_dir(root: Path) -> Path:
    return root / "models" / "catalog"


def list_recipes(root: Path) -> list[str]:
    """Names of every recipe in the catalog, sorted."""
    return sorted(p.stem for p in catalog_dir(root).glob("*.toml"))


def conversion_order(names: list[str], root: Path) -> list[str]:
    """``names`` with every recipe after the one its ``source.embedder`` names (when that one is in
    ``names`` too): a composed model looks up the embedder's converted version for its browser
    backbone (convert/backbone.py), so on a fresh clone the embedder must be converted first.
    Otherwise the order given is kept."""
    wanted = set(names)
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in path:
            raise ConversionError(f"recipes name each other as embedder: {' -> '.join([*path, name])}")
        file = catalog_dir(root) / f"{name}.toml"
        if file.is_file():
            first = tomllib.loads(file.read_text()).get("source", {}).get("embedder")
            if isinstance(first, str) and first in wanted:
                visit(first, (*path, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered


def load_recipe(name_or_path: str | Path, root: Path) -> Recipe:
    """Load a catalog recipe by name (or a path to a .toml file) and check every field."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = catalog_dir(root) / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(list_recipes(root)) or "none"
        raise ConversionError(
            f"unknown recipe {str(name_or_path)!r}: no file {path}. Known recipes: {known}. "
            "Add models/catalog/<name>.toml to define a new one."
        )
    data = path.read_bytes()
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConversionError(f"{path}: not valid TOML ({err}); fix the syntax.") from None
    return _check(raw, path, hashlib.sha256(data).hexdigest())


def _need(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ConversionError(f"{where}.{key} is missing; it is required.")
    value = table[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConversionError(f"{where}.{key} is {value!r}; expected a {names}.")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise ConversionError(f"{where} is {value!r}; allowed: {', '.join(allowed)}.")
    return str(value)


def _tensors(raw: dict[str, Any], key: str, where: str) -> list[TensorSpec]:
    specs = []
    for i, item in enumerate(_need(raw, key, list, where)):
        at = f"{where}.{key}[{i}]"
        shape = _need(item, "shape", list, at)
        if not all(isinstance(d, (int, str)) for d in shape):
            raise ConversionError(f"{at}.shape is {shape!r}; use ints and names of dynamic axes.")
        dtype = _choice(_need(item, "dtype", str, at), ("float32", "int64", "int32", "uint8"), f"{at}.dtype")
        specs.append(TensorSpec(_need(item, "name", str, at), dtype, shape))
    return specs


def _check(raw: dict[str, Any], path: Path, digest: str) -> Recipe:
    where = path.name
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise ConversionError(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TOP_LEVEL))}."
        )
    name = _need(raw, "name", str, where)
    if name != path.stem:
        raise ConversionError(f"{where}: name is {name!r} but the file is {path.name}; make them equal.")
    task = _choice(_need(raw, "task", str, where), tuple(sorted(TASKS)), f"{where}.task")
    source = _need(raw, "source", dict, where)
    _choice(_need(source, "format", str, f"{where}.source"), SOURCE_FORMATS, f"{where}.source.format")
    variants = raw.get("variants", {})
    precisions = variants.get("precisions", list(PRECISIONS))
    for p in precisions:
        _choice(p, PRECISIONS, f"{where}.variants.precisions[]")
    if "fp32" not in precisions:
        raise ConversionError(f"{where}.variants.precisions must include 'fp32' (the reference variant).")
    int8_method = _choice(variants.get("int8", "static-qdq"), INT8_METHODS, f"{where}.variants.int8")
    gates = _need(raw, "gates", dict, where)
    max_bytes = _need(gates, "max_bytes", dict, f"{where}.gates")
    for p in precisions:
        _need(max_bytes, p, int, f"{where}.gates.max_bytes")
    for key in ("min", "max"):
        for metric, bound in gates.get(key, {}).items():
            if not isinstance(bound, (int, float)):
                raise ConversionError(f"{where}.gates.{key}.{metric} is {bound!r}; expected a number.")
    data = _need(raw, "data", dict, where)
    for split in ("calibration", "evaluation"):
        table = _need(data, split, dict, f"{where}.data")
        _need(table, "dataset", str, f"{where}.data.{split}")
    return Recipe(
        name=name,
        task=task,
        path=path,
        sha256=digest,
        licence=_need(raw, "licence", str, where),
        description=raw.get("description", ""),
        source=source,
        inputs=_tensors(raw, "inputs", where),
        outputs=_tensors(raw, "outputs", where),
        preprocess=_need(raw, "preprocess", dict, where),
        postprocess=_need(raw, "postprocess", dict, where),
        labels=raw.get("labels", {}),
        data=data,
        precisions=list(precisions),
        int8_method=int8_method,
        gates=gates,
        client=raw.get("client", {}),
        fallback=raw.get("fallback", {}),
        assets=_assets(raw, where),
        retrain=_retrain(raw, where),
        drift=_drift(raw, where),
        tfjs=_tfjs(raw, where),
        raw=raw,
    )
