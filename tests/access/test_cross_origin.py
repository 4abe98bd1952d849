"""What a browser client on another origin needs: the RFC 9728 document and its CORS
preflight readable from any origin without credentials, and the challenge of every refusal
exposed (``Access-Control-Expose-Headers``) so that script can read it. Nothing of the
request is echoed. The same in real Chromium: ``tests/mcp/test_browser_discovery.py``."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from jwt_middleware import InvalidTokenError, JWTAuthMiddleware, JWTSettings
from tests.helpers import SECRET, bearer, mint_token

from .apps import starlette_app

RESOURCE = "https://api.example.com/v1"
METADATA_PATH = "/.well-known/oauth-protected-resource/v1"
PREFLIGHT = {"Origin": "https://inspector.example", "Access-Control-Request-Method": "GET"}


def _client(**options: Any) -> TestClient:
    return TestClient(starlette_app(JWTSettings(secret=SECRET, resource=RESOURCE), **options))


@pytest.mark.parametrize(
    ("method", "headers", "status", "expected"),
    [
        pytest.param(
            "GET",
            {"Origin": "https://inspector.example"},
            200,
            {"access-control-allow-origin": "*", "cache-control": "public, max-age=3600"},
            id="get",
        ),
        pytest.param("GET", {}, 200, {"access-control-allow-origin": "*"}, id="get-no-origin"),
        pytest.param("HEAD", {}, 200, {"access-control-allow-origin": "*"}, id="head"),
        pytest.param(
            "OPTIONS",
            PREFLIGHT,
            204,
            {
                "access-control-allow-origin": "*",
                "access-control-allow-methods": "GET, HEAD",
                "access-control-allow-headers": "Authorization, *",
                "access-control-max-age": "3600",
            },
            id="preflight",
        ),
        pytest.param(
            "OPTIONS",
            {**PREFLIGHT, "Access-Control-Request-Headers": "mcp-protocol-version"},
            204,
            {
                "access-control-allow-origin": "*",
                "access-control-allow-headers": "Authorization, *",
            },
            id="preflight-with-headers",
        ),
        pytest.param(
            "OPTIONS",
            {"Origin": "https://inspector.example"},
            405,
            {"access-control-allow-origin": "*", "allow": "GET, HEAD"},
            id="options-not-a-preflight",
        ),
        pytest.param(
            "POST", {}, 405, {"access-control-allow-origin": "*", "allow": "GET, HEAD"}, id="post"
        ),
    ],
)
def test_the_metadata_is_readable_from_any_origin(
    method: str, headers: dict[str, str], status: int, expected: dict[str, str]
) -> None:
    reply = _client().request(method, METADATA_PATH, headers=headers)
    assert reply.status_code == status
    for name, value in expected.items():
        assert reply.headers.get(name) == value, name
    assert "access-control-allow-credentials" not in reply.headers
    assert "vary" not in reply.headers  # one answer for every origin
    if status != 200:
        assert reply.content == b""


def test_a_preflight_echoes_nothing_of_the_request() -> None:
    headers = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "x-evil-header",
    }
    reply = _client().options(METADATA_PATH, headers=headers)
    assert reply.status_code == 204
    everything = " ".join(f"{name}: {value}" for name, value in reply.headers.items())
    assert "evil" not in everything.lower()
    assert "DELETE" not in everything


def _raising(request: Request) -> Response:
    raise InvalidTokenError


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        pytest.param("/todos", {}, 401, id="missing"),
        pytest.param("/todos", bearer("not.a.token"), 401, id="invalid"),
        pytest.param("/todos", {"Authorization": "Bearer a b"}, 400, id="malformed"),
        pytest.param("/todos", bearer(mint_token(aud=RESOURCE)), 403, id="insufficient-scope"),
        pytest.param("/raise", {}, 401, id="raised-by-the-app"),
    ],
)
def test_every_challenge_is_exposed_to_scripts(
    path: str, headers: dict[str, str], status: int
) -> None:
    app = Starlette(routes=[Route("/todos", _raising), Route("/raise", _raising)])
    app.add_middleware(
        JWTAuthMiddleware,
        settings=JWTSettings(secret=SECRET, resource=RESOURCE),
        public=["/raise"],
        scopes={"/todos": ["todos:read"]},
    )
    reply = TestClient(app).get(path, headers={"Origin": "https://inspector.example", **headers})
    assert reply.status_code == status
    assert reply.headers["www-authenticate"].startswith('Bearer realm="api"')
    assert reply.headers["access-control-expose-headers"] == "WWW-Authenticate"
    assert "access-control-allow-origin" not in reply.headers  # the app's CORS layer decides


def test_an_answer_without_a_challenge_exposes_nothing() -> None:
    async def down(claims: Any) -> bool:
        raise ConnectionError

    token = mint_token(aud=RESOURCE, jti="j-1")
    reply = _client(is_revoked=down).get("/todos", headers=bearer(token))
    assert reply.status_code == 503
    assert "www-authenticate" not in reply.headers
    assert "access-control-expose-headers" not in reply.headers
