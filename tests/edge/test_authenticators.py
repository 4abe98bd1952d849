"""The middleware and its authenticators: several tried in order (the first that finds a
credential of its kind decides, and the first one's challenge answers a request with none),
``authenticators=`` refused beside the options of the default one, and the challenge's
scheme taken from the error rather than written into the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Scope

from jwt_middleware import (
    ConfigurationError,
    InvalidTokenError,
    JWTAuthMiddleware,
    JWTSettings,
    MissingTokenError,
    TokenVerifier,
)
from jwt_middleware.edge.answers import challenge_response
from jwt_middleware.types import VerifiedToken, freeze
from jwt_middleware.verification.authenticator import Authenticator
from jwt_middleware.verification.bearer import BearerAuthenticator
from tests.docs.pages import page_namespace
from tests.helpers import OTHER_SECRET, SECRET, bearer, mint_token

API_KEY = "key-of-the-billing-service"
GOOD_BEARER = "good-bearer"
BAD_BEARER = "bad-bearer"
GOOD_KEY = "good-key"
BAD_KEY = "bad-key"
WAITING = "waiting"


class _WaitingAuthenticator:
    """``X-Wait: <name>``, answered only after a wait: ``authenticate_now`` says ``None``."""

    bearer_methods = ()

    def _name(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"x-wait":
                text: str = value.decode()
                return text
        raise MissingTokenError

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        self._name(scope)
        return None

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        name = self._name(scope)
        await asyncio.sleep(0)
        return VerifiedToken(freeze({"sub": name}), name, (), None, math.inf)

    async def prefetch(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _api_keys() -> Authenticator:
    example = page_namespace("docs/authenticators.md")
    known = {hashlib.sha256(API_KEY.encode()).digest(): ("billing", ())}
    authenticator: Authenticator = example["ApiKeyAuthenticator"](known)  # type: ignore[operator]
    return authenticator


def _client(order: str) -> TestClient:
    settings = JWTSettings(secret=SECRET)
    by_name = {
        "key": _api_keys(),
        "bearer": BearerAuthenticator(TokenVerifier(settings)),
        "wait": _WaitingAuthenticator(),
    }

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.user_id)

    app = Starlette(routes=[Route("/whoami", whoami)])
    app.add_middleware(
        JWTAuthMiddleware,
        settings=settings,
        authenticators=[by_name[name] for name in order.split(",")],
    )
    return TestClient(app)


def _headers(credentials: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for credential in credentials:
        if credential == GOOD_BEARER:
            headers.update(bearer(mint_token("alice")))
        elif credential == BAD_BEARER:
            headers.update(bearer(mint_token("alice", secret=OTHER_SECRET)))
        elif credential == WAITING:
            headers["X-Wait"] = "patient"
        else:
            headers["X-API-Key"] = API_KEY if credential == GOOD_KEY else "a-guess"
    return headers


@pytest.mark.parametrize(
    ("order", "credentials", "status", "answer"),
    [
        pytest.param("key,bearer", (GOOD_BEARER,), 200, "alice", id="second-one-finds-it"),
        pytest.param("key,bearer", (GOOD_KEY,), 200, "billing", id="first-one-finds-it"),
        pytest.param("key,bearer", (), 401, 'ApiKey realm="api"', id="none-first-challenges"),
        pytest.param("bearer,key", (), 401, 'Bearer realm="api"', id="none-other-order"),
        pytest.param(
            "key,bearer", (BAD_KEY, GOOD_BEARER), 401, "ApiKey", id="bad-first-one-decides"
        ),
        pytest.param("bearer,key", (BAD_BEARER, GOOD_KEY), 401, "Bearer", id="bad-bearer-decides"),
        pytest.param("bearer,key", (GOOD_BEARER, BAD_KEY), 200, "alice", id="good-first-wins"),
        pytest.param("key,bearer", (BAD_BEARER,), 401, "Bearer", id="bad-second-one-refuses"),
        pytest.param("wait,key", (GOOD_KEY,), 200, "billing", id="waiting-one-has-none"),
        pytest.param("wait,key", (WAITING, BAD_KEY), 200, "patient", id="waiting-one-decides"),
        pytest.param("key,wait", (WAITING,), 200, "patient", id="waiting-second-one"),
        pytest.param("key,wait", (WAITING, BAD_KEY), 401, "ApiKey", id="before-the-waiting"),
    ],
)
def test_authenticators_are_tried_in_order(
    order: str, credentials: tuple[str, ...], status: int, answer: str
) -> None:
    reply = _client(order).get("/whoami", headers=_headers(credentials))
    assert reply.status_code == status
    if status == 200:
        assert reply.text == answer
    else:
        assert reply.headers["www-authenticate"].startswith(answer)


def _verifier() -> TokenVerifier:
    return TokenVerifier(JWTSettings(secret=SECRET))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"verifier": _verifier()}, id="verifier"),
        pytest.param({"token_query_param": "access_token"}, id="token-query-param"),
        pytest.param({"check_claims": lambda claims: True}, id="check-claims"),
    ],
)
def test_authenticators_with_an_option_of_the_default_one_is_refused(
    options: dict[str, Any],
) -> None:
    middleware = JWTAuthMiddleware(
        PlainTextResponse("never"),
        settings=JWTSettings(secret=SECRET),
        authenticators=[BearerAuthenticator(_verifier())],
        **options,
    )
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert "not both" in str(middleware.configuration_error)
    assert TestClient(middleware).get("/").status_code == 503


def test_no_authenticator_at_all_is_refused() -> None:
    middleware = JWTAuthMiddleware(
        PlainTextResponse("never"), settings=JWTSettings(secret=SECRET), authenticators=[]
    )
    assert isinstance(middleware.configuration_error, ConfigurationError)


def test_the_settings_come_from_a_bearer_authenticator_without_an_environment() -> None:
    settings = JWTSettings(secret=SECRET, realm="orders")
    middleware = JWTAuthMiddleware(
        PlainTextResponse("never"), authenticators=[BearerAuthenticator(TokenVerifier(settings))]
    )
    assert middleware.configuration_error is None
    assert middleware.settings is settings


class _CustomSchemeError(InvalidTokenError):
    scheme = "Custom"


@pytest.mark.parametrize(
    ("error", "challenge"),
    [
        pytest.param(InvalidTokenError(), "Bearer", id="bearer-by-default"),
        pytest.param(_CustomSchemeError(), "Custom", id="the-errors-own"),
    ],
)
def test_the_challenge_names_the_errors_scheme(error: InvalidTokenError, challenge: str) -> None:
    expected = (
        f'{challenge} realm="api", error="invalid_token", '
        'error_description="The access token is invalid."'
    )
    assert challenge_response(error, realm="api").headers["www-authenticate"] == expected

    async def raising(request: Request) -> PlainTextResponse:
        raise error

    app = Starlette(routes=[Route("/raise", raising)])
    app.add_middleware(JWTAuthMiddleware, public=["/raise"], settings=JWTSettings(secret=SECRET))
    reply = TestClient(app).get("/raise")
    assert reply.headers["www-authenticate"] == expected
