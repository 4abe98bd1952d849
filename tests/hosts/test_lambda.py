"""AWS Lambda through Mangum: an API Gateway HTTP API (v2) event and an ALB event get the
answers any server gets, although neither carries a ``raw_path``: the canonical-path check
refuses dot segments, empty segments and double encodings from the decoded path alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mangum import Mangum

from jwt_middleware import JWTSettings
from tests.helpers import SECRET, bearer, build_app, mint_token
from tests.hosts.lambda_events import alb_event, header_of, http_api_event
from tests.wire.exchange import expected_challenge

NOT_CANONICAL = expected_challenge("invalid_request", "The request path is not canonical.")
EVENTS = {"http-api-v2": http_api_event, "alb": alb_event}
TOKEN = mint_token("user-1")


def handler() -> Mangum:
    # Each invocation is one request here: the middleware starts at the first one.
    return Mangum(build_app(JWTSettings(secret=SECRET)), lifespan="off")


def invoke(
    event_of: Callable[[str, dict[str, str]], dict[str, Any]], path: str, **headers: str
) -> Any:
    response: dict[str, Any] = handler()(event_of(path, headers), object())  # type: ignore[arg-type]
    return response


@pytest.mark.parametrize(
    ("path", "headers", "status", "user_id"),
    [
        pytest.param("/health", {}, 200, None, id="public"),
        pytest.param("/static/app.css", {}, 200, None, id="public-prefix"),
        pytest.param("/private", bearer(TOKEN), 200, "user-1", id="private-with-token"),
        pytest.param("/private", {}, 401, None, id="private-without-token"),
    ],
)
@pytest.mark.parametrize("event", list(EVENTS))
def test_lambda_events_get_the_usual_answers(
    event: str, path: str, headers: dict[str, str], status: int, user_id: str | None
) -> None:
    response = invoke(EVENTS[event], path, **headers)
    assert response["statusCode"] == status
    if status == 200:
        assert json.loads(response["body"])["user_id"] == user_id
    else:
        assert header_of(response, "www-authenticate") == expected_challenge(None, None)


#: Paths that would reach a private route while looking public, as the event carries them.
TRICKS = [
    pytest.param("/static/../private", id="dot-dot"),
    pytest.param("/static/./../private", id="dot-and-dot-dot"),
    pytest.param("/static//private", id="empty-segment"),
    pytest.param("/static/%2e%2e/private", id="encoded-dots"),
    pytest.param("/static/%252e%252e/private", id="double-encoded-dots"),
    pytest.param("/static/..%2fprivate", id="encoded-slash"),
    pytest.param("/static/%5c..%5cprivate", id="encoded-backslash"),
    pytest.param("/static/\uff0e\uff0e/private", id="fullwidth-dots"),
]


@pytest.mark.parametrize("path", TRICKS)
@pytest.mark.parametrize("event", list(EVENTS))
def test_path_tricks_are_refused_from_the_decoded_path_alone(event: str, path: str) -> None:
    """A valid token changes nothing: the path is refused before any token is read."""
    for headers in ({}, bearer(TOKEN)):
        response = invoke(EVENTS[event], path, **headers)
        assert response["statusCode"] == 400, (event, path)
        assert header_of(response, "www-authenticate") == NOT_CANONICAL
