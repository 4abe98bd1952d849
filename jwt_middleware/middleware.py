"""``JWTAuthMiddleware``: reads the bearer token, asks tokens and rules, writes state or answers.

A pure ASGI middleware: everything that can be decided once (settings, verifier, the
allowlist index, the challenge headers) is decided in ``__init__``; a request does one
header scan and one verification, and consults the allowlist only when it has no valid
token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, TypeAlias
from urllib.parse import parse_qsl

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import (
    AuthenticationError,
    AuthenticationUnavailableError,
    InvalidRequestError,
    MissingTokenError,
    TokenRevokedError,
)
from .rules import PublicPaths, RuleSpec
from .settings import JWTSettings
from .tokens import Claims, TokenVerifier
from .user import JWTUser, scopes_of

__all__ = ["JWTAuthMiddleware", "RevocationCheck", "challenge_response"]

#: ``async (claims) -> bool``: whether a verified token has been revoked.
RevocationCheck: TypeAlias = Callable[[Claims], Awaitable[bool]]

logger = logging.getLogger("jwt_middleware")

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_DENIAL_EXTENSION: Final = "websocket.http.response"
_WEBSOCKET_POLICY_VIOLATION: Final = 1008


class JWTAuthMiddleware:
    """Authenticate every HTTP and WebSocket request with a JWT bearer token.

    Args:
        app: the ASGI app to protect.
        public: allowlist rules (see :mod:`jwt_middleware.rules`) for paths that need no
            token. A valid token on a public path still fills the state; an invalid one
            is ignored there.
        settings: configuration; ``None`` reads ``JWT_*`` from the environment now, so a
            missing secret fails at start-up rather than at the first request.
        verifier: a prepared :class:`TokenVerifier`, for a custom key source; built from
            ``settings`` when omitted.
        token_query_param: also accept the token from this query parameter (RFC 6750
            section 2.3, e.g. ``"access_token"``), for WebSocket clients that cannot set
            headers. Off by default: URLs end up in logs and browser history.
        is_revoked: ``async (claims) -> bool``, asked after a token verifies; ``True``
            answers 401 ``invalid_token``. If it raises, the request fails closed with 503
            (a store that should fail open catches its own errors).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        public: Iterable[RuleSpec] = (),
        settings: JWTSettings | None = None,
        verifier: TokenVerifier | None = None,
        token_query_param: str | None = None,
        is_revoked: RevocationCheck | None = None,
    ) -> None:
        self.app = app
        self.settings = settings if settings is not None else JWTSettings()
        self.verifier = verifier if verifier is not None else TokenVerifier(self.settings)
        self.public = PublicPaths(public)
        if token_query_param is not None and not token_query_param:
            raise ValueError("token_query_param must be a parameter name or None")
        self.token_query_param = token_query_param
        self.is_revoked = is_revoked
        self._realm = self.settings.realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            claims = await self.verifier.verify_async(self._token(scope))
            if self.is_revoked is not None:
                await self._check_revocation(claims)
        except AuthenticationError as exc:
            if self.public.is_public(
                scope.get("method"), _route_path(scope), scope.get("raw_path")
            ):
                _set_anonymous(scope)
                await self.app(scope, receive, send)
                return
            logger.debug("denied %s: %s", scope["type"], type(exc).__name__)
            await self._deny(exc, scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["user_id"] = claims["sub"]
        state["claims"] = claims
        scope["user"] = JWTUser(claims)
        scope["auth"] = AuthCredentials(scopes_of(claims))
        await self.app(scope, receive, send)

    async def _check_revocation(self, claims: Claims) -> None:
        assert self.is_revoked is not None
        try:
            revoked = await self.is_revoked(claims)
        except Exception:
            logger.exception("revocation check failed; failing closed")
            raise AuthenticationUnavailableError from None
        if revoked:
            raise TokenRevokedError

    def _token(self, scope: Scope) -> str:
        """The bearer token of a request, or the error that says why there is none."""
        header: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if header is not None:
                    raise InvalidRequestError("More than one Authorization header.")
                header = value
        if self.token_query_param is not None:
            from_query = self._query_token(scope)
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
        if not _B64TOKEN.fullmatch(token):
            raise InvalidRequestError
        return token

    def _query_token(self, scope: Scope) -> str | None:
        raw: bytes = scope.get("query_string", b"")
        if not raw:
            return None
        try:
            pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequestError("Malformed query string.") from None
        values = [value for key, value in pairs if key == self.token_query_param]
        if not values:
            return None
        if len(values) > 1 or not _B64TOKEN.fullmatch(values[0]):
            raise InvalidRequestError("Malformed access token parameter.")
        return values[0]

    async def _deny(
        self, exc: AuthenticationError, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["type"] == "websocket" and _DENIAL_EXTENSION not in (
            scope.get("extensions") or {}
        ):
            # Closing before accept makes the server refuse the handshake (ASGI spec).
            await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            return
        await challenge_response(exc, realm=self._realm)(scope, receive, send)


def challenge_response(error: AuthenticationError, *, realm: str) -> Response:
    """The RFC 6750 answer to ``error``: status, ``WWW-Authenticate`` and a JSON body.

    A 503 (the revocation store is down) carries ``Retry-After`` instead of a challenge:
    the client's credentials were not found wanting.
    """
    headers = {"Cache-Control": "no-store"}
    if error.status_code == 503:
        headers["Retry-After"] = "5"
    else:
        challenge = f'Bearer realm="{realm}"'
        if error.error is not None:
            challenge += f', error="{error.error}", error_description="{error.description}"'
        headers["WWW-Authenticate"] = challenge
    return JSONResponse(
        {"detail": error.description}, status_code=error.status_code, headers=headers
    )


def _route_path(scope: Scope) -> str:
    """The path relative to the wrapped app: ``root_path`` removed, as Starlette routes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _set_anonymous(scope: Scope) -> None:
    scope.setdefault("state", {})["user_id"] = None
    scope["user"] = UnauthenticatedUser()
    scope["auth"] = AuthCredentials()
