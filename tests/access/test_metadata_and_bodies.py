"""RFC 9728 Protected Resource Metadata (served, named in every challenge, made from the
policy) and the body hook (RFC 9457 problem details) that leaves status and challenge alone.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import ConfigurationError, JWTSettings
from jwt_middleware.edge.answers import ErrorBody, problem_details
from jwt_middleware.edge.metadata import metadata_path, metadata_url
from jwt_middleware.errors import AuthenticationError
from tests.helpers import SECRET, bearer, mint_token

from .apps import starlette_app

RESOURCE = "https://api.example.com/v1"
METADATA = "https://api.example.com/.well-known/oauth-protected-resource/v1"


def _settings(**options: Any) -> JWTSettings:
    return JWTSettings(secret=SECRET, algorithm="HS256", resource=RESOURCE, **options)


@pytest.mark.parametrize(
    ("resource", "path", "url"),
    [
        ("https://api.example.com", "/.well-known/oauth-protected-resource", None),
        ("https://api.example.com/", "/.well-known/oauth-protected-resource", None),
        ("https://api.example.com/mcp", "/.well-known/oauth-protected-resource/mcp", None),
        (
            "https://api.example.com:8443/a/b",
            "/.well-known/oauth-protected-resource/a/b",
            "https://api.example.com:8443/.well-known/oauth-protected-resource/a/b",
        ),
    ],
)
def test_where_the_metadata_lives(resource: str, path: str, url: str | None) -> None:
    # RFC 9728 section 3.1: the well-known part goes between the host and the path.
    assert metadata_path(resource) == path
    assert metadata_url(resource) == (url or "https://api.example.com" + path)


def test_the_metadata_document() -> None:
    settings = _settings(issuer=["https://idp.example/a", "https://idp.example/b"])
    client = TestClient(
        starlette_app(settings, scopes={"/todos": ["todos:read"], "POST /todos": ["todos:write"]})
    )
    reply = client.get("/.well-known/oauth-protected-resource/v1")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "resource": RESOURCE,
        "authorization_servers": ["https://idp.example/a", "https://idp.example/b"],
        "scopes_supported": ["reports:read", "todos:read", "todos:write"],  # a route declares one
        "bearer_methods_supported": ["header"],
    }
    assert client.head("/.well-known/oauth-protected-resource/v1").status_code == 200
    assert client.post("/.well-known/oauth-protected-resource/v1").status_code == 405


def test_query_tokens_and_a_name_are_in_the_document() -> None:
    settings = _settings(resource_name="To-do API")
    client = TestClient(starlette_app(settings, token_query_param="access_token"))
    document = client.get("/.well-known/oauth-protected-resource/v1").json()
    assert document["bearer_methods_supported"] == ["header", "query"]
    assert document["resource_name"] == "To-do API"


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        pytest.param({}, f'Bearer realm="api", resource_metadata="{METADATA}"', id="no-token"),
        pytest.param(
            bearer("not.a.token"),
            'Bearer realm="api", error="invalid_token", error_description="The access token '
            f'is invalid.", resource_metadata="{METADATA}"',
            id="bad-token",
        ),
    ],
)
def test_every_challenge_names_the_metadata(headers: dict[str, str], challenge: str) -> None:
    reply = TestClient(starlette_app(_settings())).get("/todos", headers=headers)
    assert reply.headers["www-authenticate"] == challenge


def test_the_resource_is_the_audience_by_default() -> None:
    client = TestClient(starlette_app(_settings()))
    assert client.get("/todos", headers=bearer(mint_token(aud=RESOURCE))).status_code == 200
    assert client.get("/todos", headers=bearer(mint_token(aud="https://other"))).status_code == 401
    assert client.get("/todos", headers=bearer(mint_token())).status_code == 401
    explicit = TestClient(starlette_app(_settings(audience="api")))
    assert explicit.get("/todos", headers=bearer(mint_token(aud="api"))).status_code == 200


@pytest.mark.parametrize(
    "resource",
    ["http://api.example.com/x", "https://a/b?c=1", "https://a/b#f", 'https://a/"b', "api"],
)
def test_a_resource_must_be_an_https_url(resource: str) -> None:
    with pytest.raises(ConfigurationError, match="JWT_RESOURCE"):
        JWTSettings(secret=SECRET, resource=resource)


@pytest.mark.parametrize(
    ("headers", "status", "document"),
    [
        pytest.param(
            {},
            401,
            {
                "type": "about:blank",
                "title": "authentication required",
                "status": 401,
                "detail": "Authentication required.",
            },
            id="no-token",
        ),
        pytest.param(
            bearer(mint_token(scope="")),
            403,
            {
                "type": "urn:ietf:params:oauth:error:insufficient_scope",
                "title": "insufficient scope",
                "status": 403,
                "detail": "The access token lacks the required scope.",
            },
            id="insufficient-scope",
        ),
    ],
)
def test_problem_details_keep_status_and_challenge(
    headers: dict[str, str], status: int, document: dict[str, Any]
) -> None:
    plain = TestClient(starlette_app(scopes={"/todos": ["x"]}))
    shaped = TestClient(starlette_app(scopes={"/todos": ["x"]}, error_body=problem_details))
    expected, reply = plain.get("/todos", headers=headers), shaped.get("/todos", headers=headers)
    assert reply.status_code == expected.status_code == status
    assert reply.headers["www-authenticate"] == expected.headers["www-authenticate"]
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json() == document


def _raising_body(error: AuthenticationError) -> tuple[str, bytes]:
    raise ValueError("hook message that quotes the request")


def _text_body(error: AuthenticationError) -> tuple[str, bytes]:
    return "text/plain", "not bytes"  # type: ignore[return-value]


def _no_body(error: AuthenticationError) -> tuple[str, bytes]:
    return None  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("hook", "logged_class"),
    [
        pytest.param(_raising_body, "ValueError", id="raises"),
        pytest.param(_text_body, "TypeError", id="str-not-bytes"),
        pytest.param(_no_body, "TypeError", id="returns-none"),
    ],
)
def test_a_failing_body_hook_gets_the_default_body(
    hook: ErrorBody, logged_class: str, caplog: pytest.LogCaptureFixture
) -> None:
    plain = TestClient(starlette_app(scopes={"/todos": ["x"]}))
    shaped = TestClient(
        starlette_app(scopes={"/todos": ["x"]}, error_body=hook), raise_server_exceptions=False
    )
    cases = [{}, bearer("not-a-token"), bearer(mint_token(scope=""))]
    with caplog.at_level(logging.ERROR, logger="jwt_middleware"):
        for headers in cases:
            expected = plain.get("/todos", headers=headers)
            reply = shaped.get("/todos", headers=headers)
            assert reply.status_code == expected.status_code
            assert reply.headers["www-authenticate"] == expected.headers["www-authenticate"]
            assert reply.content == expected.content
    failures = [r.getMessage() for r in caplog.records if "error_body hook" in r.getMessage()]
    assert failures == [f"error_body hook failed ({logged_class}); answering with the default body"]
    assert "quotes the request" not in caplog.text
