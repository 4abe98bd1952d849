"""Refusals are built once and sent as raw ASGI messages, byte for byte what Starlette's
``Response`` from :func:`challenge_response` sends."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest
from starlette.types import Message, Scope

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.edge.answers import Answers, ErrorBody, challenge_response, problem_details
from jwt_middleware.errors import (
    AuthenticationError,
    AuthenticationUnavailableError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidRequestError,
    InvalidTokenError,
    MissingTokenError,
    TokenExpiredError,
)
from tests.helpers import OTHER_SECRET, mint_token


def _custom_body(error: AuthenticationError) -> tuple[str, bytes]:
    return "text/plain", error.description.encode()


#: (error, scopes of the resource, body hook, resource metadata URL)
CASES: dict[str, tuple[AuthenticationError, Collection[str], ErrorBody | None, str | None]] = {
    "missing": (MissingTokenError(), (), None, None),
    "missing-with-scopes": (MissingTokenError(), frozenset({"b", "a"}), None, None),
    "invalid": (InvalidTokenError(), (), None, "https://api.example/.well-known/x"),
    "expired": (TokenExpiredError(), (), None, None),
    "malformed-header": (
        InvalidRequestError("More than one Authorization header."),
        (),
        None,
        None,
    ),
    "insufficient-scope": (InsufficientScopeError(scopes=["write"]), ("write",), None, None),
    "step-up": (
        InsufficientUserAuthenticationError(acr_values=["mfa"], max_age=60),
        (),
        None,
        None,
    ),
    "unavailable": (AuthenticationUnavailableError(), (), None, None),
    "problem-details": (InvalidTokenError(), ("read",), problem_details, None),
    "custom-body": (TokenExpiredError(), (), _custom_body, None),
}


def _scope(kind: str) -> Scope:
    scope: Scope = {"type": kind, "path": "/", "headers": []}
    return scope


async def _sent(answers: Answers, error: AuthenticationError, scopes: Collection[str]) -> Any:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await answers.send(error, _scope("http"), send, scopes=scopes)
    return sent


async def _from_starlette(
    error: AuthenticationError,
    scopes: Collection[str],
    body: ErrorBody | None,
    metadata: str | None,
) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request"}

    response = challenge_response(
        error, realm="api", resource_metadata=metadata, body=body, scopes=scopes
    )
    await response(_scope("http"), receive, send)
    return sent


@pytest.mark.parametrize(("error", "scopes", "body", "metadata"), CASES.values(), ids=list(CASES))
def test_sent_answers_are_those_of_a_starlette_response(
    error: AuthenticationError,
    scopes: Collection[str],
    body: ErrorBody | None,
    metadata: str | None,
) -> None:
    answers = Answers(realm="api", resource_metadata=metadata, body=body)
    expected = asyncio.run(_from_starlette(error, scopes, body, metadata))
    for _ in range(2):  # built the first time, remembered the second
        assert asyncio.run(_sent(answers, error, scopes)) == expected


def test_a_websocket_gets_the_answer_as_a_denial_response() -> None:
    answers = Answers(realm="api")
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(answers.send(InvalidTokenError(), _scope("websocket"), send))
    http = asyncio.run(_sent(answers, InvalidTokenError(), ()))
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert [{**m, "type": ""} for m in sent] == [{**m, "type": ""} for m in http]


def test_a_changed_answer_does_not_change_the_next_one() -> None:
    """A middleware outside may add headers to the message it is given: the next refusal
    still gets the answer as built."""
    answers = Answers(realm="api")
    first = asyncio.run(_sent(answers, InvalidTokenError(), ()))
    first[0]["headers"].append((b"x-added", b"1"))
    second = asyncio.run(_sent(answers, InvalidTokenError(), ()))
    assert (b"x-added", b"1") not in second[0]["headers"]


def test_refusals_build_no_response_per_request(
    settings: JWTSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware's refusals are built when it is, not for each forged token."""
    built: list[AuthenticationError] = []
    original = Answers.response

    def counting(self: Answers, error: AuthenticationError, **options: Any) -> Any:
        built.append(error)
        return original(self, error, **options)

    monkeypatch.setattr(Answers, "response", counting)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise AssertionError("a refused request reached the app")

    middleware = JWTAuthMiddleware(app, settings=settings)
    built.clear()
    forged = mint_token("mallory", secret=OTHER_SECRET).encode()
    requests = [
        [(b"authorization", b"Bearer " + forged)],
        [],
        [(b"authorization", b"Bearer not~a~jws")],
    ]
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run() -> None:
        for headers in requests * 5:
            scope = {"type": "http", "method": "GET", "path": "/private", "headers": headers}
            await middleware(scope, receive, send)

    asyncio.run(run())
    assert statuses == [401, 401, 401] * 5
    assert built == []
