"""The ``Cookie`` header as the cookie authenticator reads it (only the named cookie, RFC
6265 pairs, the same name twice refused), and the CSRF decision of :class:`CsrfGuard` for
the requests a cookie authenticates: which evidence of origin lets an unsafe one through.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_middleware import InvalidRequestError, MissingTokenError
from jwt_middleware.edge.credentials import (
    browser_headers,
    cookie_header,
    cookie_token,
    is_cookie_value,
    named_cookie,
)
from jwt_middleware.errors import ConfigurationError
from jwt_middleware.verification.cookie import CsrfGuard
from tests.asgi import http_scope
from tests.helpers import APP_ORIGIN

NAME = b"access="


@pytest.mark.parametrize(
    ("header", "value"),
    [
        pytest.param(b"access=abc", b"abc", id="alone"),
        pytest.param(b"a=b; access=abc; c=d", b"abc", id="among-others"),
        pytest.param(b"a=b;access=abc", b"abc", id="no-space-after-semicolon"),
        pytest.param(b"a=b ;  access=abc  ", b"abc", id="spaces-around"),
        pytest.param(b'access="abc"', b"abc", id="quoted"),
        pytest.param(b"xaccess=1; access=2", b"2", id="longer-name-first"),
        pytest.param(b"other=access=1", None, id="inside-another-value"),
        pytest.param(b"Access=abc", None, id="names-are-case-sensitive"),
        pytest.param(b"a=b", None, id="absent"),
        pytest.param(b"access=", None, id="empty-is-no-credential"),
        pytest.param(b"access=a=b", b"a=b", id="equals-in-value"),
        pytest.param(b"a=not valid json {}; access=abc", b"abc", id="others-not-judged"),
    ],
)
def test_named_cookie(header: bytes, value: bytes | None) -> None:
    assert named_cookie(header, NAME) == value


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"access=1; access=2", id="twice"),
        pytest.param(b"access=1; a=b; access=1", id="twice-same-value"),
        pytest.param(b"access=1;access=", id="second-empty"),
    ],
)
def test_the_same_cookie_twice_is_refused(header: bytes) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        named_cookie(header, NAME)
    assert refused.value.status_code == 400
    assert refused.value.description == "More than one cookie of the same name."


@pytest.mark.parametrize(
    ("headers", "cookies", "authorization"),
    [
        pytest.param([], None, False, id="none"),
        pytest.param([(b"cookie", b"a=1")], b"a=1", False, id="one"),
        pytest.param(
            [(b"cookie", b"a=1"), (b"authorization", b"Bearer x"), (b"cookie", b"b=2")],
            b"a=1; b=2",
            True,
            id="http2-split-and-header",
        ),
    ],
)
def test_browser_headers(
    headers: list[tuple[bytes, bytes]], cookies: bytes | None, authorization: bool
) -> None:
    scope = http_scope("/", headers=headers)
    assert browser_headers(scope) == (cookies, authorization)
    assert cookie_header(scope) == cookies


def test_a_cookie_split_over_two_fields_is_still_seen_twice() -> None:
    scope = http_scope("/", headers=[(b"cookie", b"access=1"), (b"cookie", b"access=2")])
    with pytest.raises(InvalidRequestError):
        cookie_token(cookie_header(scope), NAME)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        pytest.param(None, MissingTokenError, id="no-cookie-header"),
        pytest.param(b"a=b", MissingTokenError, id="no-such-cookie"),
        pytest.param("access=caf\u00e9".encode("latin-1"), InvalidRequestError, id="not-ascii"),
    ],
)
def test_cookie_token_refusals(header: bytes | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        cookie_token(header, NAME)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        pytest.param(b"abc-._~+/=!#$%&'()*", True, id="octets"),
        pytest.param(b"a b", False, id="space"),
        pytest.param(b'a"b', False, id="quote"),
        pytest.param(b"a,b", False, id="comma"),
        pytest.param(b"a\\b", False, id="backslash"),
        pytest.param(b"a\x7fb", False, id="control"),
    ],
)
def test_is_cookie_value(value: bytes, valid: bool) -> None:
    assert is_cookie_value(value) is valid


_PAIR_NAMES = st.text(alphabet="abcdefghij_-", min_size=1, max_size=8)
_VALUES = st.binary(max_size=20).map(lambda raw: raw.replace(b";", b"").replace(b"\x00", b""))


@given(
    before=st.lists(st.tuples(_PAIR_NAMES, _VALUES), max_size=4),
    after=st.lists(st.tuples(_PAIR_NAMES, _VALUES), max_size=4),
    value=st.text(alphabet="abcXYZ019-_.~+/", min_size=1, max_size=30),
)
def test_named_cookie_finds_one_cookie_among_any_others(
    before: list[tuple[str, bytes]], after: list[tuple[str, bytes]], value: str
) -> None:
    """Other cookies, with whatever bytes but ``;`` in their values (``access=`` among
    them), never hide ours or pass for it; none is named ``access`` (no ``s`` in names)."""
    pairs = [name.encode() + b"=" + raw for name, raw in before]
    pairs.append(b"access=" + value.encode())
    pairs += [name.encode() + b"=" + raw for name, raw in after]
    header = b"; ".join(pairs)
    assert named_cookie(header, NAME) == value.encode()


# --- the CSRF decision ------------------------------------------------------------------------

GUARD = CsrfGuard(trusted_origins=[APP_ORIGIN], header="X-CSRF-Token", cookie_name="__Host-csrf")
CSRF = b"Vb2cT4x0Zr9Qm1kP7sN3wD6yH8jL5fA2"


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        pytest.param([(b"sec-fetch-site", b"same-origin")], True, id="same-origin"),
        pytest.param([(b"sec-fetch-site", b"same-site")], False, id="same-site-is-not-enough"),
        pytest.param([(b"sec-fetch-site", b"cross-site")], False, id="cross-site"),
        pytest.param([(b"sec-fetch-site", b"none")], False, id="user-initiated-none"),
        pytest.param([(b"origin", APP_ORIGIN.encode())], True, id="trusted-origin"),
        pytest.param(
            [(b"sec-fetch-site", b"same-site"), (b"origin", APP_ORIGIN.encode())],
            True,
            id="sibling-front-end-trusted",
        ),
        pytest.param([(b"origin", b"https://evil.example")], False, id="other-origin"),
        pytest.param([(b"origin", b"null")], False, id="opaque-origin"),
        pytest.param([(b"origin", APP_ORIGIN.encode() + b"/")], False, id="origin-with-slash"),
        pytest.param([(b"origin", b"HTTPS://APP.EXAMPLE.COM")], False, id="origin-not-lowercase"),
        pytest.param([], False, id="no-evidence"),
        pytest.param(
            [(b"x-csrf-token", CSRF), (b"cookie", b"__Host-csrf=" + CSRF)], True, id="double-submit"
        ),
        pytest.param(
            [(b"x-csrf-token", CSRF), (b"cookie", b'a=1; __Host-csrf="' + CSRF + b'"')],
            True,
            id="double-submit-quoted-cookie",
        ),
        pytest.param(
            [(b"x-csrf-token", b"guess"), (b"cookie", b"__Host-csrf=" + CSRF)],
            False,
            id="double-submit-mismatch",
        ),
        pytest.param([(b"x-csrf-token", CSRF)], False, id="header-without-cookie"),
        pytest.param([(b"cookie", b"__Host-csrf=" + CSRF)], False, id="cookie-without-header"),
        pytest.param(
            [(b"x-csrf-token", b""), (b"cookie", b"__Host-csrf=")], False, id="both-empty"
        ),
        pytest.param(
            [
                (b"x-csrf-token", CSRF),
                (b"x-csrf-token", CSRF),
                (b"cookie", b"__Host-csrf=" + CSRF),
            ],
            False,
            id="header-twice",
        ),
        pytest.param(
            [(b"x-csrf-token", CSRF), (b"cookie", b"__Host-csrf=" + CSRF + b"; __Host-csrf=x")],
            False,
            id="cookie-twice",
        ),
        pytest.param(
            [(b"x-csrf-token", b"a b"), (b"cookie", b"__Host-csrf=a b")],
            False,
            id="not-cookie-octets",
        ),
    ],
)
def test_csrf_guard(headers: list[tuple[bytes, bytes]], allowed: bool) -> None:
    assert GUARD.allows(http_scope("/", method="POST", headers=headers)) is allowed


def test_without_configuration_only_same_origin_passes() -> None:
    guard = CsrfGuard()
    for headers, allowed in [
        ([(b"sec-fetch-site", b"same-origin")], True),
        ([(b"origin", APP_ORIGIN.encode())], False),
        ([(b"x-csrf-token", CSRF), (b"cookie", b"__Host-csrf=" + CSRF)], False),
    ]:
        assert guard.allows(http_scope("/", method="POST", headers=headers)) is allowed


@pytest.mark.parametrize(
    ("options", "variable"),
    [
        pytest.param(
            {"trusted_origins": ["https://a.example/"]}, "JWT_CSRF_TRUSTED_ORIGINS", id="path"
        ),
        pytest.param({"header": "X-CSRF-Token"}, "JWT_CSRF_HEADER", id="header-alone"),
        pytest.param({"header": "X CSRF", "cookie_name": "c"}, "JWT_CSRF_HEADER", id="bad-header"),
        pytest.param(
            {"header": "h", "cookie_name": "a;b"}, "JWT_CSRF_COOKIE_NAME", id="bad-cookie"
        ),
    ],
)
def test_csrf_guard_misconfigured(options: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        CsrfGuard(**options)  # type: ignore[arg-type]
