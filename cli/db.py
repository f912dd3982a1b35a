"""``browserml db upgrade``: migrate the feedback database to the newest schema.

The host does the same when it starts (``app/feedback.py``); this verb is for deployments
that migrate before starting the servers, or a database several hosts share. The database
is ``--database-url``, else ``BROWSERML_DATABASE_URL``, else
``sqlite:///<models dir>/feedback.sqlite``, as the host reads it. Running it again is a no-op.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def database_url(args: argparse.Namespace) -> str:
    """The URL the host would use: the flag, the environment, or the default under the models dir."""
    from lifecycle.feedback import default_database_url

    return str(args.database_url or os.environ.get("BROWSERML_DATABASE_URL") or default_database_url(args.models_dir))


def _upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    url = database_url(args)
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        print("error: the database URL does not parse; write it like sqlite:///models/feedback.sqlite "
              "or postgresql+psycopg://user:password@host/db", file=sys.stderr)
        return 2
    from lifecycle.feedback import open_feedback_db

    try:
        db = open_feedback_db(url)
    except (SQLAlchemyError, ImportError, OSError) as err:
        print(f"error: cannot migrate {shown}: {type(err).__name__}: {str(err).splitlines()[0][:300]}",
              file=sys.stderr)
        return 1
    try:
        counts = db.counts()
        revision = db.upgrade()  # already at head: says which
    finally:
        db.dispose()
    print(f"feedback database {shown}: at revision {revision} "
          f"({counts['predictions']} predictions, {counts['feedback']} feedback)")
    return 0


def add_parser(sub: Any) -> None:
    """Add ``db upgrade`` to the ``browserml`` command's subparsers."""
    db = sub.add_parser("db", help="the feedback database (SQLite by default, or BROWSERML_DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate it to the newest schema (alembic upgrade head)")
    upgrade.add_argument("--database-url", help="a SQLAlchemy URL (default: BROWSERML_DATABASE_URL, "
                                                "else sqlite:///<models dir>/feedback.sqlite)")
    upgrade.add_argument("--models-dir", default="models")
    upgrade.set_defaults(func=_upgrade)
