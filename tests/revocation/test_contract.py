"""The revocation contract, run over every store (``make_store``): what a revoked token looks
like, for how long, and ``revoke_once``, the "first caller wins" form of ``revoke`` that makes
a token single-use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from jwt_middleware import JWTSettings, create_jwt_token, verify_jwt_token
from jwt_middleware.revocation import RevocationStore, SingleUseStore, revoke_token_claims
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from tests.helpers import SECRET, mint_token
from tests.revocation.stores import (
    RECORDING_METHODS,
    SettingsStoreFactory,
    Store,
    StoreFactory,
    holds,
    run,
    sync_redis_for,
)


@pytest.mark.parametrize(
    ("revocations", "claims", "expected"),
    [
        pytest.param([("a", 3600)], {"jti": "a"}, True, id="revoked"),
        pytest.param([("a", 3600)], {"jti": "b"}, False, id="other-jti"),
        pytest.param([], {"jti": "a"}, False, id="nothing-revoked"),
        pytest.param([("a", 3600)], {"sub": "u"}, False, id="no-jti-never-revoked"),
        pytest.param([("a", 3600)], {"jti": ""}, False, id="empty-jti-never-revoked"),
        pytest.param([("a", 3600)], {"jti": 1}, False, id="non-string-jti"),
        pytest.param([("a", -10)], {"jti": "a"}, False, id="already-expired-is-noop"),
        pytest.param([("a", 0)], {"jti": "a"}, False, id="expiring-now-is-noop"),
        pytest.param([("a", 3600), ("a", 3600)], {"jti": "a"}, True, id="revoked-twice"),
        pytest.param([("a", 3600), ("a", -10)], {"jti": "a"}, True, id="expired-repeat-keeps"),
        pytest.param([("a", 60), ("a", 3600)], {"jti": "a"}, True, id="later-exp-extends"),
    ],
)
def test_is_revoked_after_revoke(
    make_store: StoreFactory,
    revocations: list[tuple[str, int]],
    claims: dict[str, Any],
    expected: bool,
) -> None:
    store = make_store()

    async def scenario(store: Store) -> bool:
        now = int(time.time())
        for jti, lifetime in revocations:
            await store.revoke(jti, expires_at=now + lifetime)
        return await store.is_revoked(claims)

    assert run(store, scenario) is expected


@pytest.mark.parametrize(
    "exp",
    [pytest.param(10**400, id="400-digit-exp"), pytest.param(2**63, id="past-redis-ttl")],
)
def test_a_token_that_claims_to_live_for_ever_is_revoked(
    make_store: StoreFactory, exp: int
) -> None:
    """Its issuer wrote the exp; no store holds such a time, and none crashes on it."""
    store = make_store()

    async def scenario(store: Store) -> tuple[bool, bool]:
        await revoke_token_claims(store, {"jti": "long", "exp": exp})
        await store.revoke("direct", expires_at=exp)
        return await store.is_revoked({"jti": "long"}), await store.is_revoked({"jti": "direct"})

    assert run(store, scenario) == (True, True)


def test_stores_are_revocation_and_single_use_stores(make_store: StoreFactory) -> None:
    store = make_store()
    assert isinstance(store, RevocationStore)
    assert isinstance(store, SingleUseStore)
    run(store, lambda store: asyncio.sleep(0))


def test_expired_token_leaves_nothing_behind(
    make_store: StoreFactory, request: pytest.FixtureRequest
) -> None:
    store = make_store()
    run(store, lambda store: store.revoke("gone", expires_at=int(time.time()) - 1))
    inspector = None if isinstance(store, InMemoryRevocationStore) else sync_redis_for(request)
    assert not holds(store, "gone", inspector)


#: Tokens past their exp: ``still_verifies`` while within the verifier's leeway.
LATE_TOKENS = [
    pytest.param(-5, 30, True, id="expired-but-within-leeway"),
    pytest.param(-5, 0, False, id="expired-no-leeway"),
    pytest.param(-31, 30, False, id="expired-beyond-leeway"),
]


@pytest.mark.parametrize(("lifetime", "leeway", "still_verifies"), LATE_TOKENS)
def test_leeway_keeps_entries_while_the_verifier_still_accepts(
    make_store: StoreFactory, lifetime: int, leeway: int, still_verifies: bool
) -> None:
    store = make_store(leeway_seconds=leeway)

    async def scenario(store: Store) -> bool:
        await store.revoke("late", expires_at=int(time.time()) + lifetime)
        return await store.is_revoked({"jti": "late"})

    assert run(store, scenario) is still_verifies


@pytest.mark.parametrize(
    "minter",
    [
        pytest.param(lambda settings: mint_token("alice", jti="pyjwt-jti"), id="pyjwt"),
        pytest.param(lambda settings: create_jwt_token("alice", settings=settings), id="helper"),
    ],
)
def test_revoke_token_claims_uses_jti_and_exp(
    make_store: StoreFactory, settings: JWTSettings, minter: Callable[[JWTSettings], str]
) -> None:
    claims = verify_jwt_token(minter(settings), settings=settings)
    other = verify_jwt_token(create_jwt_token("alice", settings=settings), settings=settings)
    store = make_store()

    async def scenario(store: Store) -> tuple[bool, bool]:
        await revoke_token_claims(store, claims)
        return await store.is_revoked(claims), await store.is_revoked(other)

    assert run(store, scenario) == (True, False)


@pytest.mark.parametrize("method", RECORDING_METHODS)
@pytest.mark.parametrize("jti", [pytest.param("", id="empty"), pytest.param(None, id="none")])
def test_revoke_refuses_a_missing_jti(make_store: StoreFactory, jti: Any, method: str) -> None:
    store = make_store()

    async def scenario(store: Store) -> None:
        await getattr(store, method)(jti, expires_at=int(time.time()) + 60)

    with pytest.raises(ValueError, match="jti"):
        run(store, scenario)


# --- single use: revoke_once ----------------------------------------------------------------

ONCE = "revoke_once"
REVOKE = "revoke"


@pytest.mark.parametrize(
    ("steps", "answers", "revoked"),
    [
        pytest.param([(ONCE, "a", 3600)], [True], True, id="first"),
        pytest.param([(ONCE, "a", 3600), (ONCE, "a", 3600)], [True, False], True, id="second"),
        pytest.param(
            [(ONCE, "a", 3600), (ONCE, "a", 3600), (ONCE, "a", 3600)],
            [True, False, False],
            True,
            id="third",
        ),
        pytest.param([(ONCE, "a", 3600), (ONCE, "b", 3600)], [True, True], True, id="other-jti"),
        pytest.param([(ONCE, "a", 60), (ONCE, "a", 3600)], [True, False], True, id="later-exp"),
        pytest.param([(REVOKE, "a", 3600), (ONCE, "a", 3600)], [None, False], True, id="revoked"),
        pytest.param([(ONCE, "a", 3600), (REVOKE, "a", 3600)], [True, None], True, id="and-revoke"),
        pytest.param([(ONCE, "a", -10)], [True], False, id="expired"),
        pytest.param([(ONCE, "a", -10), (ONCE, "a", 3600)], [True, True], True, id="expired-first"),
        pytest.param([(ONCE, "a", 0), (ONCE, "a", 0)], [True, True], False, id="expiring-now"),
    ],
)
def test_revoke_once_is_true_only_for_the_first_caller(
    make_store: StoreFactory,
    steps: list[tuple[str, str, int]],
    answers: list[bool | None],
    revoked: bool,
) -> None:
    """``revoked``: whether the token "a" is refused afterwards."""
    store = make_store()

    async def scenario(store: Store) -> tuple[list[bool | None], bool]:
        now = int(time.time())
        results = [
            await getattr(store, method)(jti, expires_at=now + lifetime)
            for method, jti, lifetime in steps
        ]
        return results, await store.is_revoked({"jti": "a"})

    assert run(store, scenario) == (answers, revoked)


@pytest.mark.parametrize(("lifetime", "leeway", "still_verifies"), LATE_TOKENS)
def test_revoke_once_of_an_expired_token_is_true_and_records_nothing(
    make_store: StoreFactory,
    request: pytest.FixtureRequest,
    lifetime: int,
    leeway: int,
    still_verifies: bool,
) -> None:
    """While the verifier still accepts the token (leeway) it is recorded like any other."""
    store = make_store(leeway_seconds=leeway)

    async def scenario(store: Store) -> tuple[bool, bool, bool]:
        expires_at = int(time.time()) + lifetime
        first = await store.revoke_once("late", expires_at=expires_at)
        second = await store.revoke_once("late", expires_at=expires_at)
        return first, second, await store.is_revoked({"jti": "late"})

    assert run(store, scenario) == (True, not still_verifies, still_verifies)
    inspector = None if isinstance(store, InMemoryRevocationStore) else sync_redis_for(request)
    assert holds(store, "late", inspector) is still_verifies


def test_revoke_once_is_atomic(make_store: StoreFactory) -> None:
    store = make_store()

    async def race(store: Store) -> list[bool]:
        expires_at = int(time.time()) + 60
        return await asyncio.gather(
            *(store.revoke_once("same-jti", expires_at=expires_at) for _ in range(20))
        )

    assert sorted(run(store, race)) == [False] * 19 + [True]


@pytest.mark.parametrize(
    ("leeway", "expired_ago", "expected"),
    [
        pytest.param(10, 5, True, id="expired-within-the-leeway"),
        pytest.param(10, 15, False, id="expired-past-the-leeway"),
        pytest.param(0, 5, False, id="no-leeway"),
    ],
)
def test_from_settings_keeps_entries_for_the_settings_leeway(
    make_store_from_settings: SettingsStoreFactory, leeway: int, expired_ago: int, expected: bool
) -> None:
    """A token that expired less than ``JWT_LEEWAY_SECONDS`` ago still verifies, so its
    revocation must still be recorded and refused; past the leeway, it is a no-op."""
    settings = JWTSettings(secret=SECRET, leeway_seconds=leeway)
    store = make_store_from_settings(settings)

    async def scenario(store: Store) -> bool:
        await store.revoke("late", expires_at=int(time.time()) - expired_ago)
        return await store.is_revoked({"jti": "late"})

    assert run(store, scenario) is expected
