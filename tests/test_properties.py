"""Property-based tests: untrusted headers and paths thrown at the middleware.

The middleware is called as a plain ASGI app with a hand-made scope, so a case can hold
header bytes and raw paths that a test client would refuse or normalise, and a few hundred
cases run in well under a second each. Whether a token is valid is decided by PyJWT
directly (the oracle), never by our own code.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import re
import string
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

import jwt
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.rules import PublicPaths, is_safe_path
from jwt_middleware.tokens import create_jwt_token
from tests.asgi import scope_headers
from tests.helpers import OTHER_SECRET, SECRET, b64url_json, bearer, mint_token

PUBLIC = ["/health", "/static/*", "GET /posts/*"]
PROTECTED = "/private"
NOW = int(time.time())
B64URL = string.ascii_letters + string.digits + "-_"

CASES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the harness -----------------------------------------------------------------------------


@dataclass
class Downstream:
    """The protected app: remembers every scope that reached it, and answers 200."""

    scopes: list[Scope] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@dataclass
class Outcome:
    """What one request did: the messages sent, and the scope downstream saw (if any)."""

    messages: list[Message]
    reached: Scope | None

    @property
    def status(self) -> int:
        start = self.messages[0]
        assert start["type"] in ("http.response.start", "websocket.http.response.start")
        status: int = start["status"]
        return status

    @property
    def headers(self) -> dict[bytes, bytes]:
        pairs: list[tuple[bytes, bytes]] = self.messages[0]["headers"]
        names = [name for name, _ in pairs]
        assert len(names) == len(set(names)), "a header sent twice"
        return dict(pairs)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


@functools.cache
def harness(**options: Any) -> tuple[JWTAuthMiddleware, Downstream]:
    """One middleware per option set, built on first use (inside a test, with a clean env)."""
    downstream = Downstream()
    middleware = JWTAuthMiddleware(downstream, public=PUBLIC, settings=shared_settings(), **options)
    return middleware, downstream


def http_scope(
    *,
    path: str = PROTECTED,
    raw_path: bytes | None = None,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    query_string: bytes = b"",
    scope_type: str = "http",
    extensions: dict[str, Any] | None = None,
    omit_raw_path: bool = False,
) -> Scope:
    scope: Scope = {
        "type": scope_type,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http" if scope_type == "http" else "ws",
        "path": path,
        "raw_path": path.encode("utf-8") if raw_path is None else raw_path,
        "root_path": "",
        "query_string": query_string,
        "headers": headers or [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    if scope_type == "http":
        scope["method"] = method
    if extensions is not None:
        scope["extensions"] = extensions
    if omit_raw_path:
        del scope["raw_path"]
    return scope


def call(scope: Scope, **options: Any) -> Outcome:
    """Run one request through the middleware; any exception escapes to the test."""
    middleware, downstream = harness(**options)
    downstream.scopes.clear()
    messages: list[Message] = []

    async def receive() -> Message:
        if scope["type"] == "websocket":
            return {"type": "websocket.connect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert len(downstream.scopes) <= 1
    return Outcome(messages, downstream.scopes[0] if downstream.scopes else None)


def oracle(token: str) -> dict[str, Any] | None:
    """The claims of a token that PyJWT alone accepts under our settings, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return claims if isinstance(subject, str) and subject.strip() else None


def credentials_of(header: bytes) -> str:
    """The part after the scheme, as text, for checking it never comes back to the client."""
    return header.partition(b" ")[2].strip(b" ").decode("latin-1")


def assert_challenge(outcome: Outcome, sent: list[bytes]) -> None:
    """A denial is a 400/401 with an RFC 6750 challenge and a short JSON detail, no token."""
    assert outcome.reached is None
    assert outcome.status in (400, 401)
    headers = outcome.headers
    challenge = headers[b"www-authenticate"].decode("latin-1")
    assert challenge.startswith('Bearer realm="api"')
    assert headers[b"cache-control"] == b"no-store"
    payload = json.loads(outcome.body)
    assert list(payload) == ["detail"]
    detail = payload["detail"]
    assert isinstance(detail, str)
    assert 0 < len(detail) <= 80
    if outcome.status == 400:
        assert 'error="invalid_request"' in challenge
    for header in sent:
        secret_part = credentials_of(header)
        if len(secret_part) >= 8:
            assert secret_part not in detail
            assert secret_part not in challenge


