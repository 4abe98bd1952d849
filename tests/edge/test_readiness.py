"""Readiness for orchestrators: ``JWTAuthMiddleware.ready`` and the probe the middleware
answers at ``readiness_path``.

Ready means start-up finished and every key source holds usable keys: static keys at once,
a JWKS once fetched. The probe answers before any rule or token, with fixed tiny bodies, and
a probe that finds the keys missing retries the fetch (at most once per
``JWT_JWKS_MIN_REFETCH_SECONDS``), so an instance whose provider was down at start-up
becomes ready without traffic. Under Starlette's TestClient and under uvicorn over a raw
socket; the provider is the test kit's (``jwt_issuer``), whose outage is the one a probe
must see through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.testing import FakeIssuer
from tests.helpers import SECRET, bearer, mint_token, whoami
from tests.servers import serve
from tests.wire.exchange import exchange

READY = b"ready"
NOT_READY = b"not ready"
#: Least time between two fetches a probe may start, in the JWKS settings below.
RETRY_SECONDS = 0.5


def static_settings() -> JWTSettings:
    return JWTSettings(secret=SECRET)


def jwks_settings(issuer: FakeIssuer) -> JWTSettings:
    """The provider's key set by its URL (``JWT_JWKS_URL``)."""
    return discovered_settings(issuer, jwks_url=issuer.jwks_url)


def discovered_settings(issuer: FakeIssuer, **values: Any) -> JWTSettings:
    """The provider's key set found by discovery from its metadata (``JWT_ISSUER``)."""
    return issuer.settings(jwks_min_refetch_seconds=RETRY_SECONDS, jwks_timeout_seconds=2, **values)


def probed_app(settings: JWTSettings | None, **options: Any) -> Starlette:
    """A Starlette app with one protected route, and the probe at ``/readyz``."""
    app = Starlette(routes=[Route("/private", whoami)])
    options.setdefault("readiness_path", "/readyz")
    app.add_middleware(JWTAuthMiddleware, settings=settings, **options)
    return app


