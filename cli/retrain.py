"""``browserml retrain NAME``: a new version of a retrainable model from its consented feedback.

The work is ``convert.retrain.retrain``; this module parses the options, finds the feedback
database and the lifecycle state as the host does (``BROWSERML_DATABASE_URL``, default
``sqlite:///<models dir>/feedback.sqlite``; ``BROWSERML_LIFECYCLE_DB`` / ``BROWSERML_REDIS_URL``)
and prints the comparison with the version before and the verdict. Exit codes: 0 the new version
is a canary (or promoted, or unchanged), 1 nothing to retrain on or the new version did not pass,
2 the conversion packages are missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path


def _date(value: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD (UTC)") from None


def _percent(value: str) -> float:
    try:
        percent = float(value)
    except ValueError:
        percent = -1.0
    if not 0 < percent <= 100:
        raise argparse.ArgumentTypeError(f"{value!r} is not a percentage above 0 and at most 100")
    return percent


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("retrain", help="train a model again on its consented feedback; start it as a canary")
    parser.add_argument("name", help="a retrainable catalog model (its recipe has a [retrain] table)")
    parser.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                        help="only feedback given on or after this day (UTC)")
    parser.add_argument("--canary", type=_percent, default=10.0, metavar="P",
                        help="percent of clients the new version answers if it passes (default: 10)")
    parser.add_argument("--promote-if-better", action="store_true",
                        help="promote the new version instead, if it improved on every held-out domain")
    parser.add_argument("--models-dir", default="models", help="where versions live (default: models)")
    parser.add_argument("--root", default=str(Path.cwd()), help="project root holding models/catalog")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.config import setting
    from cli.lifecycle import _actor  # the audit log names the local user, as promote and canary do

    try:
        from convert.errors import ConversionError
        from convert.retrain import RetrainError, retrain
    except ImportError as err:
        print(f"error: the conversion packages are not installed ({err}). "
              "Run: pip install -c requirements/constraints.txt -e '.[convert]'", file=sys.stderr)
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from lifecycle.aliases import LifecycleError
    from lifecycle.feedback import default_database_url
    from lifecycle.store import StoreError

    models_dir = Path(args.models_dir)
    database_url = setting("DATABASE_URL") or default_database_url(models_dir)
    try:
        outcome = retrain(
            args.name, Path(args.root), models_dir, str(database_url), args.since, args.canary,
            args.promote_if_better, _actor(),
            lifecycle_db=setting("LIFECYCLE_DB"), redis_url=setting("REDIS_URL"),
        )
    except (RetrainError, ConversionError, StoreError, LifecycleError) as err:
        print(f"error: {args.name}: {err}", file=sys.stderr)
        return 1
    except ImportError as err:
        print(f"error: {args.name}: the feedback database's driver is not installed ({err.name}); "
              "pip install it, or check BROWSERML_DATABASE_URL", file=sys.stderr)
        return 1
    except SQLAlchemyError as err:  # its message may name the database URL, and so a password: not shown
        print(f"error: {args.name}: cannot read the feedback database (BROWSERML_DATABASE_URL): "
              f"{type(err).__name__}", file=sys.stderr)
        return 1
    if outcome.comparison:
        dropped = ", ".join(f"{n} {why}" for why, n in outcome.dropped.items())
        print(f"{outcome.name}: version {outcome.version} retrained on {outcome.examples} consented feedback examples"
              + (f" (dropped: {dropped})" if dropped else "")
              + f", compared with version {outcome.previous} on the held-out test splits:")
        print(outcome.table())
    print(f"verdict: {outcome.verdict}")
    if outcome.version_dir is not None:
        print(f"report: {outcome.version_dir / 'report.md'}")
    return outcome.exit_code
