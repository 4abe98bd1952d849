"""HTTP/2 through hypercorn with TLS: header names arrive lowercased (HTTP/2 requires it),
and the answers are those of HTTP/1.1: the allowlist, 401 with its challenge, the user id,
the readiness probe. The client is httpx speaking h2 (the ``h2`` package), trusting a
certificate the test made."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from jwt_middleware import JWTSettings
from tests.helpers import SECRET, bearer, build_app, mint_token
from tests.hosts.certificates import self_signed_loopback
from tests.servers import serve_hypercorn
from tests.wire.exchange import INVALID, expected_challenge


@pytest.fixture(scope="module")
def h2_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    cert, key = self_signed_loopback(tmp_path_factory.mktemp("tls"))
    app = build_app(JWTSettings(secret=SECRET), readiness_path="/readyz")
    with (
        serve_hypercorn(app, tls=(cert, key)) as base_url,
        httpx.Client(
            base_url=base_url, http2=True, verify=ssl.create_default_context(cafile=cert)
        ) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("path", "headers", "status", "user_id", "challenge"),
    [
        pytest.param("/health", {}, 200, None, None, id="public"),
        pytest.param("/private", {}, 401, None, expected_challenge(None, None), id="no-token"),
        pytest.param(
            "/private",
            bearer("not.a.token"),
            401,
            None,
            expected_challenge("invalid_token", INVALID),
            id="bad-token",
        ),
        pytest.param("/private", bearer(mint_token("user-1")), 200, "user-1", None, id="token"),
        pytest.param(
            "/private",
            {"AUTHORIZATION": f"Bearer {mint_token('user-2')}"},
            200,
            "user-2",
            None,
            id="header-name-in-capitals",
        ),
        pytest.param(
            "/private",
            {"Authorization": f"bearer {mint_token('user-3')}"},
            200,
            "user-3",
            None,
            id="scheme-in-lowercase",
        ),
    ],
)
def test_http2_gets_the_answers_of_http1(
    h2_client: httpx.Client,
    path: str,
    headers: dict[str, str],
    status: int,
    user_id: str | None,
    challenge: str | None,
) -> None:
    reply = h2_client.get(path, headers=headers)
    assert reply.http_version == "HTTP/2"
    assert reply.status_code == status
    assert reply.headers.get("www-authenticate") == challenge
    if status == 200:
        assert reply.json()["user_id"] == user_id


def test_the_readiness_probe_over_http2(h2_client: httpx.Client) -> None:
    reply = h2_client.get("/readyz")
    assert (reply.http_version, reply.status_code, reply.content) == ("HTTP/2", 200, b"ready")


def test_two_headers_on_one_stream_are_refused(h2_client: httpx.Client) -> None:
    """HTTP/2 carries repeated fields as separate entries: still two credentials."""
    token = mint_token("user-1")
    reply = h2_client.get(
        "/private", headers=[("authorization", f"Bearer {token}"), ("authorization", "Bearer x")]
    )
    assert (reply.http_version, reply.status_code) == ("HTTP/2", 400)
