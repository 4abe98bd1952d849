"""The database engine: SQLite (a file in the working folder) or PostgreSQL, from one URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import SQLModel, create_engine

from . import models  # noqa: F401  (registers the tables on SQLModel.metadata)

__all__ = ["create_db_engine", "create_tables"]


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets foreign keys switched on, as PostgreSQL has them."""
    if url.startswith("sqlite"):
        # Handlers run in a thread pool; a SQLite connection may move between its threads.
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(url, pool_pre_ping=True)


def create_tables(engine: Engine) -> None:
    """Create the tables that do not exist yet (the demo has no migrations)."""
    SQLModel.metadata.create_all(engine)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
