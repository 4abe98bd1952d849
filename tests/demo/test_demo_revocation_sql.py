"""``SQLRevocationStore``: the library's revocation contract, kept in the demo's database.

The contract runs on SQLite and on a fresh PostgreSQL database, and on the library's
``InMemoryRevocationStore`` as the reference: a case that passes there and fails on a SQL
backend is a difference between the demo's store and the library's. The SQL-only part
covers what a table adds: kinds kept apart, purging, ids of any length, a database that
does not answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from demo_app.db import create_db_engine
from demo_app.revocation_sql import SQLRevocationStore
from jwt_middleware import InMemoryRevocationStore
from jwt_middleware.errors import RevocationStoreUnavailableError
from jwt_middleware.revocation import RevocationStore, SingleUseStore
from tests.helpers import FakeClock

from .databases import engine_with_tables, revocation_rows

Store = SQLRevocationStore | InMemoryRevocationStore
#: Builds the store under test: ``make_store(kind=..., leeway_seconds=..., clock=...)``.
StoreFactory = Callable[..., Store]


@pytest.fixture(
    params=["memory-reference", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Each call returns a new store on the same backend (for SQL, on an engine of its own,
    as another instance would have), all sharing one database."""
    if request.param == "memory-reference":
        shared: list[InMemoryRevocationStore] = []

        def memory(**options: Any) -> Store:
            options.pop("kind", None)
            if not shared:  # one process: "another instance" is the same store
                shared.append(InMemoryRevocationStore(**options))
            return shared[0]

        yield memory
        return
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/revocations.db"
    with ExitStack() as engines:

        def sql(**options: Any) -> Store:
            engine = engines.enter_context(engine_with_tables(url))
            options.setdefault("kind", "contract")
            return SQLRevocationStore(engine, **options)

        yield sql


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    with engine_with_tables(f"sqlite:///{tmp_path}/revocations.db") as engine:
        yield engine


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# The contract ------------------------------------------------------------------------------


def test_it_is_a_revocation_store_and_a_single_use_store(make_store: StoreFactory) -> None:
    store = make_store()

    assert isinstance(store, RevocationStore)
    assert isinstance(store, SingleUseStore)


@pytest.mark.parametrize(
    ("claims", "revoked"),
    [
        pytest.param({"jti": "jti-1"}, True, id="the-revoked-jti"),
        pytest.param({"jti": "jti-2"}, False, id="another-jti"),
        pytest.param({"jti": "JTI-1"}, False, id="case-matters"),
        pytest.param({}, False, id="no-jti"),
        pytest.param({"jti": ""}, False, id="empty-jti"),
        pytest.param({"jti": 1}, False, id="number-jti"),
    ],
)
def test_is_revoked_after_revoke(
    make_store: StoreFactory, claims: dict[str, Any], revoked: bool
) -> None:
    store = make_store()

    async def scenario() -> bool:
        await store.revoke("jti-1", expires_at=int(time.time()) + 600)
        return await store.is_revoked(claims)

    assert run(scenario()) is revoked


@pytest.mark.parametrize(
    ("lifetime", "leeway", "elapsed", "revoked"),
    [
        pytest.param(60, 0, 0, True, id="fresh"),
        pytest.param(60, 0, 59, True, id="just-before-exp"),
        pytest.param(60, 0, 60, False, id="at-exp"),
        pytest.param(60, 30, 89, True, id="within-leeway"),
        pytest.param(60, 30, 90, False, id="past-leeway"),
    ],
)
def test_entries_last_while_the_token_verifies(
    make_store: StoreFactory, lifetime: int, leeway: int, elapsed: int, revoked: bool
) -> None:
    clock = FakeClock()
    store = make_store(leeway_seconds=leeway, clock=clock)

    async def scenario() -> bool:
        await store.revoke("jti-1", expires_at=int(clock.now) + lifetime)
        clock.advance(elapsed)
        return await store.is_revoked({"jti": "jti-1"})

    assert run(scenario()) is revoked


