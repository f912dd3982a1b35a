"""The ``browserml`` command: convert models, list them, serve them.

Heavy conversion packages are imported only by ``convert``, so a serving
install (the light dependency set) can still list models.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path.cwd()


def _convert(args: argparse.Namespace) -> int:
    try:
        from convert.errors import ConversionError
        from convert.pipeline import convert_model
        from convert.pipelines import list_pipelines, write_pipeline
        from convert.recipe import conversion_order, list_recipes, load_recipe
    except ImportError as err:
        print(
            f"error: the conversion packages are not installed ({err}). "
            "Run: pip install -c requirements/constraints.txt -e '.[convert]'",
            file=sys.stderr,
        )
        return 2
    root = Path(args.root)
    pipelines = list_pipelines(root)
    names = [*list_recipes(root), *pipelines] if args.all else args.names
    if not names:
        print("error: name at least one model or pipeline, or pass --all. Known: "
              + ", ".join([*list_recipes(root), *pipelines]), file=sys.stderr)
        return 2
    from contract.manifest import gate_reasons

    recipes = [name for name in names if name not in pipelines]
    try:  # a composed model after the embedder it is built on (its browser backbone)
        names = [*conversion_order(recipes, root), *(name for name in names if name in pipelines)]
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        if name in pipelines:
            try:
                written = write_pipeline(name, root, Path(args.models_dir))
            except ConversionError as err:
                print(f"error: {name}: {err}", file=sys.stderr)
                failed.append(name)
            else:
                print(f"{name}: pipeline written to {written}")
            continue
        try:
            outcome = convert_model(load_recipe(name, root), root, Path(args.models_dir), force=args.force)
        except ConversionError as err:
            print(f"error: {name}: {err}", file=sys.stderr)
            failed.append(name)
            continue
        if not outcome.passed:
            reasons = "; ".join(f"{v['file']}: {', '.join(gate_reasons(v))}" for v in outcome.manifest["variants"])
            print(
                f"error: {name}: no variant passed its gates ({reasons}). See {outcome.version_dir / 'report.md'}; "
                "relax the gates in the recipe only if the numbers are acceptable.",
                file=sys.stderr,
            )
            failed.append(name)
            continue
        what = "unchanged" if outcome.reused else "new"
        print(f"{name}: version {outcome.version_dir.name} ({what}); passing variants: {', '.join(outcome.passed)}")
    return 1 if failed else 0


def _models_list(args: argparse.Namespace) -> int:
    from contract.manifest import ManifestError, gate_reasons, load_manifest, passes
    from contract.versions import manifest_paths

    models_dir = Path(args.models_dir)
    rows = []
    for manifest_path in manifest_paths(models_dir):
        try:
            manifest = load_manifest(manifest_path)
        except ManifestError as err:
            print(f"warning: skipping {manifest_path.parent}: {err}", file=sys.stderr)
            continue
        rows.append(manifest)
    if args.json:
        print(json.dumps([_summary(m) for m in rows], indent=2))
        return 0
    if not rows:
        print(f"no models in {models_dir}; run: browserml convert --all")
        return 0
    rows.sort(key=lambda m: (m["name"], m["version"]))
    print(f"{'model':<15} {'ver':>3}  {'task':<20} {'variant':<17} {'bytes':>12}  {'passes on':<20} "
          "recommended for / rejected")
    for m in rows:
        for v in m["variants"]:
            passed = [b for b in v["backends"] if passes(v, b)]
            picked = [b for b, file in m["recommended"].items() if file == v["file"]]
            notes = ([f"recommended: {', '.join(picked)}"] if picked else []) + [
                f"rejected {r}" for r in gate_reasons(v)
            ]
            print(
                f"{m['name']:<15} {m['version']:>3}  {m['task']:<20} {v['file']:<17} {v['bytes']:>12,}  "
                f"{','.join(passed) or 'nowhere':<20} {'; '.join(notes)}"
            )
    return 0


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    """One worker: Werkzeug's threaded server. More: gunicorn with the app factory."""
    import os

    from app.config import setting

    auth = setting("AUTH")
    if auth == "off" and not _is_loopback(args.host) and not args.insecure:
        print(f"error: refusing to listen on {args.host} with auth off: anyone who reaches it could run "
              "server inference without limit. Turn auth on (BROWSERML_AUTH=keys, then: browserml keys create "
              "--name NAME --scope predict), or pass --insecure to serve an open host on purpose.", file=sys.stderr)
        return 2
    if bool(args.certfile) != bool(args.keyfile):
        print("error: TLS needs both --certfile and --keyfile", file=sys.stderr)
        return 2
    from app.inference import parse_providers

    try:  # a typo in a provider name stops here, before gunicorn forks workers that would each fail
        parse_providers(setting("ORT_PROVIDERS"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    os.environ["BROWSERML_MODELS_DIR"] = json.dumps(str(Path(args.models_dir).resolve()))
    scheme = "https" if args.certfile else "http"
    if args.workers > 1:
        import shutil
        import tempfile

        # One metrics folder per server: N workers report one total at /metrics.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="browserml-metrics-")
        gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
        argv = [gunicorn, "--config", "python:app.gunicorn_conf", "--workers", str(args.workers),
                "--bind", f"{args.host}:{args.port}"]
        if args.certfile:
            argv += ["--certfile", args.certfile, "--keyfile", args.keyfile]
        print(f"browserml: serving with {args.workers} gunicorn workers at {scheme}://{args.host}:{args.port}/",
              flush=True)
        os.execv(gunicorn, [*argv, "app:create_app()"])
    from werkzeug.serving import run_simple

    from app import create_app

    app = create_app({"WARM_UP": True})
    print(f"browserml: serving {len(app.extensions['browserml'].registry.names())} models "
          f"at {scheme}://{args.host}:{args.port}/", flush=True)
    ssl_context = (args.certfile, args.keyfile) if args.certfile else None
    run_simple(args.host, args.port, app, threaded=True, ssl_context=ssl_context)
    return 0


def _keys_store(args: argparse.Namespace) -> Any:
    from flask import Flask

    from app.config import setting
    from app.keys import KeyStore

    path = args.keys_file or setting("KEYS_FILE") or Path(Flask("app").instance_path) / "keys.json"
    return KeyStore(Path(path))


def _keys(args: argparse.Namespace) -> int:
    """``keys create`` prints the new key once, as the last line; ``list`` and ``revoke`` never show one."""
    from app.keys import KeyStoreError

    store = _keys_store(args)
    try:
        if args.keys_command == "create":
            key = store.create(args.name, args.scope)
            print(f"created key {args.name!r} with the {args.scope} scope in {store.path}; "
                  "it is shown once, here, and stored only as a hash:")
            print(key)
        elif args.keys_command == "list":
            entries = store.list()
            if not entries:
                print(f"no keys in {store.path}; create one: browserml keys create --name NAME --scope predict")
            for entry in entries:
                state = f"revoked {entry['revoked']}" if entry.get("revoked") else "live"
                print(f"{entry['name']:<24} {entry['scope']:<8} created {entry['created']}  {state}")
        else:
            store.revoke(args.name)
            print(f"revoked key {args.name!r}")
    except KeyStoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _summary(manifest: dict) -> dict:
    from contract.manifest import passes

    return {
        "name": manifest["name"],
        "version": manifest["version"],
        "task": manifest["task"],
        "recommended": manifest["recommended"],
        "variants": [
            {"file": v["file"], "bytes": v["bytes"], "backends": v["backends"],
             "passed": {b: passes(v, b) for b in v["backends"]}}
            for v in manifest["variants"]
        ],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="browserml", description="Browser-first machine learning.")
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="convert catalog recipes into verified ONNX variants")
    convert.add_argument("names", nargs="*", help="recipe names (models/catalog/<name>.toml)")
    convert.add_argument("--all", action="store_true", help="convert every recipe in the catalog")
    convert.add_argument("--force", action="store_true", help="build a new version even if nothing changed")
    convert.add_argument("--models-dir", default="models", help="where versions are written (default: models)")
    convert.add_argument("--root", default=str(DEFAULT_ROOT), help="project root holding models/catalog")
    convert.set_defaults(func=_convert)

    models = sub.add_parser("models", help="inspect converted models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="each model, its versions, variants, sizes and gates")
    listing.add_argument("--models-dir", default="models")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_models_list)

    serve = sub.add_parser("serve", help="serve the artifacts, the demo UI and the server-side API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="more than 1 runs gunicorn with N workers")
    serve.add_argument("--models-dir", default="models")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback address with auth off (BROWSERML_AUTH=off)")
    serve.add_argument("--certfile", help="TLS certificate (PEM): serve HTTPS (HSTS is sent on HTTPS)")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.set_defaults(func=_serve)

    keys = sub.add_parser("keys", help="API keys for the server-side routes (BROWSERML_AUTH=keys)")
    keys.add_argument("--keys-file", help="default: BROWSERML_KEYS_FILE, else instance/keys.json")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key; it is printed once, as the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=["predict", "admin"])
    keys_sub.add_parser("list", help="names, scopes, dates (never the keys)")
    revoke = keys_sub.add_parser("revoke", help="revoke the key NAME")
    revoke.add_argument("name")
    keys.set_defaults(func=_keys)

    from cli import lifecycle  # promote, canary, rollback, status, fallback (cli/lifecycle.py)

    lifecycle.register(sub)

    from cli import retrain  # browserml retrain NAME: a new version from consented feedback (cli/retrain.py)

    retrain.add_parser(sub)
    from cli import db  # browserml db upgrade: migrate the feedback database (cli/db.py)

    db.add_parser(sub)
    from cli import drift  # browserml drift NAME: PSI of live traffic per feature (cli/drift.py)

    drift.add_parser(sub)
    from cli import worker  # browserml worker: run async predict jobs from Redis (cli/worker.py)

    worker.add_parser(sub)
    from cli import triton  # browserml export-triton DIR: a Triton model repository (cli/triton.py)

    triton.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))

