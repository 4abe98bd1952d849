"""Where a request carries its bearer token: the ``Authorization: Bearer`` header (RFC 6750
section 2.1), a query parameter when the middleware was told to read one (section 2.3), a
header of its own that a proxy in front sets (``JWT_TOKEN_HEADER``: AWS ALB's
``x-amzn-oidc-data``, Google IAP's ``x-goog-iap-jwt-assertion``, Cloudflare Access's
``cf-access-jwt-assertion``), or a cookie (RFC 6265) when it was told its name.

Pure functions of the ASGI scope: they never decode more than the one header or parameter
they look for, refuse what is ambiguous (two ``Authorization`` headers, a token in both
places, two parameters), and raise :class:`~jwt_middleware.errors.MissingTokenError` for a
request without bearer credentials of either kind (no header, or another scheme such as
Basic), so that another authenticator may try. Nothing of the request is ever quoted in an
error.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from starlette.types import Scope

from ..errors import InvalidRequestError, MissingTokenError

__all__ = [
    "bearer_token",
    "browser_headers",
    "cookie_header",
    "cookie_token",
    "is_b64token",
    "is_cookie_value",
    "is_jwt_shaped",
    "named_cookie",
    "proxy_token",
]

_TWO_COOKIES: Final = "More than one cookie of the same name."
_MALFORMED_COOKIE: Final = "Malformed cookie."
_SEMICOLON: Final = 0x3B
_QUOTE: Final = 0x22
_COOKIE_SPACE: Final = b" \t"

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARACTERS: Final = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
)
# RFC 6265 section 4.1.1: cookie-octet, US-ASCII but controls, space, '"', ',', ';' and '\\'.
_COOKIE_OCTETS: Final = bytes(octet for octet in range(0x21, 0x7F) if octet not in b'",;\\')

#: What a JWS compact serialization is made of (RFC 7515): base64url and the two dots.
_JWS_CHARACTERS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def bearer_token(scope: Scope, query_param: str | None = None) -> str:
    """The bearer token of a request, or the error that says why there is none.

    A token from the header is returned as sent: its syntax (:func:`is_b64token`) is for the
    caller to check unless the token is already known (a cached one passed it on its first
    sight); a token from the query string is checked here.
    """
    header: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if header is not None:
                raise InvalidRequestError("More than one Authorization header.")
            header = value
    if query_param is not None:
        from_query = _query_token(scope, query_param)
        if from_query is not None:
            if header is not None:
                raise InvalidRequestError("Send the token in one place only.")
            return from_query
    if header is None:
        raise MissingTokenError
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequestError from None
    scheme, _, credentials = text.partition(" ")
    if scheme.lower() != "bearer":
        raise MissingTokenError
    token = credentials.strip(" ")
    if not token:
        raise InvalidRequestError("Bearer scheme without a token.")
    return token


def proxy_token(scope: Scope, header: bytes, query_param: str | None = None) -> str:
    """The token of a request in the named ``header`` (lower case, as ASGI gives names),
    the raw token without a scheme; without that header, the bearer token of
    :func:`bearer_token`.

    One credential, one place: a request with the header *and* a bearer token (in
    ``Authorization`` or the query) is refused with 400, as is a request with the header
    twice or empty, since which one the proxy set cannot be told. ``Authorization`` with
    another scheme (Basic) is not a token and does not count. The token from the header is
    returned as sent, without the RFC 6750 ``b64token`` check: it is no bearer token, and
    AWS ALB pads its segments with ``=``; the JWS parser is what checks it.
    """
    value: bytes | None = None
    for name, each in scope["headers"]:
        if name == header:
            if value is not None:
                raise InvalidRequestError("More than one token header.")
            value = each
    if value is None:
        return bearer_token(scope, query_param)
    try:
        bearer_token(scope, query_param)
    except MissingTokenError:
        pass
    else:
        raise InvalidRequestError("Send the token in one place only.")
    try:
        token = value.decode("ascii").strip(" \t")
    except UnicodeDecodeError:
        raise InvalidRequestError from None
    if not token:
        raise InvalidRequestError("Token header without a token.")
    return token


def _query_token(scope: Scope, query_param: str) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return None
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("Malformed query string.") from None
    values = [value for key, value in pairs if key == query_param]
    if not values:
        return None
    if len(values) > 1 or not is_b64token(values[0]):
        raise InvalidRequestError("Malformed access token parameter.")
    return values[0]


def is_b64token(text: str) -> bool:
    """Whether ``text`` is an RFC 6750 ``b64token``: one ``bytes.translate`` that deletes
    the allowed characters, which leaves nothing of a good token, several times faster
    than a regular expression over a token of kilobytes."""
    body = text.rstrip("=")
    return (
        body != ""
        and body.isascii()
        and not body.encode("ascii").translate(None, _B64TOKEN_CHARACTERS)
    )


def is_jwt_shaped(token: str) -> bool:
    """Whether ``token`` looks like a JWT: three base64url parts, none empty, separated by
    two dots. Anything else is an opaque token (for introspection, when it is on)."""
    first = token.find(".")
    last = token.rfind(".")
    return (
        0 < first < last - 1
        and last < len(token) - 1
        and token.count(".") == 2
        and token.isascii()
        and not token.encode("ascii").translate(None, _JWS_CHARACTERS)
    )


def cookie_header(scope: Scope) -> bytes | None:
    """The request's ``Cookie`` header, or ``None``; see :func:`browser_headers`."""
    return browser_headers(scope)[0]


