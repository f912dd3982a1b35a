"""``browserml drift NAME``: PSI of live traffic against each version's evaluation data.

Reads the live counts the hosts write to the lifecycle store (the SQLite file
``BROWSERML_LIFECYCLE_DB``, default ``<models dir>/lifecycle.sqlite``, or Redis with
``BROWSERML_REDIS_URL``: the same store the app uses) and each version's ``drift`` reference
from its manifest, and prints one row per feature: kind, live values counted, PSI and the
verdict against the recipe's thresholds (ok / warn / alert; ``lifecycle/drift.py``).
Only versions with live counts are shown. ``--reset`` clears the counts (of ``--version``,
else of every version of NAME).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _references(models_dir: Path, name: str) -> dict[int, dict[str, Any]]:
    """version -> its manifest's ``drift`` object (versions without one are left out)."""
    from contract.manifest import ManifestError, load_manifest
    from contract.versions import version_dirs

    out = {}
    for folder in version_dirs(models_dir, name):
        try:
            manifest = load_manifest(folder / "manifest.json")
        except (ManifestError, OSError) as err:
            print(f"warning: skipping {folder}: {err}", file=sys.stderr)
            continue
        if manifest.get("drift"):
            out[int(manifest["version"])] = manifest["drift"]
    return out


def _drift(args: argparse.Namespace) -> int:
    from lifecycle import drift

    models_dir = Path(args.models_dir)
    if not (models_dir / args.name).is_dir():
        known = sorted({p.parent.parent.name for p in models_dir.glob("*/*/manifest.json")})
        print(f"error: no model {args.name!r} in {models_dir}; models: {', '.join(known) or 'none'}.", file=sys.stderr)
        return 2
    from cli.lifecycle import open_state

    store = open_state(models_dir)
    if args.reset:
        store.reset_counts(args.name, args.version)
        which = f"version {args.version}" if args.version is not None else "every version"
        print(f"cleared the live drift counts of {args.name} ({which}) in {store.where}")
        return 0
    references = _references(models_dir, args.name)
    if args.version is not None:
        if args.version not in references:
            print(f"error: {args.name} has no version {args.version} with a drift reference; versions with one: "
                  f"{', '.join(map(str, sorted(references))) or 'none (convert the model again)'}.", file=sys.stderr)
            return 2
        references = {args.version: references[args.version]}
    report = []
    for version, reference in sorted(references.items()):
        rows = drift.evaluate(reference, store.counts(args.name, version))
        if rows:
            report.append({"model": args.name, "version": version, "psi_warn": reference["psi_warn"],
                           "psi_alert": reference["psi_alert"], "features": rows})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report:
        print(f"{args.name}: no live counts yet (server predictions and browser reports add them; "
              f"store: {store.where}).")
        return 0
    for item in report:
        print(f"{item['model']} v{item['version']}  (warn at PSI {item['psi_warn']:g}, alert at {item['psi_alert']:g})")
        print(f"  {'feature':<14} {'kind':<7} {'n live':>8} {'PSI':>9}  verdict")
        for row in item["features"]:
            print(f"  {row['feature']:<14} {row['kind']:<7} {row['n']:>8} {row['psi']:>9.4f}  {row['verdict']}")
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("drift", help="PSI of live inputs and results against each version's evaluation data")
    parser.add_argument("name", help="the model")
    parser.add_argument("--version", type=int, help="only this version (default: every version with live counts)")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--reset", action="store_true", help="clear the live counts (of --version, else all)")
    parser.set_defaults(func=_drift)