def middleware_of(app: Starlette) -> JWTAuthMiddleware:
    """The middleware instance Starlette built (after the first call)."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, JWTAuthMiddleware):
        layer = layer.app
    return layer


#: How the provider is while the app starts (and the test runs).
Provider = Callable[[FakeIssuer], AbstractContextManager[None]]


def provider_down(issuer: FakeIssuer) -> AbstractContextManager[None]:
    return issuer.outage("503")


def provider_up(issuer: FakeIssuer) -> AbstractContextManager[None]:
    return nullcontext()


@dataclass(frozen=True)
class Probe:
    method: str
    headers: dict[str, str]
    status: int
    body: bytes


PROBES_WHEN_READY = [
    pytest.param(Probe("GET", {}, 200, READY), id="get"),
    pytest.param(Probe("HEAD", {}, 200, b""), id="head-no-body"),
    pytest.param(Probe("GET", bearer("not-a-token"), 200, READY), id="bad-token-ignored"),
    pytest.param(Probe("GET", bearer(mint_token()), 200, READY), id="good-token-same"),
    pytest.param(Probe("POST", {}, 405, b"method not allowed"), id="post-not-allowed"),
    pytest.param(Probe("DELETE", {}, 405, b"method not allowed"), id="delete-not-allowed"),
]


@pytest.mark.parametrize("probe", PROBES_WHEN_READY)
def test_the_probe_answers_before_any_rule_or_token(probe: Probe) -> None:
    with TestClient(probed_app(static_settings())) as client:
        reply = client.request(probe.method, "/readyz", headers=probe.headers)
    assert (reply.status_code, reply.content) == (probe.status, probe.body)
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert "www-authenticate" not in reply.headers
    if probe.status == 405:
        assert reply.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/readyz/", 401, id="trailing-slash-is-another-path"),
        pytest.param("/READYZ", 401, id="case-matters"),
        pytest.param("/private", 401, id="other-paths-keep-the-policy"),
    ],
)
def test_only_the_exact_path_is_the_probe(path: str, status: int) -> None:
    with TestClient(probed_app(static_settings())) as client:
        assert client.get(path).status_code == status


def test_a_websocket_to_the_probe_is_refused() -> None:
    """A probe is an HTTP request: the handshake is closed before accept, token or not."""
    with TestClient(probed_app(static_settings())) as client:
        for headers in ({}, bearer(mint_token())):
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                client.websocket_connect("/readyz", headers=headers),
            ):
                pass
            assert closed.value.code == 1008


@pytest.mark.parametrize(
    "readiness_path",
    [
        pytest.param("readyz", id="relative"),
        pytest.param("", id="empty"),
        pytest.param("/a/../readyz", id="dot-dot"),
        pytest.param("//readyz", id="double-slash"),
        pytest.param("/readyz?x=1", id="query"),
        pytest.param("/ready%7a", id="percent"),
    ],
)
def test_a_bad_readiness_path_is_a_configuration_error(readiness_path: str) -> None:
    middleware = JWTAuthMiddleware(
        Starlette(), settings=static_settings(), readiness_path=readiness_path
    )
    error = middleware.configuration_error
    assert error is not None
    assert "readiness_path" in str(error)
    assert middleware.ready is False


@dataclass(frozen=True)
class StartCase:
    """How the app starts, and what ``ready`` and the probe say before and after."""

    settings: Callable[[FakeIssuer], JWTSettings | None]
    provider: Provider
    lifespan: bool
    ready_after_start: bool
    first_probe: int


START_CASES = [
    pytest.param(
        StartCase(lambda i: static_settings(), provider_up, True, True, 200), id="static-lifespan"
    ),
    pytest.param(
        StartCase(lambda i: static_settings(), provider_up, False, False, 200),
        id="static-no-lifespan",
    ),
    pytest.param(StartCase(jwks_settings, provider_up, True, True, 200), id="jwks-lifespan"),
    pytest.param(
        StartCase(jwks_settings, provider_up, False, False, 200),
        id="jwks-no-lifespan-probe-fetches",
    ),
    pytest.param(
        StartCase(jwks_settings, provider_down, True, False, 503), id="jwks-provider-down"
    ),
    pytest.param(
        StartCase(discovered_settings, provider_up, True, True, 200), id="discovered-lifespan"
    ),
    pytest.param(
        StartCase(discovered_settings, provider_up, False, False, 200),
        id="discovered-no-lifespan-probe-fetches",
    ),
    pytest.param(
        StartCase(discovered_settings, provider_down, True, False, 503),
        id="discovered-provider-down",
    ),
    pytest.param(
        StartCase(lambda i: None, provider_up, False, False, 503),
        id="configuration-error",
    ),
]


@pytest.mark.parametrize("case", START_CASES)
def test_ready_follows_start_up_and_the_keys(case: StartCase, jwt_issuer: FakeIssuer) -> None:
    app = probed_app(case.settings(jwt_issuer))
    client = TestClient(app)
    with case.provider(jwt_issuer):
        if case.lifespan:
            with client:
                assert middleware_of(app).ready is case.ready_after_start
                reply = client.get("/readyz")
        else:
            reply = client.get("/readyz")
    assert reply.status_code == case.first_probe
    assert middleware_of(app).ready is (case.first_probe == 200)
    assert reply.content in (READY, NOT_READY, b'{"detail":"Authentication is not configured."}')


@pytest.mark.parametrize(
    "settings",
    [pytest.param(jwks_settings, id="jwks"), pytest.param(discovered_settings, id="discovered")],
)
def test_a_probe_fetches_the_keys_the_start_up_missed(
    jwt_issuer: FakeIssuer, settings: Callable[[FakeIssuer], JWTSettings]
) -> None:
    """The provider comes back: the next probe past the retry interval fetches and passes,
    and probes inside the interval do not fetch."""
    with ExitStack() as running:
        with provider_down(jwt_issuer):
            client = running.enter_context(TestClient(probed_app(settings(jwt_issuer))))
            assert client.get("/readyz").status_code == 503
            fetched = jwt_issuer.requests
            for _ in range(5):  # within the interval: answered from what is held
                assert client.get("/readyz").content == NOT_READY
            assert jwt_issuer.requests == fetched
        time.sleep(RETRY_SECONDS * 1.5)
        reply = client.get("/readyz")
        assert (reply.status_code, reply.content) == (200, READY)
        assert client.get("/private", headers=bearer(jwt_issuer.mint("u"))).status_code == 200


def test_the_probe_is_off_by_default() -> None:
    app = probed_app(static_settings(), readiness_path=None)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 401
        assert middleware_of(app).ready is True


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        pytest.param(provider_up, 200, READY, id="keys-loaded"),
        pytest.param(provider_down, 503, NOT_READY, id="provider-down"),
    ],
)
def test_the_probe_under_uvicorn_over_a_raw_socket(
    jwt_issuer: FakeIssuer, provider: Provider, status: int, body: bytes
) -> None:
    with provider(jwt_issuer), serve(probed_app(jwks_settings(jwt_issuer))) as base_url:
        reply = exchange(base_url, "GET /readyz HTTP/1.1")
        head = exchange(base_url, "HEAD /readyz HTTP/1.1")
    assert (reply.status, reply.body) == (status, body)
    assert reply.header("content-length") == str(len(body))
    assert reply.header("cache-control") == "no-store"
    assert (head.status, head.body) == (status, b"")