# --- strategies ------------------------------------------------------------------------------

subjects = st.text(min_size=1, max_size=30).filter(str.strip)


@functools.cache
def shared_settings() -> JWTSettings:
    """Built on first use, inside a test, so no JWT_* variable or .env file can leak in."""
    return JWTSettings(secret=SECRET)


def with_helper(sub: str) -> str:
    return create_jwt_token(sub, settings=shared_settings())


minters: st.SearchStrategy[Callable[[str], str]] = st.sampled_from([mint_token, with_helper])


@st.composite
def valid_tokens(draw: st.DrawFn) -> tuple[str, str]:
    """(token, sub), minted with PyJWT directly or with our helper."""
    sub = draw(subjects)
    return draw(minters)(sub), sub


@st.composite
def bearer_forms(draw: st.DrawFn, token: str) -> bytes:
    """Spellings of a Bearer header that RFC 6750 / 9110 allow for one token."""
    scheme = draw(st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]))
    spaces = " " * draw(st.integers(1, 3))
    trailing = " " * draw(st.integers(0, 2))
    return f"{scheme}{spaces}{token}{trailing}".encode("ascii")


@st.composite
def tampered_tokens(draw: st.DrawFn) -> str:
    """A real token, broken in one of the ways an attacker or a bad proxy would."""
    token = mint_token(draw(subjects))
    how = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "swap", "resign", "none"]))
    if how == "flip":
        at = draw(st.integers(0, len(token) - 1))
        replacement = draw(st.sampled_from(B64URL + ".=+/~"))
        return token[:at] + replacement + token[at + 1 :]
    if how == "truncate":
        return token[: draw(st.integers(0, len(token) - 1))]
    if how == "insert":
        at = draw(st.integers(0, len(token)))
        return token[:at] + draw(st.text(min_size=1, max_size=3)) + token[at:]
    if how == "delete":
        at = draw(st.integers(0, len(token) - 1))
        return token[:at] + token[at + 1 :]
    header, payload = token.split(".")[:2]
    if how == "swap":  # another token's signature on this payload
        return f"{header}.{payload}.{mint_token('someone-else').split('.')[2]}"
    if how == "resign":  # the same claims signed with a key we do not trust
        return mint_token(draw(subjects), secret=OTHER_SECRET)
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{payload}."


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def signed_odd_claims(draw: st.DrawFn) -> str:
    """Correctly signed tokens with claims and header fields of every odd type.

    Signed by hand, so that PyJWT's own checks on encoding cannot filter anything out;
    verification of such a token must fail cleanly or succeed, never crash.
    """
    payload = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    plausible = {
        "sub": subjects,
        "exp": st.integers(NOW - 100, NOW + 10**6),
        "iat": st.integers(NOW - 10**6, NOW + 100),
        "nbf": st.integers(NOW - 10**6, NOW + 100),
    }
    for claim in ("sub", "exp", "iat", "nbf", "aud", "iss", "jti"):
        if draw(st.booleans()):
            payload[claim] = draw(plausible.get(claim, subjects) | json_values)
    header: dict[str, Any] = {"alg": draw(st.just("HS256") | json_values)}
    for name in ("kid", "crit", "b64", "typ", "jku"):
        if draw(st.booleans()):
            header[name] = draw(json_values)
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@st.composite
def jwt_shaped(draw: st.DrawFn) -> str:
    """Dot-separated base64url-looking segments, with a plausible header more often than not."""
    segments = draw(st.lists(st.text(alphabet=B64URL + "=", max_size=40), min_size=1, max_size=5))
    if len(segments) >= 2 and draw(st.booleans()):
        alg = draw(st.sampled_from(["HS256", "HS512", "none", "RS256", "", "hs256"]))
        typ = draw(st.sampled_from(["JWT", "at+jwt", "AT+JWT", "refresh+jwt", None]) | json_values)
        segments[0] = b64url_json({"alg": alg, "typ": typ})
    return ".".join(segments)