@pytest.mark.parametrize(
    ("first_lifetime", "second_lifetime", "elapsed", "revoked"),
    [
        pytest.param(100, 10, 50, True, id="an-earlier-deadline-does-not-shorten"),
        pytest.param(10, 100, 50, True, id="a-later-deadline-extends"),
        pytest.param(10, 20, 50, False, id="both-passed"),
    ],
)
def test_revoking_again_keeps_the_later_deadline(
    make_store: StoreFactory, first_lifetime: int, second_lifetime: int, elapsed: int, revoked: bool
) -> None:
    clock = FakeClock()
    store = make_store(clock=clock)

    async def scenario() -> bool:
        await store.revoke("jti-1", expires_at=int(clock.now) + first_lifetime)
        await store.revoke("jti-1", expires_at=int(clock.now) + second_lifetime)
        clock.advance(elapsed)
        return await store.is_revoked({"jti": "jti-1"})

    assert run(scenario()) is revoked


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [("once", "a", 600), ("once", "a", 600)], [True, False], id="second-use-refused"
        ),
        pytest.param([("once", "a", 600), ("once", "b", 600)], [True, True], id="ids-are-separate"),
        pytest.param(
            [("revoke", "a", 600), ("once", "a", 600)], [None, False], id="after-a-revoke"
        ),
        pytest.param(
            [("once", "a", 10), ("wait", "", 20), ("once", "a", 600)],
            [True, None, True],
            id="after-the-first-use-expired",
        ),
        pytest.param(
            [("once", "a", 10), ("once", "a", 100), ("wait", "", 20), ("check", "a", 0)],
            [True, False, None, False],
            id="a-refused-use-does-not-extend",
        ),
        pytest.param(
            [("once", "a", -5), ("check", "a", 0), ("once", "a", -5)],
            [True, False, True],
            id="an-expired-token-is-not-recorded",
        ),
    ],
)
def test_revoke_once(
    make_store: StoreFactory,
    steps: list[tuple[str, str, int]],
    expected: list[bool | None],
) -> None:
    """``once`` is revoke_once with exp = now + the number; ``check`` is is_revoked."""
    clock = FakeClock()
    store = make_store(clock=clock)

    async def scenario() -> list[bool | None]:
        results: list[bool | None] = []
        for action, jti, seconds in steps:
            expires_at = int(clock.now) + seconds
            if action == "once":
                results.append(await store.revoke_once(jti, expires_at=expires_at))
            elif action == "revoke":
                await store.revoke(jti, expires_at=expires_at)
                results.append(None)
            elif action == "check":
                results.append(await store.is_revoked({"jti": jti}))
            else:
                clock.advance(seconds)
                results.append(None)
        return results

    assert run(scenario()) == expected


@pytest.mark.parametrize("method", ["revoke", "revoke_once"])
@pytest.mark.parametrize("jti", [pytest.param("", id="empty"), pytest.param(None, id="none")])
def test_recording_needs_a_jti(make_store: StoreFactory, method: str, jti: Any) -> None:
    store = make_store()

    with pytest.raises(ValueError, match="jti"):
        run(getattr(store, method)(jti, expires_at=int(time.time()) + 60))


def test_concurrent_revoke_once_has_exactly_one_winner(make_store: StoreFactory) -> None:
    """Twenty calls at once through two stores (two engines for SQL, as two instances
    would have): the database, not a lock in this process, picks the one winner."""
    stores = [make_store(), make_store()]
    expires_at = int(time.time()) + 600

    async def race() -> list[bool]:
        return await asyncio.gather(
            *(stores[n % 2].revoke_once("contested", expires_at=expires_at) for n in range(20))
        )

    results = run(race())

    assert sorted(results) == [False] * 19 + [True]


# What a table adds ---------------------------------------------------------------------------


def test_kinds_are_kept_apart(sqlite_engine: Engine) -> None:
    revoked = SQLRevocationStore(sqlite_engine, kind="revoked")
    used = SQLRevocationStore(sqlite_engine, kind="refresh-used")
    expires_at = int(time.time()) + 600

    async def scenario() -> tuple[bool, bool, bool]:
        await revoked.revoke("same-id", expires_at=expires_at)
        return (
            await used.is_revoked({"jti": "same-id"}),
            await used.revoke_once("same-id", expires_at=expires_at),
            await revoked.is_revoked({"jti": "same-id"}),
        )

    assert run(scenario()) == (False, True, True)
    assert [row[0] for row in revocation_rows(sqlite_engine)] == ["refresh-used", "revoked"]


def test_a_row_holds_a_digest_and_the_deadline_not_the_id(sqlite_engine: Engine) -> None:
    store = SQLRevocationStore(sqlite_engine, kind="revoked", leeway_seconds=30)
    expires_at = int(time.time()) + 600

    run(store.revoke("visible-token-id", expires_at=expires_at))

    ((kind, key, deadline),) = revocation_rows(sqlite_engine)
    assert kind == "revoked"
    assert len(key) == 64
    assert "visible" not in key
    assert deadline == expires_at + 30


@pytest.mark.parametrize(
    "jti",
    [
        pytest.param("x" * 6000, id="longer-than-a-postgres-index-entry"),
        pytest.param("caf\u00e9-\u2603-\U0001f600", id="non-ascii"),
        pytest.param("lone-\ud800-surrogate", id="lone-surrogate"),
        pytest.param("'; DROP TABLE revocations; --", id="sql-looking"),
    ],
)
def test_any_id_a_token_can_carry_is_stored(make_store: StoreFactory, jti: str) -> None:
    store = make_store()
    expires_at = int(time.time()) + 600

    async def scenario() -> tuple[bool, bool, bool]:
        first = await store.revoke_once(jti, expires_at=expires_at)
        second = await store.revoke_once(jti, expires_at=expires_at)
        return first, second, await store.is_revoked({"jti": jti})

    assert run(scenario()) == (True, False, True)


