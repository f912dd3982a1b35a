"""Alembic's environment for the feedback database (``lifecycle/feedback.py``).

The host and ``browserml db upgrade`` run it programmatically (``lifecycle.feedback.upgrade``),
handing it a connection that already holds the migration lock. Run by hand, e.g. to write
a new revision, it makes its own connection from ``sqlalchemy.url``::

    .venv/bin/alembic -c lifecycle/migrations/alembic.ini \\
        -x url=sqlite:///models/feedback.sqlite revision -m "what changes"

A revision changes ``lifecycle/feedback.py``'s tables and the database the same way;
``tests/host/test_feedback.py`` checks that a migrated database matches the tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from lifecycle.feedback import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("name the database: -x url=sqlite:///models/feedback.sqlite")
    engine = create_engine(url)
    with engine.begin() as own:
        context.configure(connection=own, target_metadata=metadata, render_as_batch=own.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run()
