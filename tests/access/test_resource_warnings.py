"""``JWT_RESOURCE`` must be the URL clients dial: a start-up warning when it has no path, and
one (once) when it names a loopback host other than the one the server answers on, since
MCP clients then refuse the metadata. Warnings only, fixed text, nothing the request chose."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.edge.metadata import bound_host_warning, resource_warnings
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import SECRET


@pytest.mark.parametrize(
    ("resource", "warns"),
    [
        ("https://api.example.com", True),
        ("https://api.example.com/", True),
        ("https://api.example.com:8443", True),
        ("https://api.example.com/mcp", False),
        ("http://127.0.0.1:8000/mcp", False),
        ("https://api.example.com/a/b/", False),
    ],
    ids=["no-path", "slash", "port-no-path", "path", "loopback-path", "nested"],
)
def test_a_resource_without_a_path_is_reported(resource: str, warns: bool) -> None:
    warnings = resource_warnings(resource)
    assert bool(warnings) is warns
    assert all("JWT_RESOURCE" in warning for warning in warnings)


@pytest.mark.parametrize(
    ("resource", "server", "named"),
    [
        ("http://localhost:8000/mcp", ("127.0.0.1", 8000), "localhost"),
        ("http://127.0.0.1:8000/mcp", ("::1", 8000), "127.0.0.1"),
        ("http://[::1]:8000/mcp", ("127.0.0.1", 8000), "::1"),
        ("http://localhost:8000/mcp", ("::1", 8000), "localhost"),
        ("http://127.0.0.1:8000/mcp", ("127.0.0.1", 8000), None),
        ("http://[::1]:8000/mcp", ("::1", 8000), None),
        ("https://api.example.com/mcp", ("127.0.0.1", 8000), None),  # a proxy in front
        ("https://10.0.0.5/mcp", ("127.0.0.1", 8000), None),
        ("http://localhost:8000/mcp", ("10.0.0.5", 8000), None),  # not loopback: unknowable
        ("http://localhost:8000/mcp", ("testserver", 80), None),
        ("http://localhost:8000/mcp", ("/run/app.sock", None), None),
        ("http://localhost:8000/mcp", None, None),
        ("http://localhost:8000/mcp", (), None),
    ],
    ids=[
        "localhost-on-127",
        "127-on-ipv6",
        "ipv6-on-127",
        "localhost-on-ipv6",
        "same-127",
        "same-ipv6",
        "public-name",
        "other-address",
        "server-not-loopback",
        "server-not-an-address",
        "unix-socket",
        "no-server",
        "empty-server",
    ],
)
def test_a_loopback_host_other_than_the_servers_is_reported(
    resource: str, server: object, named: str | None
) -> None:
    warning = bound_host_warning(resource, server)
    if named is None:
        assert warning is None
    else:
        assert warning is not None
        assert f"JWT_RESOURCE names host {named} but" in warning


def _app(resource: str) -> Starlette:
    async def mcp(request: object) -> PlainTextResponse:
        return PlainTextResponse("tools")

    app = Starlette(routes=[Route("/mcp", mcp)])
    app.add_middleware(JWTAuthMiddleware, settings=JWTSettings(secret=SECRET, resource=resource))
    return app


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "jwt_middleware" and record.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    "path",
    ["/mcp", "/.well-known/oauth-protected-resource/mcp"],
    ids=["refusal", "metadata"],
)
def test_the_middleware_warns_once_from_the_first_discovery_request(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    app = _app("http://localhost:8000/mcp")
    sneaky = scope_headers({"Host": "sneaky-host.example", "X-Note": "sneaky-text"})
    for _ in range(3):
        scope = http_scope(path, headers=sneaky)
        scope["server"] = ("127.0.0.1", 8000)
        assert call(app, scope).status in (200, 401)
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "localhost" in warnings[0]
    assert "127.0.0.1" in warnings[0]
    assert "sneaky" not in caplog.text


def test_no_warning_for_a_resource_the_server_answers_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    app = _app("http://127.0.0.1:8000/mcp")
    scope = http_scope("/mcp")
    scope["server"] = ("127.0.0.1", 8000)
    assert call(app, scope).status == 401
    assert _warnings(caplog) == []


def test_a_resource_without_a_path_is_warned_about_at_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    resource = "https://api.example.com"
    JWTAuthMiddleware(Starlette(), settings=JWTSettings(secret=SECRET, resource=resource))
    assert _warnings(caplog) == resource_warnings(resource)
    assert len(_warnings(caplog)) == 1
