"""``browserml promote|canary|rollback|status|fallback``: the lifecycle verbs from a shell.

They change the shared state a running host reads (``lifecycle/store.py``): the SQLite file
under ``--models-dir`` (or ``BROWSERML_LIFECYCLE_DB``), or Redis when ``BROWSERML_REDIS_URL``
is set, the same settings the host uses. Every worker follows within a second; nothing
restarts. The audit log names the local user as who did it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from pathlib import Path
from typing import Any


def open_state(models_dir: Path | str) -> Any:
    """The lifecycle store the host of ``models_dir`` uses: the same settings (BROWSERML_LIFECYCLE_DB,
    BROWSERML_REDIS_URL), read as the host reads them."""
    from app.config import setting
    from lifecycle.store import open_store

    return open_store(Path(models_dir), setting("LIFECYCLE_DB"), setting("REDIS_URL"))


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (cli)"


def _print_status(status: dict[str, Any]) -> None:
    stable = f"v{status['stable']}" + (" (pinned)" if status["stable_pinned"] else " (newest passing)")
    canary = f"v{status['canary']} at {status['percent']:g}%" if status["canary"] is not None else "none"
    print(f"{status['model']}: stable {stable}; canary {canary}; fallback {'ON' if status['fallback'] else 'off'}")
    print(f"  versions {', '.join(map(str, status['versions']))}; servable "
          f"{', '.join(map(str, status['servable'])) or 'none'}; rollback goes to "
          f"{'v' + str(status['previous']) if status['previous'] is not None else 'nothing (no earlier promote)'}")
    for entry in status["audit"][:10]:
        moved = f"v{entry['from_version']} -> v{entry['to_version']}" if entry["to_version"] is not None else ""
        detail = f" {json.dumps(entry['detail'])}" if entry["detail"] else ""
        print(f"  {entry['ts']}  {entry['actor']:<32} {entry['action']:<12} {moved}{detail}")


def run(args: argparse.Namespace) -> int:
    from lifecycle import aliases
    from lifecycle.store import StoreError

    models_dir = Path(args.models_dir)
    if not models_dir.is_dir():
        print(f"error: no models directory {models_dir}; pass --models-dir (the one the host serves)",
              file=sys.stderr)
        return 2
    try:
        store = open_state(args.models_dir)
        if args.command == "promote":
            aliases.promote(store, models_dir, args.name, args.version, _actor())
        elif args.command == "canary":
            aliases.canary(store, models_dir, args.name, args.version, args.percent, _actor())
        elif args.command == "rollback":
            aliases.rollback(store, models_dir, args.name, _actor())
        elif args.command == "fallback":
            aliases.fallback(store, models_dir, args.name, args.state == "on", _actor())
        status = aliases.status(store, models_dir, args.name)
    except (aliases.LifecycleError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(status, indent=2))
    else:
        _print_status(status)
    return 0


def register(sub: Any) -> None:
    """Add the lifecycle verbs to the ``browserml`` parser."""

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help)
        parser.add_argument("name", help="the model, e.g. sentiment")
        parser.add_argument("--models-dir", default="models")
        parser.set_defaults(func=run)
        return parser

    promote = verb("promote", "make VERSION the stable version (a running host follows within 1 s)")
    promote.add_argument("version", type=int)
    canary = verb("canary", "send PERCENT %% of clients (sticky) to VERSION; --percent 0 ends the canary")
    canary.add_argument("version", type=int)
    canary.add_argument("--percent", type=float, required=True)
    verb("rollback", "back to the stable version before the last promote (ends any canary)")
    status = verb("status", "versions, stable, canary, kill switch and the recent audit log")
    status.add_argument("--json", action="store_true")
    fallback = verb("fallback", "kill switch: answer with the model's non-ML fallback (on) or the model (off)")
    fallback.add_argument("state", choices=["on", "off"])
