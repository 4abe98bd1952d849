"""Litestar, Quart and Django (its ASGI handler) behind the middleware: the allowlist, 401
with its challenge, and the user id where each framework's handlers read the ASGI scope
(Litestar ``request.scope["state"]``, Quart ``request.scope``, Django ``request.scope``).
Litestar and Quart run their lifespan through the middleware; Django refuses lifespan
scopes, so its start-up happens at the first request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from tests.helpers import SECRET, bearer, mint_token
from tests.hosts.apps import FRAMEWORKS, guarded
from tests.wire.exchange import INVALID, expected_challenge


@dataclass(frozen=True)
class Case:
    path: str
    headers: dict[str, str]
    status: int
    user_id: str | None = None
    #: The challenge's error and description for a 401 (``None``, ``None``: no token).
    error: tuple[str | None, str | None] = (None, None)


#: Minted with PyJWT directly, not with our helper, as a second witness.
NOT_CANONICAL = "The request path is not canonical."
PYJWT_TOKEN = jwt.encode({"sub": "user-9", "exp": 4_102_444_800}, SECRET, algorithm="HS256")

CASES = [
    pytest.param(Case("/health", {}, 200, None), id="public-without-token"),
    pytest.param(Case("/health", bearer("not.a.token"), 200, None), id="public-bad-token"),
    pytest.param(Case("/health", bearer(mint_token("user-2")), 200, "user-2"), id="public-token"),
    pytest.param(Case("/private", {}, 401), id="private-without-token"),
    pytest.param(
        Case("/private", bearer("not.a.token"), 401, error=("invalid_token", INVALID)),
        id="private-bad-token",
    ),
    pytest.param(
        Case(
            "/private",
            bearer(mint_token("user-1", lifetime=-60)),
            401,
            error=("invalid_token", "The access token expired."),
        ),
        id="private-expired",
    ),
    pytest.param(Case("/private", bearer(mint_token("user-1")), 200, "user-1"), id="private"),
    pytest.param(Case("/private", bearer(PYJWT_TOKEN), 200, "user-9"), id="private-pyjwt"),
    # A test client normalises "/health/../private" itself; encoded dots reach the app.
    pytest.param(
        Case(
            "/health/%2e%2e/private",
            bearer(mint_token()),
            400,
            error=("invalid_request", NOT_CANONICAL),
        ),
        id="encoded-dot-dot",
    ),
]


def reply_of(framework: str, case: Case) -> Any:
    build, lifespan = FRAMEWORKS[framework]
    client = TestClient(guarded(build()))
    if lifespan:
        with client:
            return client.get(case.path, headers=case.headers)
    return client.get(case.path, headers=case.headers)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_each_framework_gets_the_same_answers(framework: str, case: Case) -> None:
    reply = reply_of(framework, case)
    assert reply.status_code == case.status
    if case.status == 200:
        assert reply.json() == {"user_id": case.user_id}
        assert "www-authenticate" not in reply.headers
    else:
        assert reply.headers["www-authenticate"] == expected_challenge(*case.error)
        assert reply.headers["cache-control"] == "no-store"
