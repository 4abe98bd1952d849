"""A proxy's token header on the wire: the name in the case a proxy writes it, the token
read from it on every real server, and a token in it and in ``Authorization`` refused with
400 before any handler runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from jwt_middleware import JWTSettings
from tests.helpers import SECRET, build_app, mint_token, padded_everywhere
from tests.public_paths import PUBLIC
from tests.wire.exchange import exchange
from tests.wire.peers import serve_on

TOKEN = mint_token()
PADDED = padded_everywhere(SECRET.encode(), algorithm="HS256", sub="user-1")


def proxy_app() -> Starlette:
    """The app under test, for a server that imports it (granian)."""
    return build_app(
        JWTSettings(secret=SECRET, token_header="Cf-Access-Jwt-Assertion"), public=PUBLIC
    )


@pytest.fixture(scope="module")
def behind_proxy(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = build_app(
        JWTSettings(secret=SECRET, token_header="Cf-Access-Jwt-Assertion"), public=PUBLIC
    )
    workdir = tmp_path_factory.mktemp("proxy")
    with serve_on(
        server, app, factory="tests.wire.test_token_header:proxy_app", workdir=workdir
    ) as base:
        yield base


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param([("Cf-Access-Jwt-Assertion", TOKEN)], 200, id="as-cloudflare-writes-it"),
        pytest.param([("cf-access-jwt-assertion", PADDED)], 200, id="padded-lower-case"),
        pytest.param(
            [("CF-ACCESS-JWT-ASSERTION", TOKEN), ("Authorization", f"Bearer {TOKEN}")],
            400,
            id="and-bearer",
        ),
        pytest.param(
            [("Cf-Access-Jwt-Assertion", TOKEN), ("cf-access-jwt-assertion", TOKEN)],
            400,
            id="twice",
        ),
        pytest.param([("Cf-Access-Jwt-Assertion", "forged")], 401, id="forged"),
    ],
)
def test_proxy_header_on_a_real_server(
    behind_proxy: str, headers: list[tuple[str, str]], status: int
) -> None:
    reply = exchange(behind_proxy, "GET /private HTTP/1.1", headers)
    assert reply.status == status
    if status == 200:
        assert reply.json()["user_id"] == "user-1"
    else:
        assert TOKEN.encode() not in reply.body
