"""Where a request carries its bearer token: the ``Authorization: Bearer`` header (RFC 6750
section 2.1), a query parameter when the middleware was told to read one (section 2.3), or
a header of its own that a proxy in front sets (``JWT_TOKEN_HEADER``: AWS ALB's
``x-amzn-oidc-data``, Google IAP's ``x-goog-iap-jwt-assertion``, Cloudflare Access's
``cf-access-jwt-assertion``).

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

__all__ = ["bearer_token", "is_b64token", "is_jwt_shaped", "proxy_token"]

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARACTERS: Final = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
)

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
