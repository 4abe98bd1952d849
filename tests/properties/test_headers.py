"""Untrusted ``Authorization`` headers and query tokens thrown at the middleware: only tokens
PyJWT accepts get through, a denial is always a well-formed challenge without the token, and
a public path is never turned into a denial or a crash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from jwt_middleware.edge.credentials import is_b64token
from jwt_middleware.tokens import create_jwt_token
from tests.asgi import scope_headers
from tests.helpers import OTHER_SECRET, SECRET, b64url_json, bearer, mint_token
from tests.properties.harness import (
    B64URL,
    CASES,
    NOW,
    PROTECTED,
    assert_challenge,
    call,
    credentials_of,
    oracle,
    served,
    shared_settings,
)

subjects = st.text(min_size=1, max_size=30).filter(str.strip)


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

    outcome = call(served(headers=scope_headers(bearer(token))))

    assert outcome.status == 401
    assert outcome.headers[b"www-authenticate"] == INVALID_TOKEN_CHALLENGE


@CASES
@given(headers=header_lists)
@example(headers=[b"Bearer " + b"A" * 10_000])
@example(headers=[b"Bearer \xff"])
@example(headers=[b"Bearer error_de"])  # the answer's own text, as a credential
def test_protected_path_admits_only_tokens_pyjwt_accepts(headers: list[bytes]) -> None:
    outcome = call(served(headers=[(b"authorization", value) for value in headers]))

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
    path = data.draw(st.sampled_from([PROTECTED, "/health", "/static/x"]))

    outcome = call(served(path, headers=[(b"authorization", header)]))

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

    outcome = call(served("/health", headers=headers))

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

    outcome = call(served(path, headers=headers, scope_type="websocket", extensions=extensions))

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

    outcome = call(served(headers=headers, query_string=query), token_query_param="access_token")

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


#: RFC 6750 section 2.1, as a regular expression: what the middleware's check must agree with.
RFC_6750_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@CASES
@given(
    text=st.text(alphabet=st.sampled_from("aZ09-._~+/= !,é\x00\n"), max_size=24)
    | st.text(max_size=12)
)
@example(text="")
@example(text="==")
@example(text="a=b")
@example(text="abc==\n")
def test_the_b64token_check_is_rfc_6750s_grammar(text: str) -> None:
    assert is_b64token(text) is (RFC_6750_B64TOKEN.fullmatch(text) is not None)
