"""One contract, every authenticator: the bearer JWT from the header, from the query string,
from a cookie (alone, and behind the header as ``cookie_name=`` builds it), the API-key
authenticator that docs/authenticators.md documents (run from the page
itself, so the example cannot drift from the contract), and a chain of the two.

Each answers a request without its kind of credential with ``MissingTokenError`` (so the
next authenticator may try); a bad credential with its own error, whose challenge names its
scheme; a good one with the identity the app then reads in ``request.state``, answered again
without a coroutine; ``authenticate_now`` agrees with ``authenticate`` on each; and each
survives being started and closed twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.types import Scope

from jwt_middleware import (
    AuthenticationError,
    JWTAuthMiddleware,
    JWTSettings,
    MissingTokenError,
    TokenVerifier,
)
from jwt_middleware.verification.authenticator import Authenticator
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.chain import AuthenticatorChain
from jwt_middleware.verification.cookie import CookieAuthenticator
from tests.asgi import call, http_scope
from tests.docs.pages import page_namespace
from tests.helpers import OTHER_SECRET, SECRET, TOKEN_COOKIE, mint_token

API_KEY = b"key-of-the-billing-service"


@dataclass(frozen=True)
class Case:
    """An authenticator, and how a request carries a good and a bad credential for it."""

    build: Callable[[JWTSettings], Authenticator]
    good: Callable[[], dict[str, Any]]
    bad: Callable[[], dict[str, Any]]
    scheme: str
    subject: str


def _header_scope(name: bytes, value: bytes) -> dict[str, Any]:
    return http_scope("/whoami", headers=[(b"host", b"testserver"), (name, value)])


def _query_scope(token: str) -> dict[str, Any]:
    return http_scope("/whoami", query_string=b"access_token=" + token.encode())


def _cookie_scope(token: str) -> dict[str, Any]:
    return _header_scope(b"cookie", f"theme=dark; {TOKEN_COOKIE}={token}".encode())


def _cookie_behind_header(settings: JWTSettings) -> Authenticator:
    verifier = TokenVerifier(settings)
    return CookieAuthenticator(
        verifier, cookie_name=TOKEN_COOKIE, header=BearerAuthenticator(verifier)
    )


def _api_keys(settings: JWTSettings) -> Authenticator:
    example = page_namespace("docs/authenticators.md")
    known = {hashlib.sha256(API_KEY).digest(): ("billing", ("reports",))}
    authenticator: Authenticator = example["ApiKeyAuthenticator"](known)  # type: ignore[operator]
    return authenticator


CASES = [
    pytest.param(
        Case(
            build=lambda settings: BearerAuthenticator(TokenVerifier(settings)),
            good=lambda: _header_scope(b"authorization", f"Bearer {mint_token('alice')}".encode()),
            bad=lambda: _header_scope(
                b"authorization", f"Bearer {mint_token('alice', secret=OTHER_SECRET)}".encode()
            ),
            scheme="Bearer",
            subject="alice",
        ),
        id="bearer-header",
    ),
    pytest.param(
        Case(
            build=lambda settings: BearerAuthenticator(
                TokenVerifier(settings), query_param="access_token"
            ),
            good=lambda: _query_scope(mint_token("alice")),
            bad=lambda: _query_scope(mint_token("alice", secret=OTHER_SECRET)),
            scheme="Bearer",
            subject="alice",
        ),
        id="bearer-query",
    ),
    pytest.param(
        Case(
            build=lambda settings: CookieAuthenticator(
                TokenVerifier(settings), cookie_name=TOKEN_COOKIE
            ),
            good=lambda: _cookie_scope(mint_token("alice")),
            bad=lambda: _cookie_scope(mint_token("alice", secret=OTHER_SECRET)),
            scheme="Bearer",
            subject="alice",
        ),
        id="cookie",
    ),
    pytest.param(
        Case(
            build=_cookie_behind_header,
            good=lambda: _cookie_scope(mint_token("alice")),
            bad=lambda: _header_scope(
                b"authorization", f"Bearer {mint_token('alice', secret=OTHER_SECRET)}".encode()
            ),
            scheme="Bearer",
            subject="alice",
        ),
        id="cookie-behind-header",
    ),
    pytest.param(
        Case(
            build=_api_keys,
            good=lambda: _header_scope(b"x-api-key", API_KEY),
            bad=lambda: _header_scope(b"x-api-key", b"a-guess"),
            scheme="ApiKey",
            subject="billing",
        ),
        id="docs-api-key",
    ),
    pytest.param(
        Case(
            # A chain whose first member finds no credential here: the second decides.
            build=lambda settings: AuthenticatorChain(
                [_api_keys(settings), BearerAuthenticator(TokenVerifier(settings))]
            ),
            good=lambda: _header_scope(b"authorization", f"Bearer {mint_token('alice')}".encode()),
            bad=lambda: _header_scope(
                b"authorization", f"Bearer {mint_token('alice', secret=OTHER_SECRET)}".encode()
            ),
            scheme="Bearer",
            subject="alice",
        ),
        id="chain-api-key-then-bearer",
    ),
]


def _settings() -> JWTSettings:
    return JWTSettings(secret=SECRET)


def _outcome(authenticator: Authenticator, scope: Scope) -> Any:
    async def run() -> Any:
        try:
            return await authenticator.authenticate(scope)
        except AuthenticationError as exc:
            return exc

    return asyncio.run(run())


def _outcome_now(authenticator: Authenticator, scope: Scope) -> Any:
    try:
        return authenticator.authenticate_now(scope)
    except AuthenticationError as exc:
        return exc


async def _whoami(scope: Scope, receive: Any, send: Any) -> None:
    body = str(scope["state"]["user_id"]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("case", CASES)
def test_it_is_an_authenticator(case: Case) -> None:
    assert isinstance(case.build(_settings()), Authenticator)


@pytest.mark.parametrize("case", CASES)
def test_no_credential_of_its_kind_is_missing(case: Case) -> None:
    authenticator = case.build(_settings())
    for scope in [http_scope("/whoami"), _header_scope(b"authorization", b"Basic dXNlcjpwdw==")]:
        assert isinstance(_outcome_now(authenticator, scope), MissingTokenError)
        assert isinstance(_outcome(authenticator, scope), MissingTokenError)


@pytest.mark.parametrize("case", CASES)
def test_a_bad_credential_is_refused_with_its_own_scheme(case: Case) -> None:
    authenticator = case.build(_settings())
    error = _outcome(authenticator, case.bad())
    assert isinstance(error, AuthenticationError)
    assert not isinstance(error, MissingTokenError)
    assert error.scheme == case.scheme
    assert type(_outcome_now(authenticator, case.bad())) is type(error)
    middleware = JWTAuthMiddleware(_whoami, settings=_settings(), authenticators=[authenticator])
    answer = call(middleware, case.bad())
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith(f'{case.scheme} realm="api", error=')


@pytest.mark.parametrize("case", CASES)
def test_a_good_credential_is_the_identity_in_the_request(case: Case) -> None:
    authenticator = case.build(_settings())
    middleware = JWTAuthMiddleware(_whoami, settings=_settings(), authenticators=[authenticator])
    answer = call(middleware, case.good())
    assert (answer.status, answer.body) == (200, case.subject.encode())


@pytest.mark.parametrize("case", CASES)
def test_a_credential_used_again_is_answered_without_a_coroutine(case: Case) -> None:
    authenticator = case.build(_settings())
    scope = case.good()
    verified = _outcome(authenticator, scope)
    assert verified.subject == case.subject
    assert authenticator.authenticate_now(scope) == verified


@pytest.mark.parametrize("case", CASES)
def test_prefetch_and_aclose_may_each_run_twice(case: Case) -> None:
    authenticator = case.build(_settings())

    async def run() -> None:
        await authenticator.prefetch()
        await authenticator.prefetch()
        await authenticator.aclose()
        await authenticator.aclose()

    asyncio.run(run())
