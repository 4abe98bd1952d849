"""Several instances in one process, on one database: logouts and refreshes on one are seen
by the others, with or without Redis; Redis keys expire with their tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.demo.accounts import cheap_passwords, login_pair, refresh
from tests.demo.sessions.refresh_tokens import REFRESH_REVOKED, REVOKED
from tests.helpers import SECRET, bearer
from tests.services import REDIS_URL


def _instances(
    count: int, tmp_path: Path, jwt_settings: JWTSettings, **options: Any
) -> list[TestClient]:
    """``count`` apps on one SQLite file, each with its own sessions object and event loop."""
    settings = DemoSettings(database_url=f"sqlite:///{tmp_path / 'shared.db'}", **options)
    return [
        TestClient(create_app(settings, jwt_settings, passwords=cheap_passwords()))
        for _ in range(count)
    ]


@pytest.mark.parametrize("store", ["database", "redis"])
def test_instances_share_logouts_and_refreshes(
    tmp_path: Path, jwt_settings: JWTSettings, store: str, request: pytest.FixtureRequest
) -> None:
    """Two instances on one database: without Redis the revocations are rows in it, so they
    are shared as well as they are with Redis."""
    options: dict[str, Any] = {}
    if store == "redis":
        options = {
            "redis_url": REDIS_URL,
            "redis_key_prefix": request.getfixturevalue("redis_prefix"),
        }
    one, two = _instances(2, tmp_path, jwt_settings, **options)
    with one, two:
        one.post("/auth/register", json={"email": "a@example.com", "password": "long enough"})
        access, refresh_token = login_pair(one, "a@example.com", "long enough")
        assert refresh(two, refresh_token).status_code == 200
        assert refresh(one, refresh_token).json() == REFRESH_REVOKED  # reuse seen by the other

        access, _ = login_pair(two, "a@example.com", "long enough")
        assert one.get("/auth/me", headers=bearer(access)).status_code == 200
        assert two.post("/auth/logout", headers=bearer(access)).status_code == 204
        assert one.get("/auth/me", headers=bearer(access)).json() == REVOKED


def test_redis_keys_expire_with_the_tokens(
    tmp_path: Path, jwt_settings: JWTSettings, redis_prefix: str, sync_redis: Any
) -> None:
    """Nothing is kept forever: each key's TTL ends after the token it concerns."""
    (app,) = _instances(
        1, tmp_path, jwt_settings, redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    )
    with app:
        app.post("/auth/register", json={"email": "a@example.com", "password": "long enough"})
        access, refresh_token = login_pair(app, "a@example.com", "long enough")
        refresh(app, refresh_token)
        app.post("/auth/logout", headers=bearer(access))

    keys = sorted(key.decode() for key in sync_redis.scan_iter(match=f"{redis_prefix}*"))
    kinds = sorted(key.removeprefix(redis_prefix).split(":")[0] for key in keys)
    assert kinds == ["family", "refresh-used", "revoked"]
    longest = (
        max(jwt_settings.expiry_seconds, jwt_settings.refresh_expiry_seconds)
        + 60
        + jwt_settings.leeway_seconds
    )
    for key in keys:
        assert 0 < sync_redis.ttl(key) <= longest, key
    assert SECRET not in "".join(keys)
