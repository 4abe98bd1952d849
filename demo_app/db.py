"""The database engine: SQLite (a file in the working folder) or PostgreSQL, from one URL."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Engine, event, text
from sqlmodel import SQLModel, create_engine

from . import models  # noqa: F401  (registers the tables on SQLModel.metadata)

__all__ = ["create_db_engine", "create_tables"]

#: Arbitrary, fixed: the PostgreSQL advisory lock that serialises table creation.
_SCHEMA_LOCK_KEY: Final = 0x6A77_7464  # "jwtd"


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets foreign keys switched on, as PostgreSQL has them."""
    if url.startswith("sqlite"):
        # Handlers run in a thread pool; a SQLite connection may move between its threads.
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(url, pool_pre_ping=True)


def create_tables(engine: Engine) -> None:
    """Create the tables that do not exist yet (the demo has no migrations).

    Several instances (or ``--workers``) starting at once against a new database would
    otherwise race between "does the table exist?" and ``CREATE TABLE``, and all but one
    would fail. So the check and the creation run in one transaction that first takes a
    lock the others wait for: an advisory lock on PostgreSQL, the write lock on SQLite.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY}
            )
        else:
            # pysqlite runs DDL outside any transaction unless one is begun explicitly.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        SQLModel.metadata.create_all(connection)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
