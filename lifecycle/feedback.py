"""Feedback on predictions, and the predictions it refers to: a database through SQLAlchemy 2.

Two tables (created by the Alembic migrations in ``lifecycle/migrations/``, never by
``create_all``):

- ``predictions``: one row per answered prediction, server-side (``app/predict.py``) or in a
  browser (reported through telemetry): ``request_id`` (unique), model, version, variant, the
  predicted top-1 label (null for results without one: embeddings, faces, a list of texts),
  ``source`` ("server" | "browser") and ``created``. No input is ever stored here.
- ``feedback``: at most one row per prediction (a later feedback replaces it): ``correct``
  (null when it cannot be known), the ``label`` the user gave, ``true_label`` (what the input
  really is, when that follows: the user's label, the predicted one when right, the other label
  of a two-class model when wrong; else null), ``text`` (only with the user's consent, text
  models only) and ``created``.

SQLite by default (``sqlite:///<models dir>/feedback.sqlite``), in WAL mode with
``synchronous=NORMAL``: a prediction costs one INSERT on a pooled connection, and readers
never wait for it. Any URL SQLAlchemy takes works, e.g. Postgres
(``postgresql+psycopg://user:pass@host/db``, with the driver installed).

``upgrade`` runs ``alembic upgrade head`` programmatically, holding a lock so that several
processes starting at once (gunicorn workers) migrate one after the other: an ``fcntl`` lock
file beside a SQLite file, an advisory lock on Postgres.

``consented_examples`` is what a retraining command reads: the consented texts with the label
they should be trained as, oldest first.

``purge_predictions`` deletes old predictions that have no feedback (the host's recorder calls it
for ``PREDICTION_DAYS``, ``app/answers.py``); predictions with feedback are retraining data and stay.
It deletes in chunks, each its own short transaction, and finds each chunk in a read of its own
(index ``predictions_created``, resumed after the previous chunk) so that no writer waits long.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from lifecycle.sqlite import use_wal

MIGRATIONS = Path(__file__).with_name("migrations")
SOURCES = ("server", "browser")
PG_LOCK_KEY = 0x62726D6C  # "brml": the advisory lock Postgres migrations take

metadata = MetaData()

predictions = Table(
    "predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("variant", String(64), nullable=True),
    Column("label", String(128), nullable=True),
    Column("source", String(8), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("predictions_created", "created"),  # what the purge of old predictions walks
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", Integer, ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("correct", Boolean, nullable=True),
    Column("label", String(128), nullable=True),
    Column("true_label", String(128), nullable=True),
    Column("text", Text, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("feedback_created", "created"),
)


def default_database_url(models_dir: Path | str) -> str:
    """``sqlite:///<models_dir>/feedback.sqlite`` (absolute)."""
    return f"sqlite:///{Path(models_dir).resolve() / 'feedback.sqlite'}"


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    """``2026-11-26T02:31:26.123Z``."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{_utc(value).microsecond // 1000:03d}Z"


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    """An engine with a connection pool; SQLite files in WAL mode with ``synchronous=NORMAL``."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=path is None)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 10000")  # a writer waits for another, up to 10 s
            if path is not None:
                use_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

    return engine


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Only one process migrates a SQLite file at a time (an ``fcntl`` lock file beside it)."""
    path = _sqlite_file(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def alembic_config(url: str) -> Any:
    """The Alembic config of ``lifecycle/migrations`` for ``url`` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> str | None:
    """``alembic upgrade head`` on ``engine``'s database, safely when several processes start at
    once; returns the revision the database is at afterwards."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    url = engine.url.render_as_string(hide_password=False)
    with _migration_lock(url), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        return MigrationContext.configure(connection).get_current_revision()


@dataclass(frozen=True)
class Prediction:
    id: int
    request_id: str
    model: str
    version: int
    variant: str | None
    label: str | None
    source: str
    created: datetime


class FeedbackDB:
    """The predictions and feedback tables behind one database URL."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)

    def upgrade(self) -> str | None:
        return upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # --- predictions ---------------------------------------------------------------------------

    def record_predictions(self, rows: list[dict[str, Any]]) -> None:
        """Insert predictions (``request_id``, ``model``, ``version``, ``variant``, ``label``,
        ``source``) in one statement; a request id already stored keeps its first row (a retry
        that reuses its X-Request-ID, or a browser reporting a result twice)."""
        if not rows:
            return
        created = _now()
        values = [{**row, "created": row.get("created") or created} for row in rows]
        dialect = self.engine.dialect.name
        with self.engine.begin() as connection:
            if dialect in ("sqlite", "postgresql"):
                if dialect == "sqlite":
                    from sqlalchemy.dialects.sqlite import insert as dialect_insert
                else:
                    from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
                statement = dialect_insert(predictions).on_conflict_do_nothing(index_elements=["request_id"])
                connection.execute(statement, values)
                return
            for value in values:  # other databases: one at a time, skipping known ids
                try:
                    with connection.begin_nested():
                        connection.execute(insert(predictions), value)
                except IntegrityError:
                    continue

    def record_prediction(self, request_id: str, model: str, version: int, variant: str | None,
                          label: str | None, source: str) -> None:
        self.record_predictions([{"request_id": request_id, "model": model, "version": version,
                                  "variant": variant, "label": label, "source": source}])

    def prediction(self, request_id: str) -> Prediction | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(predictions).where(predictions.c.request_id == request_id)).first()
        if row is None:
            return None
        return Prediction(**{**row._asdict(), "created": _utc(row.created)})

    def purge_chunks(self, before: datetime, chunk: int = 10_000) -> Iterator[int]:
        """Delete the predictions created before ``before`` that have no feedback, oldest first,
        at most ``chunk`` per transaction: each ``next()`` deletes one chunk and yields how many
        rows went; it stops when none is left. Feedback given meanwhile keeps its prediction."""
        no_feedback = ~exists().where(feedback.c.prediction_id == predictions.c.id)
        after: tuple[datetime, int] | None = None  # (created, id) of the previous chunk's last row
        while True:
            query = (select(predictions.c.id, predictions.c.created)
                     .where(predictions.c.created < _utc(before), no_feedback)
                     .order_by(predictions.c.created, predictions.c.id).limit(chunk))
            if after is not None:  # resume there: the rows kept before it are not read again
                query = query.where(predictions.c.created >= after[0],
                                    or_(predictions.c.created > after[0],
                                        and_(predictions.c.created == after[0], predictions.c.id > after[1])))
            with self.engine.connect() as connection:  # a read: writers go on meanwhile
                rows = connection.execute(query).all()
            if not rows:
                return
            with self.engine.begin() as connection:  # the write lock, for one chunk
                deleted = connection.execute(
                    delete(predictions).where(predictions.c.id.in_([row.id for row in rows]), no_feedback)).rowcount
            yield deleted
            if len(rows) < chunk:
                return
            after = (rows[-1].created, rows[-1].id)

    def purge_predictions(self, before: datetime, chunk: int = 10_000) -> int:
        """Delete every prediction created before ``before`` without feedback (see ``purge_chunks``);
        returns how many were deleted."""
        return sum(self.purge_chunks(before, chunk))

    # --- feedback ------------------------------------------------------------------------------

    def give_feedback(self, prediction: Prediction, correct: bool | None, label: str | None,
                      true_label: str | None, text_: str | None) -> tuple[dict[str, Any], bool]:
        """Store the feedback on ``prediction`` (replacing an earlier one): (the stored row, created?)."""
        values = {"correct": correct, "label": label, "true_label": true_label, "text": text_, "created": _now()}
        for _ in range(2):  # a concurrent first feedback on the same prediction: the second becomes an update
            with self.engine.begin() as connection:
                existing = connection.execute(
                    select(feedback.c.id).where(feedback.c.prediction_id == prediction.id)).scalar()
                try:
                    if existing is None:
                        with connection.begin_nested():
                            new_id = connection.execute(
                                insert(feedback).values(prediction_id=prediction.id, **values)
                            ).inserted_primary_key[0]  # type: ignore[index]
                        return self._stored(new_id, prediction, values), True
                    connection.execute(update(feedback).where(feedback.c.id == existing).values(**values))
                    return self._stored(existing, prediction, values), False
                except IntegrityError:
                    continue
        raise RuntimeError("feedback could not be stored after a retry")

    @staticmethod
    def _stored(feedback_id: int, prediction: Prediction, values: dict[str, Any]) -> dict[str, Any]:
        """What the API answers: never the text."""
        return {"id": feedback_id, "model": prediction.model, "version": prediction.version,
                "request_id": prediction.request_id, "correct": values["correct"], "label": values["label"],
                "source": prediction.source, "created": iso(values["created"])}

    def consented_examples(self, model: str, since: datetime | None = None) -> list[tuple[str, str]]:
        """(text, label) of every consented text feedback on ``model`` whose label is known, oldest first."""
        query = (
            select(feedback.c.text, feedback.c.true_label)
            .join(predictions, feedback.c.prediction_id == predictions.c.id)
            .where(predictions.c.model == model, feedback.c.text.is_not(None), feedback.c.true_label.is_not(None))
            .order_by(feedback.c.created, feedback.c.id)
        )
        if since is not None:
            query = query.where(feedback.c.created >= _utc(since))
        with self.engine.connect() as connection:
            return [(row.text, row.true_label) for row in connection.execute(query)]

    def counts(self) -> dict[str, int]:
        """Rows per table (for the CLI and tests)."""
        with self.engine.connect() as connection:
            return {table.name: int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)
                    for table in (predictions, feedback)}


def open_feedback_db(url: str, *, migrate: bool = True) -> FeedbackDB:
    """The feedback database at ``url``, migrated to the newest schema unless ``migrate`` is False."""
    db = FeedbackDB(url)
    if migrate:
        db.upgrade()
    return db


def consented_examples(database_url: str, model: str, since: datetime | None = None) -> list[tuple[str, str]]:
    """The texts users consented to share as feedback on ``model`` (since ``since``, when given),
    each with the label it should be trained as, oldest first:

    - feedback with a label: that label;
    - ``correct: true``: the predicted label;
    - ``correct: false`` without a label, on a two-class model: the other label;
    - anything else (no label can be known) is skipped.
    """
    db = open_feedback_db(database_url)
    try:
        return db.consented_examples(model, since)
    finally:
        db.dispose()
