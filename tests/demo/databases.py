"""Helpers for tests that look at the demo's database directly: an engine with the demo's
tables, the rows of the revocations table, and a clock that moves only when told to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select

from demo_app.db import create_db_engine, create_tables
from demo_app.models import Revocation

__all__ = ["FakeClock", "engine_with_tables", "revocation_rows"]


class FakeClock:
    """A wall clock in unix seconds that only moves when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
    table = Revocation.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.kind, table.c.jti_sha256, table.c.deadline_unix)
        ).all()
    return sorted((row[0], row[1], row[2]) for row in rows)
