"""Marking a refresh token used: atomic, and kept for as long as the token still verifies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import Engine

from demo_app.sessions import Sessions
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import SECRET
from tests.services import REDIS_URL


def _mark_used(sessions: Sessions, claims_list: list[dict[str, Any]]) -> list[bool]:
    """Mark each refresh token used, all at once, on one event loop; then close the sessions."""

    async def scenario() -> list[bool]:
        try:
            return await asyncio.gather(
                *(sessions.mark_refresh_token_used(claims) for claims in claims_list)
            )
        finally:
            await sessions.aclose()

    return asyncio.run(scenario())


def test_marking_used_is_atomic(
    demo_settings: DemoSettings, jwt_settings: JWTSettings, engine: Engine
) -> None:
    sessions = Sessions.from_settings(demo_settings, jwt_settings, engine=engine)
    claims = {"jti": "same-jti", "exp": int(time.time()) + 60}

    results = _mark_used(sessions, [claims] * 20)

    assert sorted(results) == [False] * 19 + [True]


@pytest.mark.parametrize(
    ("lifetime", "second_use"),
    [
        pytest.param(600, False, id="unexpired"),
        pytest.param(-5, False, id="expired-but-within-leeway"),
        # Past the leeway the token no longer verifies, so nothing needs remembering.
        pytest.param(-31, True, id="expired-beyond-leeway"),
    ],
)
def test_a_used_mark_lasts_while_the_token_verifies(
    demo_settings: DemoSettings, engine: Engine, lifetime: int, second_use: bool
) -> None:
    """The verifier's leeway reaches the store: a token it still accepts stays used."""
    sessions = Sessions.from_settings(
        demo_settings, JWTSettings(secret=SECRET, leeway_seconds=30), engine=engine
    )
    claims = {"jti": "late-jti", "exp": int(time.time()) + lifetime}

    async def use_twice() -> tuple[bool, bool]:
        try:
            first = await sessions.mark_refresh_token_used(claims)
            return first, await sessions.mark_refresh_token_used(claims)
        finally:
            await sessions.aclose()

    assert asyncio.run(use_twice()) == (True, second_use)


def test_redis_used_token_key_lives_until_the_token_expires(
    redis_prefix: str, sync_redis: Any, database_url: str, engine: Engine
) -> None:
    settings = DemoSettings(
        database_url=database_url, redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    )
    sessions = Sessions.from_settings(
        settings, JWTSettings(secret=SECRET, leeway_seconds=30), engine=engine
    )

    assert _mark_used(sessions, [{"jti": "jti-1", "exp": int(time.time()) + 600}]) == [True]

    assert 600 <= sync_redis.ttl(f"{redis_prefix}refresh-used:jti-1") <= 631
