"""The tables: users (email and password hash), their to-do items, and revocations.

Emails are stored lower-cased, so the unique index makes them unique regardless of case.
Timestamps are UTC; SQLite hands them back without a zone, which the API models restore.
Revocations (logouts, used refresh tokens) live next to the data they protect, so a restart
forgets neither; see :mod:`demo_app.revocation_sql`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Index
from sqlmodel import Field, SQLModel

__all__ = ["TITLE_MAX_LENGTH", "Revocation", "Todo", "User", "utcnow"]

TITLE_MAX_LENGTH = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str = Field(max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Todo(SQLModel, table=True):
    __tablename__ = "todos"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=TITLE_MAX_LENGTH)
    done: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Revocation(SQLModel, table=True):
    """One revoked or used token id of one kind, kept until the token stops verifying.

    The key is a SHA-256 digest of the ``jti`` (or family id), not the id itself: any id a
    verified token carries then fits the primary key, however long (PostgreSQL refuses
    index entries over about 2.7 kB). ``deadline_unix`` is the token's ``exp`` plus the
    verifier's leeway, in unix seconds; from then on the row means nothing and is purged.
    """

    __tablename__ = "revocations"
    # Purging looks for one kind's rows whose deadline has passed.
    __table_args__ = (Index("ix_revocations_kind_deadline", "kind", "deadline_unix"),)

    kind: str = Field(primary_key=True, max_length=16)
    jti_sha256: str = Field(primary_key=True, min_length=64, max_length=64)
    deadline_unix: int = Field(sa_type=BigInteger)
