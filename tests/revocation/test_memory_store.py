"""``InMemoryRevocationStore``: entries expire with their tokens, the store stays bounded, and
a full store refuses new entries rather than forgetting old ones.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from jwt_middleware.errors import RevocationStoreFullError
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from tests.helpers import FakeClock


def test_memory_revoke_once_is_atomic_across_threads() -> None:
    store = InMemoryRevocationStore()
    expires_at = int(time.time()) + 60
    start = threading.Barrier(8, timeout=10)
    results: list[bool] = []

    def attempt() -> None:
        start.wait()
        results.append(asyncio.run(store.revoke_once("same-jti", expires_at=expires_at)))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


# --- in memory: expiry and bounds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("leeway", "elapsed", "expected"),
    [
        pytest.param(0, 0, True, id="just-revoked"),
        pytest.param(0, 59.9, True, id="just-before-exp"),
        pytest.param(0, 60, False, id="at-exp"),
        pytest.param(0, 3600, False, id="long-after"),
        pytest.param(10, 65, True, id="within-leeway"),
        pytest.param(10, 70, False, id="after-leeway"),
    ],
)
def test_memory_entries_expire_with_the_token(leeway: int, elapsed: float, expected: bool) -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock, leeway_seconds=leeway)
    asyncio.run(store.revoke("a", expires_at=int(clock.now) + 60))
    clock.advance(elapsed)
    assert asyncio.run(store.is_revoked({"jti": "a"})) is expected


def test_memory_store_does_not_grow_without_bound() -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock)
    start = int(clock.now)

    async def revoke_many() -> None:
        for index in range(10_000):
            # 100 tokens for each lifetime from 1 to 100 seconds.
            await store.revoke(f"token-{index}", expires_at=start + index % 100 + 1)

    asyncio.run(revoke_many())
    assert len(store) == 10_000

    clock.advance(50)
    asyncio.run(store.revoke("trigger", expires_at=start + 3600))
    assert len(store) == 5_001
    assert asyncio.run(store.is_revoked({"jti": "token-49"})) is False
    assert asyncio.run(store.is_revoked({"jti": "token-50"})) is True

    clock.advance(3600)
    assert store.purge() == 5_001
    assert len(store) == 0
    assert store._heap == []


def test_memory_store_repeated_revocations_leave_no_stale_heap_entries() -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock)

    async def revoke_again_and_again() -> None:
        for lifetime in range(1, 1_001):
            await store.revoke("same", expires_at=int(clock.now) + lifetime)

    asyncio.run(revoke_again_and_again())
    assert len(store) == 1
    clock.advance(2_000)
    store.purge()
    assert len(store) == 0
    assert store._heap == []


def test_memory_store_full_refuses_new_revocations_and_forgets_none() -> None:
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock, max_entries=3)
    now = int(clock.now)

    async def scenario() -> None:
        await store.revoke("a", expires_at=now + 10)
        await store.revoke("b", expires_at=now + 100)
        await store.revoke("c", expires_at=now + 100)
        with pytest.raises(RevocationStoreFullError) as raised:
            await store.revoke("d", expires_at=now + 100)
        assert raised.value.status_code == 503
        for jti in "abc":
            assert await store.is_revoked({"jti": jti})
        assert not await store.is_revoked({"jti": "d"})
        # Revoking a known token again (even with a later exp) needs no new room.
        await store.revoke("a", expires_at=now + 20)
        # Once an entry expires there is room again.
        clock.advance(25)
        await store.revoke("d", expires_at=now + 100)
        assert await store.is_revoked({"jti": "d"})
        assert not await store.is_revoked({"jti": "a"})

    asyncio.run(scenario())
    assert len(store) == 3


def test_memory_revoke_once_leaves_the_first_deadline_alone() -> None:
    """Unlike ``revoke``, a second ``revoke_once`` changes nothing, as in Redis."""
    clock = FakeClock()
    store = InMemoryRevocationStore(clock=clock)
    now = int(clock.now)

    async def scenario() -> tuple[bool, bool]:
        first = await store.revoke_once("a", expires_at=now + 60)
        return first, await store.revoke_once("a", expires_at=now + 3600)

    assert asyncio.run(scenario()) == (True, False)
    clock.advance(60)
    assert asyncio.run(store.is_revoked({"jti": "a"})) is False


def test_memory_store_full_refuses_new_single_uses_and_forgets_none() -> None:
    clock = FakeClock(1_000_000.0)
    store = InMemoryRevocationStore(clock=clock, max_entries=2, leeway_seconds=5)

    async def scenario() -> None:
        assert await store.revoke_once("a", expires_at=1_000_010)
        assert await store.revoke_once("b", expires_at=1_000_100)
        with pytest.raises(RevocationStoreFullError) as raised:
            await store.revoke_once("c", expires_at=1_000_100)
        assert raised.value.status_code == 503
        assert not await store.is_revoked({"jti": "c"})
        # A known jti needs no room: it is simply not the first use.
        assert not await store.revoke_once("b", expires_at=1_000_100)
        clock.now = 1_000_014.0  # "a" still verifies within the leeway
        assert not await store.revoke_once("a", expires_at=1_000_010)
        clock.now = 1_000_016.0
        assert await store.revoke_once("c", expires_at=1_000_100)  # "a" made room

    asyncio.run(scenario())
    assert len(store) == 2


def test_memory_store_full_refusal_is_logged_without_the_jti(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = InMemoryRevocationStore(max_entries=1)
    exp = int(time.time()) + 60
    asyncio.run(store.revoke("first-jti", expires_at=exp))
    with (
        caplog.at_level(logging.WARNING, logger="jwt_middleware"),
        pytest.raises(RevocationStoreFullError),
    ):
        asyncio.run(store.revoke("second-jti", expires_at=exp))
    assert "revocation store full" in caplog.text
    assert "second-jti" not in caplog.text
