"""``SQLRevocationStore``: revoked and used token ids in the demo's own database.

Without Redis the demo keeps logouts and used refresh tokens here, in the ``revocations``
table beside users and to-dos (SQLite or PostgreSQL, whichever ``DATABASE_URL`` names), so
a restart forgets none of them, and every instance on the same database sees them all.

It is a :class:`~jwt_middleware.RevocationStore` and a :class:`~jwt_middleware.SingleUseStore`
like the library's stores, with the same contract:

* each entry lives until its token stops verifying (``exp`` plus ``leeway_seconds``); a
  later lookup ignores it and a later write purges it;
* :meth:`SQLRevocationStore.revoke_once` is decided by the database, not by this process:
  one ``INSERT ... ON CONFLICT`` on the primary key, so of any number of concurrent callers,
  on any instance, exactly one is told it was first;
* when the database cannot answer, every call raises
  :class:`~jwt_middleware.RevocationStoreUnavailableError` (a 503), so a logout is never
  reported done when it was not, and a request is never let through unchecked.

One table holds several kinds of ids (revoked access tokens, revoked families, used refresh
tokens); each store reads and writes only the rows of its own ``kind``. Database calls are
synchronous SQLAlchemy, so they run in the thread pool, never on the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import Engine, Table, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from jwt_middleware.errors import RevocationStoreUnavailableError

from .models import Revocation

__all__ = ["SQLRevocationStore"]

logger = logging.getLogger(__name__)

#: A wall clock in unix seconds, like ``time.time``; ``exp`` is measured against it.
Clock = Callable[[], float]

#: The largest deadline a BIGINT holds; a token with a later ``exp`` is kept until then.
_MAX_DEADLINE: Final = 2**63 - 1

#: Longest kind name the column takes.
_KIND_MAX_LENGTH: Final = 16

_TABLE: Final[Table] = Revocation.__table__  # type: ignore[attr-defined]


class SQLRevocationStore:
    """Token ids of one ``kind``, revoked or used, in the ``revocations`` table of ``engine``.

    ``leeway_seconds`` should equal the verifier's ``JWTSettings.leeway_seconds``: the
    verifier still accepts a token that long after its ``exp``, so the entry must last as
    long. Each write also deletes up to ``purge_batch`` of this kind's expired rows, so the
    table holds no more than the tokens revoked within one token lifetime, and a purge
    never waits for a row another transaction holds (``SKIP LOCKED`` on PostgreSQL).

    The table must exist (:func:`demo_app.db.create_tables`). Safe to share between
    threads and event loops: each call takes its own connection from the engine's pool.
    """

    __slots__ = ("_clock", "_engine", "_insert", "_kind", "_leeway", "_purge_batch")

    def __init__(
        self,
        engine: Engine,
        *,
        kind: str,
        leeway_seconds: int = 0,
        purge_batch: int = 500,
        clock: Clock = time.time,
    ) -> None:
        if not kind or len(kind) > _KIND_MAX_LENGTH:
            raise ValueError(f"kind must be 1 to {_KIND_MAX_LENGTH} characters")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        if purge_batch < 1:
            raise ValueError("purge_batch must be at least 1")
        dialect = engine.dialect.name
        # Both dialects spell an upsert the same way; only the statement class differs.
        self._insert: Callable[[Table], postgresql.Insert | sqlite.Insert]
        if dialect == "postgresql":
            self._insert = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:
            raise ValueError("SQLRevocationStore needs SQLite or PostgreSQL")
        self._engine = engine
        self._kind = kind
        self._leeway = leeway_seconds
        self._purge_batch = purge_batch
        self._clock = clock

    @property
    def kind(self) -> str:
        """Which ids this store keeps; rows of other kinds are never touched."""
        return self._kind

    async def revoke(self, jti: str, *, expires_at: int) -> None:
        """Refuse ``jti`` until ``expires_at`` plus the leeway (keeps a later deadline)."""
        await self._record(jti, expires_at, only_if_new=False)

    async def revoke_once(self, jti: str, *, expires_at: int) -> bool:
        """Record ``jti`` unless it is recorded and unexpired; ``True`` only for the first.

        See :meth:`jwt_middleware.SingleUseStore.revoke_once`. The primary key decides.
        """
        return await self._record(jti, expires_at, only_if_new=True)

    async def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether the token with these verified claims has an unexpired entry."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return False
        try:
            return await run_in_threadpool(self._lookup, _digest(jti), self._now())
        except SQLAlchemyError as exc:
            # Not logged here: the middleware reports a failed check, once per request.
            raise RevocationStoreUnavailableError from exc

    def __repr__(self) -> str:
        # Never the engine's URL: it may carry a password.
        return f"SQLRevocationStore(kind={self._kind!r})"

    async def _record(self, jti: str, expires_at: int, *, only_if_new: bool) -> bool:
        if not isinstance(jti, str) or not jti:
            raise ValueError("jti must be a non-empty string")
        now = self._now()
        deadline = min(expires_at + self._leeway, _MAX_DEADLINE)
        if deadline <= now:
            return True  # the verifier refuses this token anyway; nothing to remember
        try:
            return await run_in_threadpool(self._write, _digest(jti), deadline, now, only_if_new)
        except SQLAlchemyError as exc:
            # The class name only: a database error's text names hosts, users and SQL.
            logger.warning(
                "revocation not recorded (%s): database unavailable (%s)",
                self._kind,
                type(exc).__name__,
            )
            raise RevocationStoreUnavailableError from exc

    def _lookup(self, digest: str, now: int) -> bool:
        query = (
            select(literal(1))
            .where(
                _TABLE.c.kind == self._kind,
                _TABLE.c.jti_sha256 == digest,
                _TABLE.c.deadline_unix > now,
            )
            .limit(1)
        )
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    def _write(self, digest: str, deadline: int, now: int, only_if_new: bool) -> bool:
        """Insert or update the row in one statement; whether it was new (or expired).

        ``revoke`` moves an existing deadline later, never earlier. ``revoke_once`` only
        replaces a row whose deadline has passed (a purge had not reached it yet); a live
        one is left as it is and the statement changes nothing, which is the "no".
        """
        table = _TABLE
        statement = self._insert(table).values(
            kind=self._kind, jti_sha256=digest, deadline_unix=deadline
        )
        existing = table.c.deadline_unix
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.kind, table.c.jti_sha256],
            set_={"deadline_unix": statement.excluded.deadline_unix},
            where=(existing <= now) if only_if_new else (existing < deadline),
        ).returning(literal(1))
        expired = (
            select(table.c.jti_sha256)
            .where(table.c.kind == self._kind, table.c.deadline_unix <= now)
            .limit(self._purge_batch)
            .with_for_update(skip_locked=True)
        )
        purge = delete(table).where(table.c.kind == self._kind, table.c.jti_sha256.in_(expired))
        with self._engine.begin() as connection:
            # A row comes back only if one was inserted or updated (rowcount is unreliable).
            changed = connection.execute(upsert).first() is not None
            connection.execute(purge)
        return changed or not only_if_new

    def _now(self) -> int:
        # Deadlines are whole seconds: "deadline > now" is the same for now and its floor.
        return math.floor(self._clock())


def _digest(token_id: str) -> str:
    # surrogatepass: a JSON string may hold a lone surrogate, which plain UTF-8 refuses.
    return hashlib.sha256(token_id.encode("utf-8", "surrogatepass")).hexdigest()
