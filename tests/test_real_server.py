"""The middleware behind a real uvicorn on loopback, with requests sent byte for byte.

A test client normalises paths and refuses odd header bytes before the app sees them, so
what a client can really send is tested here against uvicorn, with both of its HTTP
parsers (``httptools`` and ``h11``), which do not deliver the same ``path`` and
``raw_path`` for the same request line.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import unquote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.helpers import OTHER_SECRET, SECRET, bearer, build_app, mint_token
from tests.servers import serve

PUBLIC = ["/health", "/static/*", "GET /posts/*"]
HTTP_PARSERS = ["httptools", "h11"]
WS_PROTOCOLS = [
    "websockets-sansio",
    # uvicorn's legacy protocol: deprecated, still selectable with --ws websockets.
    pytest.param(
        "websockets",
        marks=[
            pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated"),
            pytest.mark.filterwarnings("ignore:remove second argument of ws_handler"),
            pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
        ],
    ),
]

CHALLENGE = 'Bearer realm="api"'
NO_CREDENTIALS = {"detail": "Authentication required."}
EXPIRED = "The access token expired."


# --- plumbing -------------------------------------------------------------------------------


class Reply(NamedTuple):
    """A raw HTTP reply, split into its parts."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower(), [])
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(base_url: str, request_line: str, headers: Sequence[tuple[str, str]] = ()) -> Reply:
    """Send one request exactly as written, repeated header names included; parse the reply.

    Header values are sent as latin-1, so a test can put non-ASCII bytes on the wire.
    """
    host, port = base_url.removeprefix("http://").split(":")
    lines = [request_line, f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed.setdefault(name.strip().lower(), []).append(value.strip())
    return Reply(int(status_line.split(" ", 2)[1]), parsed, body)


def authority(base_url: str) -> str:
    return base_url.removeprefix("http://")


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> JWTSettings:
    """Settings for module-wide servers, read with no JWT_* variables and no .env around."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("JWT_"):
                patch.delenv(name)
        patch.chdir(tmp_path_factory.mktemp("settings"))
        return JWTSettings(secret=SECRET)


async def echo_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers with the path fields uvicorn put in the scope."""
    response = JSONResponse(
        {
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode("latin-1"),
        }
    )
    await response(scope, receive, send)


@pytest.fixture(scope="module", params=HTTP_PARSERS)
def parser(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def protected(module_settings: JWTSettings, parser: str) -> Iterator[str]:
    """The conftest app with PUBLIC as the allowlist, served with the parser under test."""
    with serve(build_app(module_settings, public=PUBLIC), http=parser) as base:
        yield base


@pytest.fixture(scope="module")
def echo(parser: str) -> Iterator[str]:
    """An app without the middleware that reports the scope, to see what uvicorn delivers."""
    with serve(echo_scope, http=parser, lifespan="off") as base:
        yield base


# --- paths that a test client would normalise ------------------------------------------------


class PathCase(NamedTuple):
    """A request target, the status without a token, and what uvicorn puts in the scope.

    ``delivered`` is ``(path, raw_path)``, or ``None`` where uvicorn refuses the request
    itself (400). Values that differ between the parsers are given per parser.
    ``{authority}`` in a target is replaced by the server's host and port.
    """

    target: str
    status: dict[str, int]
    delivered: dict[str, tuple[str, str] | None]


def by_parser(httptools: Any, h11: Any) -> dict[str, Any]:
    return {"httptools": httptools, "h11": h11}


def path_case(
    case_id: str,
    target: str,
    status: int | dict[str, int],
    delivered: dict[str, tuple[str, str] | None] | None = None,
) -> Any:
    """A case; by default uvicorn delivers the target without its query, percent-decoded."""
    if delivered is None:
        raw = target.partition("?")[0]
        delivered = by_parser((unquote(raw), raw), (unquote(raw), raw))
    if isinstance(status, int):
        status = by_parser(status, status)
    return pytest.param(PathCase(target, status, delivered), id=case_id)


REFUSED_BY_SERVER = by_parser(None, None)
ABSOLUTE_PRIVATE = "http://{authority}/private"
ABSOLUTE_PUBLIC = "http://{authority}/health"
OTHER_HOST = "http://other.example/health"
ABSOLUTE_DOTS = "http://{authority}/static/%2e%2e/private"

PATH_CASES = [
    path_case("dot-dot", "/static/../private", 401),
    path_case("encoded-dot-dot", "/static/%2e%2e/private", 401),
    path_case("encoded-dot-dot-upper", "/static/%2E%2E/private", 401),
    path_case("dot-dot-encoded-slash", "/static/..%2fprivate", 401),
    path_case("half-encoded-dot-dot", "/static/.%2e/private", 401),
    path_case("all-encoded", "/static/%2e%2e%2fprivate", 401),
    path_case("empty-segment", "/static//private", 401),
    path_case("dot-segment", "/static/./x", 401),
    path_case("trailing-dot", "/health/.", 401),
    path_case("encoded-trailing-slash", "/health%2f", 401),
    path_case("encoded-slash", "/static%2fx", 401),
    path_case("encoded-backslash", "/static/%5c..%5cprivate", 401),
    path_case("raw-backslash", "/static/\\..\\private", 401),
    path_case("path-parameter", "/static/..;/private", 401),
    path_case("leading-double-slash", "//health", 401),
    path_case("double-encoded", "/static/%252e%252e/private", 401),
    path_case("encoded-nul", "/health%00", 401),
    path_case("encoded-question-mark", "/health%3fx=1", 401),
    path_case("overlong-utf8-dots", "/static/%c0%ae%c0%ae/private", 401),
    path_case("invalid-utf8", "/static/%ff", 401),
    path_case("fullwidth-dots", "/static/%ef%bc%8e%ef%bc%8e/private", 401),
    path_case("one-dot-leaders", "/static/%e2%80%a4%e2%80%a4/private", 401),
    path_case("fullwidth-percent", "/static/%ef%bc%852e", 401),
    path_case("utf8-name", "/static/caf%c3%a9.css", 200),
    path_case("case", "/Health", 401),
    path_case("longer-name", "/healthz", 401),
    path_case("prefix-without-slash", "/staticfoo", 401),
    path_case("asterisk-form", "*", 401),
    path_case(
        "no-leading-slash",
        "health",
        by_parser(400, 401),
        by_parser(None, ("health", "health")),
    ),
    path_case("non-ascii", "/h\xe9alth", 400, REFUSED_BY_SERVER),
    # httptools drops a fragment (which no client sends), h11 keeps it in the path.
    path_case(
        "fragment",
        "/health#x",
        by_parser(200, 401),
        by_parser(("/health", "/health"), ("/health#x", "/health#x")),
    ),
    # Decodes to the very path the router serves, so it is the same public resource.
    path_case("encoded-letter", "/%68ealth", 200),
    path_case("query", "/health?x=1", 200),
    path_case("empty-query", "/health?", 200),
    path_case("below-prefix", "/static/a.css", 200),
    path_case("exact", "/health", 200),
    # Absolute form (RFC 9112 3.2.2): httptools keeps only the path (whatever the host),
    # h11 passes the whole URL on as the path, which is never public.
    path_case(
        "absolute-private",
        ABSOLUTE_PRIVATE,
        401,
        by_parser(("/private", "/private"), (ABSOLUTE_PRIVATE, ABSOLUTE_PRIVATE)),
    ),
    path_case(
        "absolute-public",
        ABSOLUTE_PUBLIC,
        by_parser(200, 401),
        by_parser(("/health", "/health"), (ABSOLUTE_PUBLIC, ABSOLUTE_PUBLIC)),
    ),
    path_case(
        "absolute-other-host",
        OTHER_HOST,
        by_parser(200, 401),
        by_parser(("/health", "/health"), (OTHER_HOST, OTHER_HOST)),
    ),
    path_case(
        "absolute-dot-dot",
        ABSOLUTE_DOTS,
        401,
        by_parser(
            ("/static/../private", "/static/%2e%2e/private"),
            (unquote(ABSOLUTE_DOTS), ABSOLUTE_DOTS),
        ),
    ),
    path_case(
        "absolute-no-path",
        "http://{authority}",
        by_parser(400, 401),
        by_parser(None, ("http://{authority}", "http://{authority}")),
    ),
]


@pytest.mark.parametrize("case", PATH_CASES)
def test_path_without_token(protected: str, parser: str, case: PathCase) -> None:
    target = case.target.format(authority=authority(protected))
    expected = case.status[parser]

    reply = exchange(protected, f"GET {target} HTTP/1.1")

    assert reply.status == expected
    if expected == 200:
        assert reply.json()["user_id"] is None
    elif expected == 401:
        assert reply.header("WWW-Authenticate") == CHALLENGE
        assert reply.header("Cache-Control") == "no-store"
        assert reply.json() == NO_CREDENTIALS
    else:  # refused by uvicorn before the app saw it
        assert reply.body == b"Invalid HTTP request received."


@pytest.mark.parametrize("case", PATH_CASES)
def test_what_uvicorn_delivers(echo: str, parser: str, case: PathCase) -> None:
    """The scope fields the allowlist works from, as uvicorn fills them for each target."""
    target = case.target.format(authority=authority(echo))
    delivered = case.delivered[parser]

    reply = exchange(echo, f"GET {target} HTTP/1.1")

    if delivered is None:
        assert reply.status == 400
        return
    path, raw_path = (part.format(authority=authority(echo)) for part in delivered)
    assert reply.status == 200
    assert (reply.json()["path"], reply.json()["raw_path"]) == (path, raw_path)


METHOD_CASES = [
    pytest.param("GET", "/posts/1", 200, id="get-below-method-rule"),
    pytest.param("HEAD", "/posts/1", 200, id="head-with-get-rule"),
    pytest.param("POST", "/posts/1", 401, id="post-below-get-rule"),
    pytest.param("DELETE", "/posts/1", 401, id="delete-below-get-rule"),
    pytest.param("GET", "/posts", 401, id="get-the-prefix-itself"),
    pytest.param("GET", "/posts/%2e%2e/private", 401, id="get-encoded-dot-dot"),
    pytest.param("OPTIONS", "/private", 401, id="options-protected"),
    pytest.param("POST", "/health", 405, id="post-exact-rule-any-method"),
]


@pytest.mark.parametrize(("method", "target", "status"), METHOD_CASES)
def test_method_rules_without_token(protected: str, method: str, target: str, status: int) -> None:
    reply = exchange(protected, f"{method} {target} HTTP/1.1", [("Content-Length", "0")])

    assert reply.status == status
    if status == 401:
        assert reply.header("WWW-Authenticate") == CHALLENGE


def test_lower_case_method(protected: str, parser: str) -> None:
    """'get' is not 'GET': httptools refuses it, h11 passes it on and the GET rule ignores it."""
    reply = exchange(protected, "get /posts/1 HTTP/1.1")

    assert reply.status == {"httptools": 400, "h11": 401}[parser]


# --- header tricks on the wire ---------------------------------------------------------------


class HeaderCase(NamedTuple):
    """Authorization headers as sent, and the answer expected for a protected path.

    ``error`` and ``description`` are the RFC 6750 fields of the challenge (``error=None``:
    a bare challenge); ``user_id`` is what the handler sees when the request gets through.
    """

    headers: list[tuple[str, str]]
    status: int
    error: str | None = None
    description: str | None = None
    user_id: str | None = None


VALID = mint_token("user-1")
EXPIRED_TOKEN = mint_token("user-1", lifetime=-60)
LONG = "a" * 10 * 1024
MALFORMED = "Malformed Authorization header."
INVALID = "The access token is invalid."
TWO_HEADERS = "More than one Authorization header."
NO_TOKEN = "Bearer scheme without a token."


def header_case(case_id: str, *values: str, **expected: Any) -> Any:
    headers = [("Authorization", value) for value in values]
    return pytest.param(HeaderCase(headers, **expected), id=case_id)


def accepted(case_id: str, *values: str) -> Any:
    return header_case(case_id, *values, status=200, user_id="user-1")


def bare_challenge(case_id: str, *values: str) -> Any:
    """No bearer credentials at all: 401 with a challenge that names no error."""
    return header_case(case_id, *values, status=401)


def malformed(case_id: str, *values: str, description: str = MALFORMED) -> Any:
    return header_case(
        case_id, *values, status=400, error="invalid_request", description=description
    )


def invalid(case_id: str, *values: str, description: str = INVALID) -> Any:
    return header_case(case_id, *values, status=401, error="invalid_token", description=description)


HEADER_CASES = [
    accepted("valid", f"Bearer {VALID}"),
    accepted("lower-case-scheme", f"bearer {VALID}"),
    accepted("upper-case-scheme", f"BEARER {VALID}"),
    accepted("two-spaces", f"Bearer  {VALID}"),
    accepted("trailing-spaces", f"Bearer {VALID}   "),
    malformed("valid-then-garbage", f"Bearer {VALID}", "Bearer garbage", description=TWO_HEADERS),
    malformed("garbage-then-valid", "Bearer garbage", f"Bearer {VALID}", description=TWO_HEADERS),
    malformed("valid-twice", f"Bearer {VALID}", f"Bearer {VALID}", description=TWO_HEADERS),
    malformed("latin-1-byte", "Bearer \xe9"),
    malformed("latin-1-in-token", f"Bearer {VALID}\xe9"),
    malformed("comma-list", f"Bearer {VALID}, Bearer x"),
    malformed("two-tokens", f"Bearer {VALID} x"),
    malformed("scheme-only", "Bearer", description=NO_TOKEN),
    malformed("scheme-and-space", "Bearer ", description=NO_TOKEN),
    bare_challenge("basic", "Basic abc"),
    bare_challenge("token-without-scheme", VALID),
    # RFC 9110 11.4: only spaces separate the scheme from the credentials, so this is not
    # a Bearer credential at all.
    bare_challenge("tab-separator", f"Bearer\t{VALID}"),
    invalid("ten-kib-token", f"Bearer {LONG}"),
    invalid("not-a-jwt", "Bearer abc.def.ghi"),
    invalid("other-secret", f"Bearer {mint_token(secret=OTHER_SECRET)}"),
    invalid("expired", f"Bearer {EXPIRED_TOKEN}", description=EXPIRED),
    invalid("alg-none", f"Bearer {mint_token(secret='', algorithm='none')}"),
    # Read before the signature is checked, so anyone can send it.
    invalid("typ-list", f"Bearer {mint_token(headers={'typ': ['JWT']})}"),
]


def expected_challenge(error: str | None, description: str | None) -> str:
    if error is None:
        return CHALLENGE
    return f'{CHALLENGE}, error="{error}", error_description="{description}"'


@pytest.mark.parametrize("case", HEADER_CASES)
def test_authorization_header_on_protected_path(protected: str, case: HeaderCase) -> None:
    reply = exchange(protected, "GET /private HTTP/1.1", case.headers)

    assert reply.status == case.status
    if case.status == 200:
        assert reply.json()["user_id"] == case.user_id
        assert reply.header("WWW-Authenticate") is None
        return
    assert reply.header("WWW-Authenticate") == expected_challenge(case.error, case.description)
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {"detail": case.description or NO_CREDENTIALS["detail"]}
    for _, value in case.headers:
        token = value.partition(" ")[2].strip().encode("latin-1")
        assert len(token) < 8 or token not in reply.body


@pytest.mark.parametrize("case", HEADER_CASES)
def test_authorization_header_on_public_path(protected: str, case: HeaderCase) -> None:
    """On a public path a bad header is ignored, and a valid one still names the user."""
    reply = exchange(protected, "GET /health HTTP/1.1", case.headers)

    assert reply.status == 200
    assert reply.json()["user_id"] == case.user_id
    assert reply.header("WWW-Authenticate") is None


@pytest.mark.parametrize(
    ("value", "refused_by"),
    [
        pytest.param(f"Bearer {VALID}\x00", by_parser("server", "server"), id="nul"),
        # DEL is no field-vchar (RFC 9110 5.5); h11 passes it on all the same.
        pytest.param(f"Bearer {VALID}\x7f", by_parser("server", "middleware"), id="del"),
        pytest.param(f"Bearer {VALID}\r", by_parser("server", "server"), id="bare-cr"),
    ],
)
def test_header_bytes_outside_field_values(
    protected: str, parser: str, value: str, refused_by: dict[str, str]
) -> None:
    reply = exchange(protected, "GET /private HTTP/1.1", [("Authorization", value)])

    assert reply.status == 400
    if refused_by[parser] == "server":
        assert reply.body == b"Invalid HTTP request received."
    else:
        assert reply.json() == {"detail": MALFORMED}


# --- mounted under a prefix ------------------------------------------------------------------


@pytest.fixture(scope="module")
def mounted(module_settings: JWTSettings) -> Iterator[str]:
    inner = build_app(module_settings, public=["/health"])
    outer = Starlette(routes=[Mount("/api", app=inner)])
    with serve(outer) as base:
        yield base


@pytest.fixture(scope="module")
def behind_root_path(module_settings: JWTSettings) -> Iterator[str]:
    with serve(build_app(module_settings, public=["/health"]), root_path="/prefix") as base:
        yield base


AUTH = [*bearer(VALID).items()]

PREFIX_CASES = [
    pytest.param("/api/health", [], 200, None, "/api/health", id="public"),
    pytest.param("/api/health?x=1", [], 200, None, "/api/health", id="public-with-query"),
    pytest.param("/api/private", [], 401, None, None, id="protected"),
    pytest.param("/api/private", AUTH, 200, "user-1", "/api/private", id="protected-with-token"),
    pytest.param("/api/health", AUTH, 200, "user-1", "/api/health", id="public-with-token"),
    pytest.param("/api//health", [], 401, None, None, id="empty-segment"),
    pytest.param("/api/%2e%2e/api/health", [], 401, None, None, id="encoded-dot-dot"),
    pytest.param("/api%2fhealth", [], 401, None, None, id="encoded-slash-after-mount"),
    pytest.param("/api/api/health", [], 401, None, None, id="prefix-twice"),
    pytest.param("/health", [], 404, None, None, id="outside-the-mount"),
]

ROOT_PATH_CASES = [
    pytest.param("/health", [], 200, None, "/prefix/health", id="public"),
    pytest.param("/private", [], 401, None, None, id="protected"),
    pytest.param("/private", AUTH, 200, "user-1", "/prefix/private", id="protected-with-token"),
    # uvicorn adds root_path itself, so the prefix sent again is part of the app's path.
    pytest.param("/prefix/health", [], 401, None, None, id="prefix-sent-again"),
    pytest.param("//health", [], 401, None, None, id="empty-segment"),
    pytest.param("/%2e%2e/prefix/health", [], 401, None, None, id="encoded-dot-dot"),
]


def served_by(server: str, cases: Sequence[pytest.ParameterSet]) -> list[pytest.ParameterSet]:
    """``cases`` sent to the server fixture named ``server``, their ids prefixed with it."""
    return [
        pytest.param(server, *case.values, marks=case.marks, id=f"{server}-{case.id}")
        for case in cases
    ]


@pytest.mark.parametrize(
    ("server", "target", "headers", "status", "user_id", "path"),
    served_by("mounted", PREFIX_CASES) + served_by("behind_root_path", ROOT_PATH_CASES),
)
def test_rules_stay_app_relative_under_a_prefix(
    request: pytest.FixtureRequest,
    server: str,
    target: str,
    headers: list[tuple[str, str]],
    status: int,
    user_id: str | None,
    path: str | None,
) -> None:
    """Rules are relative to the app, whether a Mount puts "/api" into root_path (a
    sub-app) or uvicorn's root_path does (an app behind a path-stripping proxy)."""
    base_url: str = request.getfixturevalue(server)
    reply = exchange(base_url, f"GET {target} HTTP/1.1", headers)

    assert reply.status == status
    if status == 200:
        assert reply.json()["user_id"] == user_id
        assert reply.json()["path"] == path
    if status == 401:
        assert reply.header("WWW-Authenticate") == CHALLENGE


# --- WebSocket through the server ------------------------------------------------------------


@pytest.fixture(scope="module", params=WS_PROTOCOLS)
def ws_server(request: pytest.FixtureRequest, module_settings: JWTSettings) -> Iterator[str]:
    app = build_app(module_settings, public=["/health-ws"])
    with serve(app, ws=request.param) as base:
        yield base.replace("http://", "ws://")


WS_ACCEPTED = [
    pytest.param("/ws", AUTH, "user-1", id="valid"),
    pytest.param("/ws", [("Authorization", f"bearer {VALID}")], "user-1", id="lower-case-scheme"),
    pytest.param("/health-ws", [], None, id="public-without-token"),
    pytest.param("/health-ws", [("Authorization", "Bearer garbage")], None, id="public-bad-token"),
    pytest.param("/health-ws", AUTH, "user-1", id="public-valid"),
]


@pytest.mark.parametrize(("path", "headers", "user_id"), WS_ACCEPTED)
def test_websocket_accepted(
    ws_server: str, path: str, headers: list[tuple[str, str]], user_id: str | None
) -> None:
    with connect(ws_server + path, additional_headers=headers, open_timeout=5) as ws:
        message = json.loads(ws.recv(timeout=5))

    assert message == {"user_id": user_id}


REQUIRED = NO_CREDENTIALS["detail"]
ONE_MORE = [("Authorization", "Bearer x")]

WS_REFUSED = [
    pytest.param("/ws", [], 401, None, REQUIRED, id="missing"),
    pytest.param("/ws", [("Authorization", "Basic abc")], 401, None, REQUIRED, id="basic"),
    pytest.param("/ws", [("Authorization", "Bearer x")], 401, "invalid_token", INVALID, id="bad"),
    pytest.param(
        "/ws",
        [*bearer(EXPIRED_TOKEN).items()],
        401,
        "invalid_token",
        EXPIRED,
        id="expired",
    ),
    pytest.param("/ws", [*AUTH, *ONE_MORE], 400, "invalid_request", TWO_HEADERS, id="two-headers"),
    # The query parameter is off unless configured.
    pytest.param(f"/ws?access_token={VALID}", [], 401, None, REQUIRED, id="query-token-off"),
    pytest.param("/ws/../health-ws", [], 401, None, REQUIRED, id="dot-dot-to-public"),
]


@pytest.mark.parametrize(("path", "headers", "status", "error", "description"), WS_REFUSED)
def test_websocket_refused_with_http_answer(
    ws_server: str,
    path: str,
    headers: list[tuple[str, str]],
    status: int,
    error: str | None,
    description: str,
) -> None:
    """uvicorn offers websocket.http.response, so the refusal is a real HTTP 401/400."""
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_server + path, additional_headers=headers, open_timeout=5)

    response = refused.value.response
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"] == expected_challenge(error, description)
    assert json.loads(response.body or b"") == {"detail": description}


# --- lifespan --------------------------------------------------------------------------------


def lifespan_app(settings: JWTSettings, *, outside: bool) -> tuple[ASGIApp, list[str]]:
    """A Starlette app whose lifespan yields state; the middleware outside it or added to it."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    async def handler(request: Request) -> JSONResponse:
        return JSONResponse({"db": request.state.db, "user_id": request.state.user_id})

    app = Starlette(
        routes=[Route("/private", handler), Route("/health", handler)], lifespan=lifespan
    )
    if outside:
        return JWTAuthMiddleware(app, public=["/health"], settings=settings), events
    app.add_middleware(JWTAuthMiddleware, public=["/health"], settings=settings)
    return app, events


@pytest.mark.parametrize("outside", [True, False], ids=["wrapping-the-app", "add-middleware"])
def test_lifespan_passes_through(settings: JWTSettings, outside: bool) -> None:
    app, events = lifespan_app(settings, outside=outside)

    with serve(app, lifespan="on") as base:
        assert events == ["startup"]
        private = exchange(base, "GET /private HTTP/1.1", AUTH)
        public = exchange(base, "GET /health HTTP/1.1")
        denied = exchange(base, "GET /private HTTP/1.1")

    assert events == ["startup", "shutdown"]
    assert private.json() == {"db": "connected", "user_id": "user-1"}
    # Each request gets its own copy of the lifespan state: no user leaks into the next one.
    assert public.json() == {"db": "connected", "user_id": None}
    assert denied.status == 401
