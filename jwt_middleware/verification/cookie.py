"""``CookieAuthenticator``: a JWT in a cookie, for browser apps, guarded against cross-site
request forgery by a :class:`CsrfGuard`.

A browser sends cookies with every request to the site, whichever page started it; that is
what makes a cookie convenient, and what makes it a CSRF risk a bearer header is not. So an
unsafe request (anything but ``GET``, ``HEAD``, ``OPTIONS`` and ``TRACE``) and a WebSocket
handshake (cross-site WebSocket hijacking: a browser opens a socket to any site, cookies
included) authenticated by the cookie must show that the app's own pages sent it, or they
are refused with :class:`~jwt_middleware.errors.CrossSiteRequestError` (403), before the
token is verified. The token itself passes exactly the checks of a token in the
``Authorization`` header: the ``b64token`` syntax and the same verifier and cache.

Given a :class:`~jwt_middleware.verification.bearer.BearerAuthenticator` as its ``header``
(what ``cookie_name=`` builds), a request with an ``Authorization`` header is authenticated
by the header alone, and the cookie is ignored, as it must be (a browser attaches it
unasked). See ``docs/cookies.md``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Final

from starlette.types import Scope

from ..edge.credentials import (
    browser_headers,
    cookie_header,
    cookie_token,
    is_b64token,
    is_cookie_value,
    named_cookie,
)
from ..errors import (
    ConfigurationError,
    CrossSiteRequestError,
    InvalidRequestError,
    MissingTokenError,
)
from ..settings.cookies import is_cookie_name, is_origin
from ..types import VerifiedToken
from .bearer import BearerAuthenticator
from .verifier import TokenVerifier

__all__ = ["SAFE_METHODS", "CookieAuthenticator", "CsrfGuard"]

#: The methods RFC 9110 section 9.2.1 defines as safe: never refused as cross-site.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_MALFORMED_COOKIE: Final = "Malformed cookie."


class CsrfGuard:
    """Whether an unsafe request that a cookie authenticates comes from the app's own pages.

    Any one of these is enough:

    * ``Sec-Fetch-Site: same-origin``: the browser says a page of this very origin started
      it (every current browser sends it; a page cannot set or change it). ``same-site``
      is not enough (a sibling subdomain may be someone else's), and neither is ``none``
      (a navigation the user started: it is never an unsafe method, so accepting it could
      only widen the rule);
    * ``Origin`` among ``trusted_origins``: configured, never derived from the ``Host``
      header, which the client chooses. The app's own origin, and those of its other
      front ends;
    * the double-submit pair: the ``header`` equal to the cookie ``cookie_name``, compared
      in constant time. A page of another site can neither read the cookie nor set a
      custom header without the app's CORS consent.

    A request with none of them is refused, a client that sends neither ``Origin`` nor
    ``Sec-Fetch-Site`` included: a non-browser client sends its token in the
    ``Authorization`` header instead.
    """

    __slots__ = ("_cookie_equals", "_header", "cookie_name", "header", "trusted_origins")

    def __init__(
        self,
        *,
        trusted_origins: Iterable[str] = (),
        header: str | None = None,
        cookie_name: str | None = None,
    ) -> None:
        self.trusted_origins = frozenset(origin.encode("ascii") for origin in trusted_origins)
        if not all(is_origin(origin.decode()) for origin in self.trusted_origins):
            raise ConfigurationError(
                "JWT_CSRF_TRUSTED_ORIGINS must be origins as browsers send them, "
                "e.g. https://app.example.com"
            )
        if (header is None) != (cookie_name is None):
            raise ConfigurationError("set JWT_CSRF_HEADER and JWT_CSRF_COOKIE_NAME together")
        if header is not None and not is_cookie_name(header):
            raise ConfigurationError("JWT_CSRF_HEADER must be a header name")
        if cookie_name is not None and not is_cookie_name(cookie_name):
            raise ConfigurationError("JWT_CSRF_COOKIE_NAME must be a cookie name")
        self.header = header
        self.cookie_name = cookie_name
        self._header = header.lower().encode("ascii") if header is not None else None
        self._cookie_equals = cookie_name.encode("ascii") + b"=" if cookie_name else b""

    def allows(self, scope: Scope) -> bool:
        """Whether the request shows it comes from the app's own pages (see the class)."""
        site = origin = submitted = None
        wanted = self._header
        for name, value in scope["headers"]:
            if name == b"sec-fetch-site":
                site = value
            elif name == b"origin":
                origin = value
            elif name == wanted:
                if submitted is not None:
                    return False  # two of them: never pick one
                submitted = value
        if site == b"same-origin" or (origin is not None and origin in self.trusted_origins):
            return True
        if not submitted:
            return False
        header = cookie_header(scope)
        try:
            expected = named_cookie(header, self._cookie_equals) if header is not None else None
        except InvalidRequestError:  # the CSRF cookie twice: neither is trusted
            return False
        return (
            expected is not None
            and is_cookie_value(expected)
            and hmac.compare_digest(submitted, expected)
        )


class CookieAuthenticator:
    """Authenticate a request by the JWT in the cookie ``cookie_name``, or, given
    ``header``, by the ``Authorization`` header when the request has one.

    With ``header`` (a :class:`BearerAuthenticator` on the same verifier) it answers what
    the chain ``[header, cookie]`` would: a request with an ``Authorization: Bearer`` header
    (or a token in the query, if ``header`` reads one) is the header's to decide, and its
    cookie is ignored; a request without one is the cookie's. It is one authenticator
    rather than a chain so that a browser's request, which has no ``Authorization``
    header, is not first refused as missing one: one pass over the headers finds both.

    The cookie is read when the request has it (else :class:`MissingTokenError`, so that
    another authenticator may try); an unsafe request that ``csrf`` does not allow is
    refused with :class:`CrossSiteRequestError` before the token is looked at; the token
    then goes through ``verifier`` as a header's would. Cookies are no RFC 9728 bearer
    method (the metadata lists only ``header``, ``body`` and ``query``), so
    ``bearer_methods`` are the header's only.
    """

    __slots__ = (
        "_header_reads_more",
        "_name_equals",
        "bearer_methods",
        "cookie_name",
        "csrf",
        "header",
        "verifier",
    )

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        cookie_name: str,
        csrf: CsrfGuard | None = None,
        header: BearerAuthenticator | None = None,
    ) -> None:
        if not is_cookie_name(cookie_name):
            raise ConfigurationError("JWT_COOKIE_NAME must be a cookie name")
        if header is not None and header.verifier is not verifier:
            raise ConfigurationError("a CookieAuthenticator's header must share its verifier")
        self.verifier = verifier
        self.cookie_name = cookie_name
        self.csrf = csrf if csrf is not None else CsrfGuard()
        self.header = header
        self.bearer_methods: tuple[str, ...] = header.bearer_methods if header else ()
        # Whether the header authenticator may find a token without an Authorization
        # header: in the query, or in a proxy's header (``token_header``, where the bearer
        # authenticator has one); then it is asked first whatever the request has.
        self._header_reads_more = header is not None and (
            header.query_param is not None or getattr(header, "token_header", None) is not None
        )
        self._name_equals = cookie_name.encode("ascii") + b"="

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        cookies, authorization = browser_headers(scope)
        header = self.header
        if header is not None and (authorization or self._header_reads_more):
            try:
                return header.authenticate_now(scope)
            except MissingTokenError:
                pass  # another scheme (Basic), or no token in the query: the cookie may tell
        token = cookie_token(cookies, self._name_equals)
        if (scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS) and (
            not self.csrf.allows(scope)
        ):
            raise CrossSiteRequestError
        verified = self.verifier.cached(token)
        if verified is not None:
            return verified
        if not is_b64token(token):
            raise InvalidRequestError(_MALFORMED_COOKIE)
        return self.verifier.authenticate_now(token)  # None: its keys have to be fetched

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        verified = self.authenticate_now(scope)
        if verified is None:
            # Asked again only when the keys have to be fetched: which token it was is
            # read again, the same way (the header's when it decides, else the cookie).
            header = self.header
            if header is not None:
                try:
                    return await header.authenticate(scope)
                except MissingTokenError:
                    pass
            verified = await self.verifier.authenticate(
                cookie_token(cookie_header(scope), self._name_equals)
            )
        return verified

    async def prefetch(self) -> None:
        await self.verifier.prefetch()

    async def aclose(self) -> None:
        await self.verifier.aclose()