def as_bearer(tokens: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return tokens.map(lambda token: f"Bearer {token}".encode())


untrusted_headers = st.one_of(
    st.binary(max_size=300),
    as_bearer(st.text(max_size=80)),
    as_bearer(jwt_shaped()),
    as_bearer(tampered_tokens()),
    as_bearer(signed_odd_claims()),
    valid_tokens().flatmap(lambda pair: bearer_forms(pair[0])),
    st.sampled_from([b"Bearer", b"Bearer ", b"Basic abc", b"bearer\t", b"Bearer \xe9", b""]),
)
#: Mostly one Authorization header; sometimes none, sometimes two (always refused).
header_lists = st.one_of(
    untrusted_headers.map(lambda header: [header]),
    st.just([]),
    st.lists(untrusted_headers, min_size=2, max_size=2),
)


# --- headers ---------------------------------------------------------------------------------


INVALID_TOKEN_CHALLENGE = (
    b'Bearer realm="api", error="invalid_token", error_description="The access token is invalid."'
)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "HS256", "typ": []}, id="typ-list"),
        pytest.param({"alg": "HS256", "typ": ["JWT"]}, id="typ-list-of-jwt"),
        pytest.param({"alg": "HS256", "typ": {}}, id="typ-object"),
        pytest.param({"alg": "HS256", "typ": 1}, id="typ-number"),
        pytest.param({"alg": "HS256", "typ": ""}, id="typ-empty"),
        pytest.param({"alg": ["HS256"], "typ": "JWT"}, id="alg-list"),
        pytest.param({"alg": {"HS256": 1}, "typ": "JWT"}, id="alg-object"),
        pytest.param({"alg": "HS256", "kid": ["a"]}, id="kid-list"),
        pytest.param({"alg": "HS256", "kid": {"a": 1}}, id="kid-object"),
    ],
)
def test_header_fields_of_odd_json_types_are_refused_cleanly(header: dict[str, Any]) -> None:
    """The token header is read before the signature is checked: anyone can send these."""
    token = f"{b64url_json(header)}.{b64url_json({'sub': 'x', 'exp': 4102444800})}.c2ln"

    outcome = call(http_scope(headers=scope_headers(bearer(token))))

    assert outcome.status == 401
    assert outcome.headers[b"www-authenticate"] == INVALID_TOKEN_CHALLENGE


@CASES
@given(headers=header_lists)
@example(headers=[b"Bearer " + b"A" * 10_000])
@example(headers=[b"Bearer \xff"])
def test_protected_path_admits_only_tokens_pyjwt_accepts(headers: list[bytes]) -> None:
    outcome = call(http_scope(headers=[(b"authorization", value) for value in headers]))

    event(f"status {outcome.status}")
    if outcome.reached is None:
        assert_challenge(outcome, headers)
        return
    assert outcome.status == 200
    assert len(headers) == 1
    claims = oracle(credentials_of(headers[0]))
    assert claims is not None, "downstream reached with a token PyJWT refuses"
    assert outcome.reached["state"]["user_id"] == claims["sub"]
    assert outcome.reached["user"].identity == claims["sub"]


@CASES
@given(token_and_sub=valid_tokens(), data=st.data())
def test_valid_token_reaches_downstream_with_its_subject(
    token_and_sub: tuple[str, str], data: st.DataObject
) -> None:
    token, sub = token_and_sub
    header = data.draw(bearer_forms(token))
    path = data.draw(st.sampled_from([PROTECTED, "/health", "/static/x", "/a/../b"]))

    outcome = call(http_scope(path=path, headers=[(b"authorization", header)]))

    assert outcome.status == 200
    assert outcome.reached is not None
    assert outcome.reached["state"]["user_id"] == sub
    assert outcome.reached["state"]["claims"]["sub"] == sub


