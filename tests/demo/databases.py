"""Helpers for tests that look at the demo's database directly: an engine with the demo's
tables, and the rows of the revocations table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select

from demo_app.db import create_db_engine, create_tables
from demo_app.models import Revocation

__all__ = ["engine_with_tables", "revocation_rows"]


@contextmanager
def engine_with_tables(url: str) -> Iterator[Engine]:
    """The demo's engine for ``url``, its tables created as at start-up; disposed on exit."""
    engine = create_db_engine(url)
    try:
        create_tables(engine)
        yield engine
    finally:
        engine.dispose()


def revocation_rows(engine: Engine) -> list[tuple[str, str, int]]:
    """Every row of the revocations table as (kind, jti_sha256, deadline_unix), sorted."""
    # SQLModel sets __table__ on table models at run time; its stubs do not declare it.
    table = Revocation.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.kind, table.c.jti_sha256, table.c.deadline_unix)
        ).all()
    return sorted((row[0], row[1], row[2]) for row in rows)
