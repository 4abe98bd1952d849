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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import (
    AuthenticationError,
    AuthenticationUnavailableError,
    ConfigurationError,
    InvalidRequestError,
    InvalidTokenError,
    MissingTokenError,
    TokenRevokedError,
)
from .rules import PublicPaths, RuleSpec
from .settings import JWTSettings
from .tokens import TokenVerifier
from .types import Claims
from .user import JWTUser

__all__ = [
    "Answers",
    "JWTAuthMiddleware",
    "RevocationCheck",
    "authentication_error_handler",
    "challenge_response",
]

#: ``async (claims) -> bool``: whether a verified token has been revoked.
RevocationCheck: TypeAlias = Callable[[Claims], Awaitable[bool]]

logger = logging.getLogger("jwt_middleware")

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_DENIAL_EXTENSION: Final = "websocket.http.response"
_WEBSOCKET_POLICY_VIOLATION: Final = 1008
_WEBSOCKET_INTERNAL_ERROR: Final = 1011
_DEFAULT_REALM: Final = "api"


class JWTAuthMiddleware:
    """Authenticate every HTTP and WebSocket request with a JWT bearer token.

    Args:
        app: the ASGI app to protect.
        public: allowlist rules (see :mod:`jwt_middleware.rules`) for paths that need no
            token. A valid token on a public path still fills the state; an invalid one
            is ignored there.
        settings: configuration; ``None`` reads ``JWT_*`` from the environment now.
        verifier: a prepared :class:`TokenVerifier`, for a custom key source; built from
            ``settings`` when omitted.
        token_query_param: also accept the token from this query parameter (RFC 6750
            section 2.3, e.g. ``"access_token"``), for WebSocket clients that cannot set
            headers. Off by default: URLs end up in logs and browser history.
        is_revoked: ``async (claims) -> bool``, asked after a token verifies; ``True``
            answers 401 ``invalid_token``. If it raises, the request fails closed with 503
            (a store that should fail open catches its own errors).
        check_claims: ``(claims) -> bool``, asked once per token after every other check
            (Cognito's ``token_use``, Entra's ``tid``...); ``False`` answers 401. Only for
            the verifier the middleware builds (a ``verifier=`` has its own).

    The middleware loads remote keys (JWKS, discovery) when the server starts, through the
    ``lifespan`` protocol, and closes their HTTP client when it stops; a server without
    lifespan loads them at the first request instead.

    A configuration error (a missing or weak secret, a bad key, a malformed rule) does not
    raise here: Starlette builds its middleware lazily, inside the server's ``lifespan``
    call, where servers in their default mode swallow exceptions as "lifespan unsupported"
    and then serve 500s. Instead the middleware refuses the ``lifespan.startup`` event with
    the error's message, which stops uvicorn, hypercorn and granian with that message and a
    non-zero exit; a server run without lifespan gets 503 on every request (fail closed)
    and the error logged once.

    An :class:`~jwt_middleware.errors.AuthenticationError` raised by the app (for example
    by :func:`~jwt_middleware.user.current_user_id` on a public route) is answered here
    exactly like the middleware's own refusals, so every 401 has one shape.
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
        check_claims: Callable[[Claims], bool] | None = None,
    ) -> None:
        self.app = app
        self.is_revoked = is_revoked
        self.token_query_param = token_query_param
        self._revocation_failing = False
        self._configuration_error: ConfigurationError | None = None
        self._unconfigured_logged = False
        try:
            self.settings = settings if settings is not None else JWTSettings()
            self.verifier = (
                verifier
                if verifier is not None
                else TokenVerifier(self.settings, check_claims=check_claims)
            )
            try:
                self.public = PublicPaths(public)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(str(exc)) from None
            if token_query_param is not None and not token_query_param:
                raise ConfigurationError("token_query_param must be a parameter name or None")
        except ConfigurationError as exc:
            self._configuration_error = exc
            self.public = PublicPaths()
            self._answers = Answers(realm=_DEFAULT_REALM)
            return
        self._answers = Answers(realm=self.settings.realm)
        require_jti = self.settings.require_jti
        self._require_jti = is_revoked is not None if require_jti is None else require_jti

    @property
    def configuration_error(self) -> ConfigurationError | None:
        """Why this middleware cannot serve (reported at start-up), or ``None``."""
        return self._configuration_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            if scope["type"] != "lifespan":
                await self.app(scope, receive, send)
            elif self._configuration_error is not None:
                await self._refuse_startup(receive, send)
            else:
                await self._lifespan(scope, receive, send)
            return
        if self._configuration_error is not None:
            await self._unconfigured(scope, receive, send)
            return
        scope["jwt_middleware"] = self._answers
        try:
            verified = await self.verifier.authenticate(self._token(scope))
            claims = verified.claims
            if self._require_jti and not _has_jti(claims):
                logger.info("rejected token: no jti, so it could never be revoked")
                raise InvalidTokenError
            if self.is_revoked is not None:
                await self._check_revocation(claims)
        except AuthenticationError as exc:
            if self.public.is_public(
                scope.get("method"), _route_path(scope), scope.get("raw_path")
            ):
                _set_anonymous(scope)
                await self._call_app(scope, receive, send)
                return
            logger.debug("denied %s: %s", scope["type"], type(exc).__name__)
            await self._deny(exc, scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["user_id"] = verified.subject
        state["claims"] = claims
        scope["user"] = JWTUser(claims)
        scope["auth"] = AuthCredentials(["authenticated", *verified.scopes])
        await self._call_app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan through, loading remote keys before the app starts and
        closing their client once the app has shut down."""

        async def starting() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.verifier.prefetch()  # never raises: a provider down is logged
            return message

        async def stopping(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.verifier.aclose()
            await send(message)

        await self.app(scope, starting, stopping)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: str | None = None

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if started is None:
                started = message["type"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except AuthenticationError as exc:
            # Raised by a handler or dependency (no verified user on a public route, a
            # token that outlived its account): the same answer as the middleware's own.
            logger.debug("denied %s from the app: %s", scope["type"], type(exc).__name__)
            if started is None:
                await self._deny(exc, scope, receive, send)
            elif started == "websocket.accept":
                await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            else:
                raise  # the response has started: nothing is left to answer with

    async def _check_revocation(self, claims: Claims) -> None:
        assert self.is_revoked is not None
        try:
            revoked = await self.is_revoked(claims)
        except Exception as exc:
            # One line per outage, not a traceback per request; the class name only, as
            # an exception's message may quote what the client sent.
            if not self._revocation_failing:
                self._revocation_failing = True
                logger.error(
                    "revocation check failed (%s); answering 503 until it works again",
                    type(exc).__name__,
                )
            raise AuthenticationUnavailableError from None
        if self._revocation_failing:
            self._revocation_failing = False
            logger.warning("revocation check works again")
        if revoked:
            raise TokenRevokedError

    async def _refuse_startup(self, receive: Receive, send: Send) -> None:
        """Answer the lifespan protocol with the configuration error, so the server stops."""
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send(
                {
                    "type": "lifespan.startup.failed",
                    "message": f"JWTAuthMiddleware cannot start: {self._configuration_error}",
                }
            )
        else:
            await send({"type": "lifespan.shutdown.complete"})

    async def _unconfigured(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Fail closed when the server skipped the lifespan that would have stopped it."""
        if not self._unconfigured_logged:
            self._unconfigured_logged = True
            logger.error("JWTAuthMiddleware cannot serve: %s", self._configuration_error)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _WEBSOCKET_INTERNAL_ERROR})
            return
        response = JSONResponse(
            {"detail": "Authentication is not configured."},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
        await response(scope, receive, send)

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
        await self._answers.response(exc)(scope, receive, send)


class Answers:
    """How one middleware answers: its realm. Put in ``scope["jwt_middleware"]`` so that an
    exception handler answers errors raised in the app with the same realm and shape."""

    __slots__ = ("realm",)

    def __init__(self, *, realm: str) -> None:
        self.realm = realm

    def response(self, error: AuthenticationError) -> Response:
        """The answer to ``error``; see :func:`challenge_response`."""
        return challenge_response(error, realm=self.realm)


async def authentication_error_handler(request: Request, exc: Exception) -> Response:
    """An exception handler for :class:`AuthenticationError` (Starlette and FastAPI).

    The middleware already answers these errors when they escape the app, so this is only
    needed when something between them would turn the error into a 500 first (a catch-all
    handler of your own, say)::

        app.add_exception_handler(AuthenticationError, authentication_error_handler)

    It answers with the realm of the middleware that handled the request.
    """
    if not isinstance(exc, AuthenticationError):
        raise exc
    answers = request.scope.get("jwt_middleware")
    if isinstance(answers, Answers):
        return answers.response(exc)
    return challenge_response(exc, realm=_DEFAULT_REALM)


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


def _has_jti(claims: Claims) -> bool:
    jti = claims.get("jti")
    return isinstance(jti, str) and bool(jti)


def _set_anonymous(scope: Scope) -> None:
    state = scope.setdefault("state", {})
    state["user_id"] = None
    state["claims"] = None
    scope["user"] = UnauthenticatedUser()
    scope["auth"] = AuthCredentials()
