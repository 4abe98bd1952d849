"""Store options are checked at construction."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.services import REDIS_URL

# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: InMemoryRevocationStore(max_entries=0), id="memory-max-entries-0"),
        pytest.param(lambda: InMemoryRevocationStore(leeway_seconds=-1), id="memory-leeway"),
        pytest.param(lambda: RedisRevocationStore(REDIS_URL, key_prefix=""), id="empty-prefix"),
        pytest.param(
            # Not one of the two on_error values the type allows, on purpose.
            lambda: RedisRevocationStore(REDIS_URL, on_error="ignore"),  # type: ignore[arg-type]
            id="on-error",
        ),
        pytest.param(lambda: RedisRevocationStore(REDIS_URL, timeout_seconds=0), id="timeout-0"),
        pytest.param(
            lambda: RedisRevocationStore(REDIS_URL, timeout_seconds=math.nan), id="timeout-nan"
        ),
        pytest.param(lambda: RedisRevocationStore(REDIS_URL, leeway_seconds=-1), id="leeway"),
        pytest.param(lambda: RedisRevocationStore.from_url("http://127.0.0.1/"), id="scheme"),
    ],
)
def test_bad_options_fail_at_construction(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each row has its own message
        build()