@CASES
@given(
    header=untrusted_headers,
    extra=st.lists(st.tuples(st.binary(max_size=10), st.binary(max_size=20)), max_size=3),
)
def test_public_path_always_gets_through(header: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    """On a public path nothing in the headers can turn the answer into a denial or a crash."""
    headers = [(name.lower(), value) for name, value in extra] + [(b"authorization", header)]

    outcome = call(http_scope(path="/health", headers=headers))

    assert outcome.status == 200
    assert outcome.reached is not None
    claims = oracle(credentials_of(header))
    user_id = outcome.reached["state"]["user_id"]
    if user_id is not None:
        assert claims is not None
        assert user_id == claims["sub"]


@CASES
@given(
    header=st.none() | untrusted_headers,
    extensions=st.sampled_from([None, {}, {"websocket.http.response": {}}]),
    path=st.sampled_from(["/ws", "/health", "/static/../ws"]),
)
def test_websocket_denial_never_accepts(
    header: bytes | None, extensions: dict[str, Any] | None, path: str
) -> None:
    headers = [] if header is None else [(b"authorization", header)]

    outcome = call(
        http_scope(path=path, headers=headers, scope_type="websocket", extensions=extensions)
    )

    if outcome.reached is not None:
        user_id = outcome.reached["state"]["user_id"]
        claims = oracle(credentials_of(header)) if header is not None else None
        assert (user_id is None and path == "/health") or (
            claims is not None and user_id == claims["sub"]
        )
        return
    if extensions and "websocket.http.response" in extensions:
        assert outcome.messages[0]["type"] == "websocket.http.response.start"
        assert_challenge(outcome, [] if header is None else [header])
    else:
        assert outcome.messages == [{"type": "websocket.close", "code": 1008}]


@CASES
@given(
    query=st.one_of(
        st.binary(max_size=100),
        st.builds(lambda t: f"access_token={t}".encode(), jwt_shaped() | tampered_tokens()),
        st.builds(lambda t: f"a=1&access_token={t}&access_token={t}".encode(), jwt_shaped()),
    ),
    header=st.none() | untrusted_headers,
)
def test_query_parameter_token_is_as_strict_as_the_header(
    query: bytes, header: bytes | None
) -> None:
    headers = [] if header is None else [(b"authorization", header)]

    outcome = call(
        http_scope(headers=headers, query_string=query), token_query_param="access_token"
    )

    if outcome.reached is None:
        assert_challenge(outcome, [] if header is None else [header])
        return
    user_id = outcome.reached["state"]["user_id"]
    from_header = oracle(credentials_of(header)) if header is not None else None
    from_query = [
        oracle(unquote(value))
        for key, _, value in (part.partition("=") for part in query.decode("latin-1").split("&"))
        if key == "access_token"
    ]
    accepted = [c["sub"] for c in [from_header, *from_query] if c is not None]
    assert user_id in accepted


# --- paths -----------------------------------------------------------------------------------

plain_segments = st.text(
    alphabet=string.ascii_letters + string.digits + "-_~.", min_size=1, max_size=8
).filter(lambda s: s not in {".", ".."})
tricky_segments = st.sampled_from(
    [
        "", ".", "..", "...", "health", "static", "posts", "private", "%2e", "%2E%2e", "%2f",
        "%2F", "%5c", "%5C", "%25", "%252e", "..;", ".;x", ";", "a.css", "%00", "\\", "%68ealth",
        "%20", "..%00", "\u00e9", "%C3%A9", "\u2024\u2024", "?", "#",
    ]
)  # fmt: skip
any_text_segment = st.text(max_size=6)


@st.composite
def raw_targets(draw: st.DrawFn) -> str:
    """A request path as a client could send it (percent-escapes and all), as text.

    It starts like an allowlisted path more often than not, so both answers are common.
    """
    if draw(st.booleans()):  # a clean path, for the rules to match or not
        start = draw(st.sampled_from(["/health", "/static/", "/posts/", "/private/", "/static"]))
        below = "/".join(draw(st.lists(plain_segments, max_size=3)))
        if start.endswith("/"):
            return start + below
        return start + (f"/{below}" if below and draw(st.booleans()) else "")
    first = draw(st.sampled_from(["health", "static", "posts", "private"]) | tricky_segments)
    rest = draw(st.lists(plain_segments | tricky_segments | any_text_segment, max_size=5))
    lead = draw(st.sampled_from(["/", "/", "/", "", "//"]))
    return lead + "/".join([first, *rest])


def deliver(target: str) -> tuple[str, bytes]:
    """(path, raw_path) as uvicorn fills them: raw bytes as sent, path percent-decoded.

    Characters a client could not send raw are percent-encoded first, as a client would.
    """
    raw = quote(target, safe="/%;.~-_!$&'()*+,=:@\\")
    return unquote(raw), raw.encode("ascii")


def is_canonical(path: str, raw_path: bytes | None) -> bool:
    """The brief of the allowlist, restated independently: no way to mean another path."""
    if raw_path is not None:
        lowered = raw_path.lower()
        if any(escape in lowered for escape in (b"%2e", b"%2f", b"%5c", b"%25")):
            return False
        try:
            once = unquote_to_bytes(raw_path).decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            return False  # overlong or invalid UTF-8
        if not is_canonical(once, None):
            return False
    # A "%" left after decoding was encoded twice; a decoder further on makes it something.
    if "%" in path or "\ufffd" in path:
        return False
    if unicodedata.normalize("NFKC", path) != path:
        return False  # fullwidth dots and slashes, and their kin
    if not path.startswith("/") or "\\" in path:
        return False
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return False
    segments = path.split("/")[1:]
    if segments[-1] == "":
        segments.pop()  # one trailing slash is canonical
    # A segment's name is what comes before ";parameters"; an empty name is an empty segment.
    return all(segment.split(";")[0] not in {"", ".", ".."} for segment in segments)


def allowed_by_rules(method: str, path: str) -> bool:
    return (
        path == "/health"
        or path.startswith("/static/")
        or (method in ("GET", "HEAD") and path.startswith("/posts/"))
    )


methods = st.sampled_from(["GET", "HEAD", "POST", "DELETE", "OPTIONS", "get", "PATCH"])


@CASES
@given(target=raw_targets(), method=methods)
@example(target="/static/%2e%2e/private", method="GET")
@example(target="/static/..;/private", method="GET")
@example(target="/posts/%2E%2E/private", method="HEAD")
def test_without_token_only_canonical_allowlisted_paths_get_through(
    target: str, method: str
) -> None:
    path, raw_path = deliver(target)

    outcome = call(http_scope(path=path, raw_path=raw_path, method=method))

    expected = is_canonical(path, raw_path) and allowed_by_rules(method, path)
    event("public" if expected else "protected")
    assert (outcome.reached is not None) == expected, (path, raw_path)
    if outcome.reached is None:
        assert outcome.status == 401
        assert outcome.headers[b"www-authenticate"] == b'Bearer realm="api"'
    else:
        assert outcome.reached["state"]["user_id"] is None


@CASES
@given(target=raw_targets(), method=methods)
@example(target="/static/%252e%252e/private", method="GET")
def test_without_raw_path_only_canonical_allowlisted_paths_get_through(
    target: str, method: str
) -> None:
    # What an adapter that sends no raw_path (Mangum) hands over: the decoded path only.
    path, _ = deliver(target)

    outcome = call(http_scope(path=path, method=method, omit_raw_path=True))

    expected = is_canonical(path, None) and allowed_by_rules(method, path)
    event("public" if expected else "protected")
    assert (outcome.reached is not None) == expected, path


@CASES
@given(path=st.text(max_size=30), raw_path=st.none() | st.binary(max_size=30), method=methods)
def test_arbitrary_scope_paths_never_crash(path: str, raw_path: bytes | None, method: str) -> None:
    """Paths no server would deliver (unicode raw, mismatched raw, none at all) fail closed."""
    scope = http_scope(path=path, method=method)
    scope["raw_path"] = raw_path
    if raw_path is None:
        del scope["raw_path"]

    outcome = call(scope)

    if outcome.reached is not None:
        assert allowed_by_rules(method, path)
        assert is_canonical(path, raw_path or b"")
    else:
        assert outcome.status == 401


DANGERS = ["/./", "/../", "//", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "/.", "/..", "/..;x/"]


@st.composite
def dangerous_targets(draw: st.DrawFn) -> str:
    """A canonical path with one dot segment, empty segment or encoded separator put in."""
    base = "/" + "/".join(draw(st.lists(plain_segments, min_size=1, max_size=4)))
    danger = draw(st.sampled_from(DANGERS))
    if danger in ("/.", "/.."):
        return base + danger  # a dot segment at the very end
    at = draw(st.integers(1, len(base)))
    return base[:at] + danger + base[at:]


#: An allowlist that makes every path public, so only the path-safety check can refuse.
EVERYTHING = PublicPaths(["/*", re.compile(".*"), "GET /*"])


@CASES
@given(target=dangerous_targets(), method=methods)
def test_dangerous_paths_are_never_public(target: str, method: str) -> None:
    path, raw_path = deliver(target)

    assert not is_safe_path(path, raw_path)
    assert not EVERYTHING.is_public(method, path, raw_path)
    assert not EVERYTHING.is_public(None, path, raw_path)


@CASES
@given(segments=st.lists(plain_segments, max_size=5), trailing=st.booleans(), method=methods)
def test_canonical_paths_are_public_under_a_catch_all(
    segments: list[str], trailing: bool, method: str
) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")

    assert is_safe_path(path, path.encode("ascii"))
    assert EVERYTHING.is_public(method, path, path.encode("ascii"))
