"""Database plumbing of the store: engines for SQLite and PostgreSQL, transient-error retries, migrations."""

from __future__ import annotations

import datetime
from pathlib import Path

import sqlalchemy as sa
import tenacity

from flexaqa.annotation.records import AnnotationError

BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class RevisionRace(Exception):
    """Two writers revised the same label at once; the transaction is retried on the new revision."""


def transient(exc: BaseException) -> bool:
    if isinstance(exc, RevisionRace):
        return True
    if isinstance(exc, sa.exc.OperationalError):
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text:  # SQLite
            return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40001", "40P01")  # PostgreSQL


retry_transient = tenacity.retry(
    retry=tenacity.retry_if_exception(transient),
    stop=tenacity.stop_after_attempt(30),
    wait=tenacity.wait_random_exponential(multiplier=0.02, max=1.0),
    reraise=True,
)


def make_engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise AnnotationError(
            f"--db {url!r} is not a database URL; use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise AnnotationError(
                "--db needs a SQLite file (sqlite:///PATH): an in-memory store loses labels"
            )
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: no deadlock on lock upgrade

        return engine
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise AnnotationError(f"--db {url!r}: only sqlite:/// and postgresql:// stores are supported")


def alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()