def browser_headers(scope: Scope) -> tuple[bytes | None, bool]:
    """The request's ``Cookie`` header (or ``None``), and whether it has an
    ``Authorization`` header, in one pass over the headers. HTTP/2 and HTTP/3 may split
    the cookies into several fields (RFC 9113 section 8.2.3): they are joined with
    ``"; "``, as that RFC asks, so a cookie sent twice is seen twice whichever field holds
    it."""
    found: bytes | None = None
    authorization = False
    for name, value in scope["headers"]:
        if name == b"cookie":
            found = value if found is None else found + b"; " + value
        elif name == b"authorization":
            authorization = True
    return found, authorization


def named_cookie(header: bytes, name_equals: bytes) -> bytes | None:
    """The value of one cookie in a ``Cookie`` header, ``name_equals`` being its name and
    ``=`` (``b"access="``); ``None`` when it is absent or empty (a cookie cleared by
    setting it empty is no credential).

    Only that cookie is parsed (RFC 6265 section 4.2.1: pairs separated by ``;`` and
    spaces): another cookie's syntax is not ours to judge, and a name found inside another
    cookie's value (``other=access=x``) is not the cookie. The same name twice (a cookie
    set for two paths or domains) raises :class:`InvalidRequestError`: which one is meant
    cannot be told, and a sibling subdomain can plant the second. A value in double
    quotes loses them. Its syntax is for the caller to check (:func:`is_b64token` for a
    token, :func:`is_cookie_value` for anything else). Nothing is decoded or copied but
    the one value.
    """
    start = header.find(name_equals)
    if start > 0 and header[start - 2 : start] != b"; ":  # not where a browser puts a pair
        start = _cookie_start(header, name_equals, 0)
    if start < 0:
        return None
    start += len(name_equals)
    end = header.find(b";", start)
    if end < 0:
        value = header[start:]
    else:
        # Another occurrence at all is rare: only then is it looked at closely.
        if header.find(name_equals, end) >= 0 and _cookie_start(header, name_equals, end) >= 0:
            raise InvalidRequestError(_TWO_COOKIES)
        value = header[start:end]
    if value[-1:] in (b" ", b"\t"):
        value = value.rstrip(_COOKIE_SPACE)
    if len(value) > 1 and value[0] == _QUOTE and value[-1] == _QUOTE:
        value = value[1:-1]
    return value or None


def is_cookie_value(value: bytes) -> bool:
    """Whether ``value`` is made of RFC 6265 ``cookie-octet`` only (a token that is a
    ``b64token`` is; a CSRF cookie is checked with this)."""
    return not value.translate(None, _COOKIE_OCTETS)


def cookie_token(header: bytes | None, name_equals: bytes) -> str:
    """The token in the cookie ``name_equals`` names (see :func:`named_cookie`) of the
    ``Cookie`` header, or :class:`MissingTokenError` when there is no such cookie. Its
    syntax (:func:`is_b64token`) is for the caller to check, as for a header's token."""
    value = named_cookie(header, name_equals) if header is not None else None
    if value is None:
        raise MissingTokenError
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequestError(_MALFORMED_COOKIE) from None


def _cookie_start(header: bytes, name_equals: bytes, position: int) -> int:
    """Where the first cookie ``name_equals`` names begins, at or after
    ``position``: an occurrence at the start of the header or of a pair (after ``;`` and
    spaces); ``-1`` for none."""
    while (found := header.find(name_equals, position)) >= 0:
        before = found
        while before > 0 and header[before - 1] in _COOKIE_SPACE:
            before -= 1
        if before == 0 or header[before - 1] == _SEMICOLON:
            return found
        position = found + 1
    return -1
