"""A token in a header a proxy sets (``JWT_TOKEN_HEADER`` / ``token_header=``): read beside
``Authorization: Bearer`` and the query parameter, one place only (a token in two places
is refused with 400), the header named in any case, and names that carry something else
refused at configuration.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from starlette.testclient import TestClient

from jwt_middleware import ConfigurationError, JWTSettings
from jwt_middleware.edge.credentials import proxy_token
from jwt_middleware.errors import InvalidRequestError, MissingTokenError
from tests.helpers import SECRET, build_app, mint_token, padded_everywhere

HEADER = "x-goog-iap-jwt-assertion"
TOKEN = mint_token()
OTHER = mint_token("user-2")
#: What ALB sends: each segment padded with "=" to a multiple of four characters, the
#: signature over the padded segments.
PADDED = padded_everywhere(SECRET.encode(), algorithm="HS256", sub="user-1")


class Case(NamedTuple):
    headers: list[tuple[bytes, bytes]]
    query: bytes = b""
    token: str | None = None  # the token read; None: the error below
    error: type[Exception] = InvalidRequestError


def case(case_id: str, *headers: tuple[bytes, bytes], query: bytes = b"", **rest: object) -> object:
    return pytest.param(Case(list(headers), query, **rest), id=case_id)  # type: ignore[arg-type]


PROXY = HEADER.encode()
CASES = [
    case("header", (PROXY, TOKEN.encode()), token=TOKEN),
    case("header-with-spaces", (PROXY, f"  {TOKEN}\t".encode()), token=TOKEN),
    case("padded-segments", (PROXY, PADDED.encode()), token=PADDED),
    case("bearer-only", (b"authorization", f"Bearer {TOKEN}".encode()), token=TOKEN),
    case("query-only", query=f"access_token={TOKEN}".encode(), token=TOKEN),
    case(
        "header-and-basic",
        (b"authorization", b"Basic dXNlcjpwYXNz"),
        (PROXY, TOKEN.encode()),
        token=TOKEN,
    ),
    case(
        "header-and-bearer", (PROXY, TOKEN.encode()), (b"authorization", f"Bearer {OTHER}".encode())
    ),
    case(
        "same-token-twice", (PROXY, TOKEN.encode()), (b"authorization", f"Bearer {TOKEN}".encode())
    ),
    case("header-and-query", (PROXY, TOKEN.encode()), query=f"access_token={OTHER}".encode()),
    case("header-twice", (PROXY, TOKEN.encode()), (PROXY, OTHER.encode())),
    case("empty-header", (PROXY, b"")),
    case("blank-header", (PROXY, b"  ")),
    case("non-ascii", (PROXY, TOKEN.encode() + b"\xe9")),
    case("nothing", (b"x-other", TOKEN.encode()), error=MissingTokenError),
    case("another-scheme-only", (b"authorization", b"Basic dXNlcjpwYXNz"), error=MissingTokenError),
]


@pytest.mark.parametrize("example", CASES)
def test_where_the_token_is_read(example: Case) -> None:
    scope = {"type": "http", "headers": example.headers, "query_string": example.query}
    if example.token is not None:
        assert proxy_token(scope, PROXY, "access_token") == example.token
        return
    with pytest.raises(example.error) as raised:
        proxy_token(scope, PROXY, "access_token")
    assert type(raised.value) is example.error
    assert TOKEN not in str(raised.value)
    assert OTHER not in str(raised.value)


@pytest.mark.parametrize(
    ("headers", "status", "user_id"),
    [
        pytest.param({HEADER: TOKEN}, 200, "user-1", id="proxy-header"),
        pytest.param({"X-Goog-IAP-JWT-Assertion": TOKEN}, 200, "user-1", id="any-case"),
        pytest.param({HEADER: PADDED}, 200, "user-1", id="padded"),
        pytest.param({"Authorization": f"Bearer {OTHER}"}, 200, "user-2", id="bearer"),
        pytest.param({HEADER: TOKEN, "Authorization": f"Bearer {OTHER}"}, 400, None, id="both"),
        pytest.param({HEADER: "not-a-token"}, 401, None, id="garbage"),
        pytest.param({HEADER: mint_token(secret="x" * 64)}, 401, None, id="other-key"),
        pytest.param({}, 401, None, id="none"),
    ],
)
@pytest.mark.parametrize("configured_by", ["setting", "keyword"])
def test_middleware_reads_the_proxy_header(
    headers: dict[str, str], status: int, user_id: str | None, configured_by: str
) -> None:
    if configured_by == "setting":
        app = build_app(JWTSettings(secret=SECRET, token_header="X-Goog-IAP-JWT-Assertion"))
    else:
        app = build_app(JWTSettings(secret=SECRET), token_header="X-Goog-IAP-JWT-Assertion")
    with TestClient(app) as client:
        response = client.get("/private", headers=headers)
        public = client.get("/health", headers=headers)
    assert response.status_code == status
    assert public.status_code == 200
    if status == 200:
        assert response.json()["user_id"] == user_id
        assert public.json()["user_id"] == user_id
    else:
        assert TOKEN not in response.text
    if status == 400:
        assert response.json() == {"detail": "Send the token in one place only."}
        assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_without_the_setting_the_header_is_not_read() -> None:
    with TestClient(build_app(JWTSettings(secret=SECRET))) as client:
        response = client.get("/private", headers={HEADER: TOKEN})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Authorization", id="authorization"),
        pytest.param("cookie", id="cookie"),
        pytest.param("x header", id="space"),
        pytest.param("x-token:", id="colon"),
        pytest.param("", id="empty"),
        pytest.param("x-tökén", id="not-ascii"),
    ],
)
def test_names_that_cannot_carry_a_token_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="JWT_TOKEN_HEADER"):
        JWTSettings(secret=SECRET, token_header=name)
    app = build_app(JWTSettings(secret=SECRET), token_header=name)
    with pytest.raises(ConfigurationError, match="JWT_TOKEN_HEADER"), TestClient(app):
        pass


def test_token_header_is_not_given_with_authenticators() -> None:
    app = build_app(JWTSettings(secret=SECRET), token_header=HEADER, authenticators=[object()])
    with pytest.raises(ConfigurationError, match="token_header"), TestClient(app):
        pass
