"""``revoke_token_claims``: which verified claims it can revoke, and how it reads ``exp``."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from jwt_middleware.revocation import revoke_token_claims
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from tests.helpers import FakeClock


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        pytest.param({"sub": "u", "exp": 2**31}, "no jti", id="no-jti"),
        pytest.param({"sub": "u", "exp": 2**31, "jti": ""}, "no jti", id="empty-jti"),
        pytest.param({"sub": "u", "jti": "a"}, "no numeric exp", id="no-exp"),
        pytest.param({"sub": "u", "jti": "a", "exp": "soon"}, "no numeric exp", id="text-exp"),
        pytest.param({"sub": "u", "jti": "a", "exp": True}, "no numeric exp", id="bool-exp"),
        pytest.param({"sub": "u", "jti": "a", "exp": math.inf}, "no numeric exp", id="inf-exp"),
    ],
)
def test_revoke_token_claims_refuses_what_it_cannot_revoke(
    claims: dict[str, Any], message: str
) -> None:
    store = InMemoryRevocationStore()
    with pytest.raises(ValueError, match=message):
        asyncio.run(revoke_token_claims(store, claims))
    assert len(store) == 0


def test_revoke_token_claims_rounds_fractional_exp_up() -> None:
    clock = FakeClock(1000.0)
    store = InMemoryRevocationStore(clock=clock)
    asyncio.run(revoke_token_claims(store, {"jti": "a", "exp": 1000.2}))
    clock.advance(0.9)
    assert asyncio.run(store.is_revoked({"jti": "a"})) is True
