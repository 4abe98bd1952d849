"""``JWTAuthMiddleware``: reads the bearer token, asks the verifier and the policy, writes
the request's state or answers.

A pure ASGI middleware: everything that can be decided once (settings, verifier, the policy's
index, the answers) is decided in ``__init__``, and what depends on the app's routes at
start-up; a request does one policy lookup (remembered for the paths an API serves again and
again; it refuses a non-canonical path before anything else), one header scan and one
verification (or a cache hit).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Final, TypeAlias
from urllib.parse import parse_qsl

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .access.policy import NO_REQUIREMENT, Access, AccessPolicy, Decision, ScopeRules
from .access.routes import app_routes, audit
from .access.rules import RuleSpec
from .edge.answers import Answers, ErrorBody, authentication_error_handler, challenge_response
from .edge.metadata import (
    bound_host_warning,
    metadata_document,
    metadata_path,
    metadata_response,
    metadata_url,
    resource_warnings,
)
from .edge.websockets import watch_websocket
from .errors import (
    AuthenticationError,
    AuthenticationUnavailableError,
    ConfigurationError,
    InvalidRequestError,
    InvalidTokenError,
    MissingTokenError,
    TokenRevokedError,
)
from .refusals import REQUEST_REASONS, Reason, log_refusal, show_refusals
from .revocation import jti_of
from .settings import JWTSettings
from .types import Claims, VerifiedToken
from .user import JWTUser
from .verification.verifier import TokenVerifier

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
_B64TOKEN_CHARACTERS: Final = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
)
_DENIAL_EXTENSION: Final = "websocket.http.response"
_WEBSOCKET_POLICY_VIOLATION: Final = 1008
_WEBSOCKET_INTERNAL_ERROR: Final = 1011
_DEFAULT_REALM: Final = "api"
_NOT_CANONICAL: Final = "The request path is not canonical."


class JWTAuthMiddleware:
    """Authenticate every HTTP and WebSocket request with a JWT bearer token.

    Args:
        app: the ASGI app to protect.
        public: allowlist rules (see :mod:`jwt_middleware.access.rules`) for requests that need no
            token. A valid token on a public path still fills the state; an invalid one is
            ignored there.
        optional: rules for requests served to anonymous and known users alike: no token
            passes as anonymous, but a token that is sent must be valid.
        scopes: rule to the scopes a token must all have (or a
            :class:`~jwt_middleware.access.policy.Requirement`), answered with 403
            ``insufficient_scope`` (see :mod:`jwt_middleware.access.policy` for the order of rules).
        policy: an :class:`~jwt_middleware.access.policy.AccessPolicy`, instead of the three above.
        settings: configuration; ``None`` takes the ``verifier``'s settings, or without a
            verifier reads ``JWT_*`` from the environment now.
        verifier: a prepared :class:`TokenVerifier`, for a custom key source; built from
            ``settings`` when omitted. Given alone, it needs no environment.
        token_query_param: also accept the token from this query parameter (RFC 6750
            section 2.3, e.g. ``"access_token"``), for WebSocket clients that cannot set
            headers. Off by default: URLs end up in logs and browser history, and a token
            in one is accepted over plain HTTP too (TLS behind a proxy cannot be seen
            here), where anyone on the way reads it; use it only over TLS, with
            short-lived tokens, and never for an MCP endpoint (the MCP authorization spec
            forbids tokens in the query string).
        is_revoked: ``async (claims) -> bool``, asked after a token verifies; ``True``
            answers 401 ``invalid_token``. If it raises, the request fails closed with 503
            (a store that should fail open catches its own errors). Open WebSockets ask it
            again every ``JWT_WEBSOCKET_RECHECK_SECONDS``.
        check_claims: ``(claims) -> bool``, asked once per token after every other check
            (Cognito's ``token_use``, Entra's ``tid``...); ``False`` answers 401. Only for
            the verifier the middleware builds (a ``verifier=`` has its own).
        error_body: ``(error) -> (media type, body)`` for the body of refusals (for example
            :func:`~jwt_middleware.edge.answers.problem_details`); status and challenge stay.

    At start-up (the ASGI lifespan) the middleware loads remote keys (JWKS, discovery),
    reads the requirements declared on the app's routes, and warns about rules that match no
    route (``JWT_STRICT_RULES=true`` makes that an error); at shutdown it closes the key
    sources. A server without lifespan does all of it at the first request.

    A configuration error (a missing or weak secret, a bad key, a malformed rule) does not
    raise here: Starlette builds its middleware lazily, inside the server's ``lifespan``
    call, where servers in their default mode swallow exceptions as "lifespan unsupported"
    and then serve 500s. Instead the middleware refuses the ``lifespan.startup`` event with
    the error's message, which stops uvicorn, hypercorn and granian with that message and a
    non-zero exit; a server run without lifespan gets 503 on every request (fail closed)
    and the error logged once.

    An :class:`~jwt_middleware.errors.AuthenticationError` raised by the app (for example
    by :func:`~jwt_middleware.user.current_user_id` on a public route) is answered here
    exactly like the middleware's own refusals, so every refusal has one shape.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        public: Iterable[RuleSpec] = (),
        optional: Iterable[RuleSpec] = (),
        scopes: ScopeRules | None = None,
        policy: AccessPolicy | None = None,
        settings: JWTSettings | None = None,
        verifier: TokenVerifier | None = None,
        token_query_param: str | None = None,
        is_revoked: RevocationCheck | None = None,
        check_claims: Callable[[Claims], bool] | None = None,
        error_body: ErrorBody | None = None,
    ) -> None:
        self.app = app
        self.is_revoked = is_revoked
        self.token_query_param = token_query_param
        self._revocation_failing = False
        self._configuration_error: ConfigurationError | None = None
        self._unconfigured_logged = False
        self._routes_read = False
        self._metadata_path: str | None = None
        self._metadata: bytes = b""
        self._server_checked = True  # until a resource asks for the check
        try:
            if settings is None:
                settings = verifier.settings if verifier is not None else JWTSettings()
            self.settings = settings
            if self.settings.log_refusals:
                show_refusals()
            self.verifier = (
                verifier
                if verifier is not None
                else TokenVerifier(self.settings, check_claims=check_claims)
            )
            if policy is not None and (public or optional or scopes):
                raise ConfigurationError("give policy= or public=/optional=/scopes=, not both")
            try:
                self.policy = policy or AccessPolicy(
                    public=public, optional=optional, scopes=scopes
                )
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(str(exc)) from None
            if token_query_param is not None and not token_query_param:
                raise ConfigurationError("token_query_param must be a parameter name or None")
        except ConfigurationError as exc:
            self._configuration_error = exc
            self.policy = AccessPolicy()
            self._answers = Answers(realm=_DEFAULT_REALM, body=error_body)
            return
        resource = self.settings.resource
        self._answers = Answers(
            realm=self.settings.realm,
            resource_metadata=metadata_url(resource) if resource else None,
            body=error_body,
        )
        require_jti = self.settings.require_jti
        self._require_jti = is_revoked is not None if require_jti is None else require_jti
        self._recheck = self.settings.websocket_recheck_seconds if is_revoked else None
        if resource is not None:
            self._metadata_path = metadata_path(resource)
            self._build_metadata()
            for warning in resource_warnings(resource):
                logger.warning("%s", warning)
            self._server_checked = False

    @property
    def configuration_error(self) -> ConfigurationError | None:
        """Why this middleware cannot serve (reported at start-up), or ``None``."""
        return self._configuration_error

    @property
    def public(self) -> Any:
        """The allowlist (the policy's public rules)."""
        return self.policy.public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind != "lifespan":
                await self.app(scope, receive, send)
            elif self._configuration_error is not None:
                await self._refuse_startup(receive, send)
            else:
                await self._lifespan(scope, receive, send)
            return
        if self._configuration_error is not None:
            await self._unconfigured(scope, receive, send)
            return
        if not self._routes_read:
            self._read_routes(scope)
            if self._configuration_error is not None:
                await self._unconfigured(scope, receive, send)
                return
        if self._metadata_path is not None and scope["path"] == self._metadata_path:
            await self._serve_metadata(scope, receive, send)
            return
        scope["jwt_middleware"] = self._answers
        decision = self._decide(scope)
        if decision.access is Access.REFUSED:
            # Before any token: a valid one must not carry the request past a rule that
            # matched the path as written, not as the app will normalise it.
            await self._refuse(InvalidRequestError(_NOT_CANONICAL), scope, receive, send, decision)
            return
        try:
            token = self._token(scope)
            verified = self.verifier.cached(token)
            if verified is None:
                # A token in the cache has passed this check already, on its first sight.
                if not _is_b64token(token):
                    raise InvalidRequestError
                verified = self.verifier.authenticate_now(token)
                if verified is None:  # its keys have to be fetched
                    verified = await self.verifier.authenticate(token)
            if self._require_jti and jti_of(verified.claims) is None:
                raise InvalidTokenError(reason=Reason.NO_JTI)  # it could never be revoked
            if self.is_revoked is not None:
                await self._check_revocation(verified.claims)
            if decision.requirement is not NO_REQUIREMENT:
                decision.requirement.check(verified.scopes, verified.claims)
        except AuthenticationError as exc:
            # Public: anything goes, a bad token included. Optional: no token goes.
            if decision.access is Access.PUBLIC or (
                decision.access is Access.OPTIONAL and isinstance(exc, MissingTokenError)
            ):
                _set_anonymous(scope)
                await self._call_app(scope, receive, send)
            else:
                await self._refuse(exc, scope, receive, send, decision)
            return
        _set_user(scope, verified)
        if kind == "websocket":
            await self._watched(verified, scope, receive, send)
        else:
            await self._call_app(scope, receive, send)

    def _decide(self, scope: Scope) -> Decision:
        method = scope.get("method") if scope["type"] == "http" else None
        return self.policy.decide(method, _route_path(scope), scope.get("raw_path"))

    async def _refuse(
        self,
        exc: AuthenticationError,
        scope: Scope,
        receive: Receive,
        send: Send,
        decision: Decision,
    ) -> None:
        if exc.reason in REQUEST_REASONS:  # the verifier logged its own as it refused
            log_refusal(exc.reason)
        await self._deny(exc, scope, receive, send, scopes=decision.requirement.scopes)

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
            log_refusal(Reason.APP)
            if started is None:
                await self._deny(exc, scope, receive, send)
            elif started == "websocket.accept":
                await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            else:
                raise  # the response has started: nothing is left to answer with

    async def _watched(
        self, verified: VerifiedToken, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """A WebSocket with a token: closed when the token stops verifying (when HTTP would
        start refusing it: its ``exp``, or ``JWT_MAX_TOKEN_AGE_SECONDS`` after its ``iat``,
        plus the leeway) or is revoked."""
        claims = verified.claims
        is_revoked = self.is_revoked

        async def revoked() -> bool:
            assert is_revoked is not None
            return await is_revoked(claims)

        await watch_websocket(
            self._call_app,
            scope,
            receive,
            send,
            expires_at=verified.expires_at,
            recheck_seconds=self._recheck,
            is_revoked=revoked if is_revoked is not None else None,
        )

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

    # --- start-up and the app's routes ----------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan through: load remote keys and read the app's routes before the
        app starts, close the key sources once the app has shut down.

        A strict audit that fails refuses start-up before the app's own start-up runs:
        ``lifespan.startup.failed`` goes to the server, then :class:`ConfigurationError`
        is raised, as Starlette's own router does. Servers stop on the message; test
        clients (Starlette's ``TestClient``, asgi-lifespan's ``LifespanManager``) wait for
        the lifespan task to end after a failure and raise what it raised, so returning
        normally would leave them waiting forever.
        """
        refusal: str | None = None

        async def starting() -> Message:
            nonlocal refusal
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.verifier.prefetch()  # never raises: a provider down is logged
                self._read_routes(scope)
                if self._configuration_error is not None:
                    refusal = _cannot_start(self._configuration_error)
                    # A server's send may raise here itself (hypercorn does): let it.
                    await send({"type": "lifespan.startup.failed", "message": refusal})
                    raise ConfigurationError(refusal)
            return message

        async def stopping(message: Message) -> None:
            if refusal is not None:
                return  # the app's own answer to the refusal: the server has ours
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.verifier.aclose()
            await send(message)

        await self.app(scope, starting, stopping)
        if refusal is not None:
            raise ConfigurationError(refusal)  # the app swallowed the first one

    def _read_routes(self, scope: Scope) -> None:
        """Take the requirements declared on the app's routes into the policy, and audit the
        rules against the routes: once, at start-up or the first request."""
        self._routes_read = True
        app = scope.get("app")
        if app is None or not hasattr(app, "routes"):
            return
        routes = app_routes(app)
        for route in routes:
            if route.requirement is not None:
                self.policy.require_route(route.methods, route.path, route.requirement)
        if self._metadata_path is not None:
            self._build_metadata()  # route-level scopes count in scopes_supported
        served = [self._metadata_path] if self._metadata_path else []
        problems = audit(self.policy, routes, served=served)
        for problem in problems:
            if self.settings.strict_rules:
                logger.error("%s (JWT_STRICT_RULES)", problem)
            else:
                logger.warning("%s", problem)
        if problems and self.settings.strict_rules:
            self._configuration_error = ConfigurationError(
                f"{problems[0]}; fix the rule, or unset JWT_STRICT_RULES to only warn"
            )

    # --- RFC 9728 ------------------------------------------------------------------------------

    def _build_metadata(self) -> None:
        resource = self.settings.resource
        assert resource is not None
        methods = ["header", "query"] if self.token_query_param else ["header"]
        self._metadata = metadata_document(
            resource,
            authorization_servers=[i.issuer for i in self.settings.issuer_settings],
            scopes_supported=self.policy.scopes_supported,
            bearer_methods=methods,
            resource_name=self.settings.resource_name,
        )

    async def _serve_metadata(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            return
        if not self._server_checked:
            self._check_server(scope)
        await metadata_response(scope, self._metadata)(scope, receive, send)

    def _check_server(self, scope: Scope) -> None:
        """Warn, once, when clients cannot reach ``JWT_RESOURCE`` at the address this
        server answers on (asked on the first metadata request or refusal: what a client
        discovering this API sends first, and off the path of authenticated requests)."""
        self._server_checked = True
        assert self.settings.resource is not None
        warning = bound_host_warning(self.settings.resource, scope.get("server"))
        if warning is not None:
            logger.warning("%s", warning)

    # --- refusals ------------------------------------------------------------------------------

    async def _refuse_startup(self, receive: Receive, send: Send) -> None:
        """Answer the lifespan protocol with the configuration error, then raise it, so the
        server stops and a test client's ``with`` raises instead of waiting forever."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            await send({"type": "lifespan.shutdown.complete"})
            return
        refusal = _cannot_start(self._configuration_error)
        await send({"type": "lifespan.startup.failed", "message": refusal})
        raise ConfigurationError(refusal)

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
        return token  # its syntax (b64token, RFC 6750) is checked unless it is cached

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
        if len(values) > 1 or not _is_b64token(values[0]):
            raise InvalidRequestError("Malformed access token parameter.")
        return values[0]

    async def _deny(
        self,
        exc: AuthenticationError,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        scopes: Collection[str] = (),
    ) -> None:
        if scope["type"] == "websocket" and _DENIAL_EXTENSION not in (
            scope.get("extensions") or {}
        ):
            # Closing before accept makes the server refuse the handshake (ASGI spec).
            await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            return
        if not self._server_checked:
            self._check_server(scope)
        await self._answers.send(exc, scope, send, scopes=scopes)


def _is_b64token(text: str) -> bool:
    """Whether ``text`` is an RFC 6750 ``b64token``: one ``bytes.translate`` that deletes
    the allowed characters, which leaves nothing of a good token, several times faster
    than a regular expression over a token of kilobytes."""
    body = text.rstrip("=")
    return (
        body != ""
        and body.isascii()
        and not body.encode("ascii").translate(None, _B64TOKEN_CHARACTERS)
    )


def _cannot_start(error: ConfigurationError | None) -> str:
    return f"JWTAuthMiddleware cannot start: {error}"


def _route_path(scope: Scope) -> str:
    """The path relative to the wrapped app: ``root_path`` removed, as Starlette routes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _set_user(scope: Scope, verified: VerifiedToken) -> None:
    state = scope.setdefault("state", {})
    state["user_id"] = verified.subject
    state["claims"] = verified.claims
    scope["user"] = JWTUser(verified.claims)
    scope["auth"] = AuthCredentials(["authenticated", *verified.scopes])


def _set_anonymous(scope: Scope) -> None:
    state = scope.setdefault("state", {})
    state["user_id"] = None
    state["claims"] = None
    scope["user"] = UnauthenticatedUser()
    scope["auth"] = AuthCredentials()