def test_a_far_future_exp_is_kept_until_the_largest_deadline(make_store: StoreFactory) -> None:
    """A BIGINT cannot hold every integer a token's exp may be; the deadline is capped."""
    store = make_store()

    async def scenario() -> tuple[bool, bool]:
        first = await store.revoke_once("far", expires_at=10**30)
        return first, await store.is_revoked({"jti": "far"})

    assert run(scenario()) == (True, True)


@pytest.mark.parametrize(
    ("purge_batch", "left_of_the_old"),
    [pytest.param(500, 0, id="all-expired-rows"), pytest.param(2, 3, id="at-most-a-batch")],
)
def test_writes_purge_expired_rows_of_their_own_kind(
    sqlite_engine: Engine, purge_batch: int, left_of_the_old: int
) -> None:
    clock = FakeClock()
    store = SQLRevocationStore(sqlite_engine, kind="revoked", purge_batch=purge_batch, clock=clock)
    other = SQLRevocationStore(sqlite_engine, kind="family", clock=clock)

    async def scenario() -> None:
        for n in range(5):
            await store.revoke(f"old-{n}", expires_at=int(clock.now) + 10)
        await other.revoke("other-kind", expires_at=int(clock.now) + 10)
        clock.advance(20)
        await store.revoke_once("new", expires_at=int(clock.now) + 10)

    run(scenario())

    kinds = [row[0] for row in revocation_rows(sqlite_engine)]
    assert kinds.count("revoked") == 1 + left_of_the_old
    assert kinds.count("family") == 1  # expired too, but only its own store purges it


def test_lookups_do_not_purge(sqlite_engine: Engine) -> None:
    """Reads stay reads: the middleware asks on every request."""
    clock = FakeClock()
    store = SQLRevocationStore(sqlite_engine, kind="revoked", clock=clock)

    async def scenario() -> bool:
        await store.revoke("old", expires_at=int(clock.now) + 10)
        clock.advance(20)
        return await store.is_revoked({"jti": "old"})

    assert run(scenario()) is False
    assert len(revocation_rows(sqlite_engine)) == 1


UNREACHABLE_DATABASES = [
    pytest.param("sqlite:////nonexistent-folder/revocations.db", id="sqlite-no-such-folder"),
    pytest.param(
        "postgresql+psycopg://postgres:db-password@127.0.0.1:1/demo?connect_timeout=2",
        id="postgresql-closed-port",
    ),
]


@pytest.mark.parametrize("url", UNREACHABLE_DATABASES)
@pytest.mark.parametrize("method", ["revoke", "revoke_once", "is_revoked"])
def test_a_database_that_does_not_answer_is_a_503_never_an_answer(
    url: str, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_db_engine(url)
    store = SQLRevocationStore(engine, kind="revoked")
    call = (
        store.is_revoked({"jti": "jti-1"})
        if method == "is_revoked"
        else getattr(store, method)("jti-1", expires_at=int(time.time()) + 60)
    )

    with (
        caplog.at_level(logging.DEBUG, logger="demo_app"),
        pytest.raises(RevocationStoreUnavailableError),
    ):
        run(call)
    engine.dispose()

    demo_records = [r for r in caplog.records if r.name.startswith("demo_app")]
    for record in demo_records:
        assert record.exc_info is None
        assert record.getMessage().endswith("(OperationalError)")
        assert "db-password" not in record.getMessage()
        assert "nonexistent" not in record.getMessage()
    # A write that was not recorded says so in one line; a lookup leaves that to the caller.
    assert len(demo_records) == (0 if method == "is_revoked" else 1)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"kind": ""}, id="empty-kind"),
        pytest.param({"kind": "k" * 17}, id="kind-too-long"),
        pytest.param({"kind": "k", "leeway_seconds": -1}, id="negative-leeway"),
        pytest.param({"kind": "k", "purge_batch": 0}, id="no-purge"),
    ],
)
def test_bad_options_fail_at_construction(sqlite_engine: Engine, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        SQLRevocationStore(sqlite_engine, **options)


def test_repr_names_the_kind_and_not_the_database() -> None:
    engine = create_db_engine("postgresql+psycopg://user:db-password@db.example/demo")
    try:
        text = repr(SQLRevocationStore(engine, kind="revoked"))
    finally:
        engine.dispose()

    assert text == "SQLRevocationStore(kind='revoked')"
