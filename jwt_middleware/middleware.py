"""``JWTAuthMiddleware``: wires the parts of the edge together.

A pure ASGI middleware, in the shape of Starlette's ``AuthenticationMiddleware``: everything
that can be decided once (settings, authenticators, the policy's index, the answers) is
decided in ``__init__``, and what depends on the app's routes at start-up
(:mod:`.edge.startup`). A request does one policy lookup (remembered for the paths an API
serves again and again; it refuses a non-canonical path before anything else), asks the
authenticators (a token used again is answered from the cache without a coroutine), and
either calls the app with the identity in its scope or sends the error's answer
(:mod:`.edge.answers`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from functools import partial
from typing import Any, Final, TypeAlias

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .access.paths import route_path
from .access.policy import NO_REQUIREMENT, Access, AccessPolicy, Decision, ScopeRules
from .access.rules import RuleSpec
from .edge.answers import Answers, ErrorBody, authentication_error_handler, challenge_response
from .edge.assembly import CredentialOptions, assemble, offers_dpop_nonces
from .edge.metadata import MetadataEndpoint, metadata_url
from .edge.readiness import ReadinessEndpoint
from .edge.revocation_check import GuardedRevocationCheck
from .edge.startup import StartUp
from .edge.unconfigured import UnconfiguredApp
from .edge.websockets import watch_websocket
from .errors import (
    AuthenticationError,
    CertificateRequiredError,
    ConfigurationError,
    InvalidRequestError,
    MissingCredentialsError,
    MissingTokenError,
)
from .refusals import APP_REASONS, REQUEST_REASONS, Reason, log_refusal, show_refusals
from .settings import JWTSettings
from .telemetry import AuthOutcomes, IssuerLabels, instruments
from .types import Claims, VerifiedToken
from .user import set_anonymous, set_identity
from .verification.authenticator import Authenticator
from .verification.certificate_bound import CERTIFICATE_PROVED_SCOPE_KEY
from .verification.chain import one_authenticator
from .verification.claims import JTI_PRESENT
from .verification.dpop import DPOP_PROVED_SCOPE_KEY
from .verification.dpop_authenticator import FRESH_NONCE_SCOPE_KEY
from .verification.dpop_replay import ProofReplayCache
from .verification.tenants import ResolveIssuer
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

_DENIAL_EXTENSION: Final = "websocket.http.response"
_WEBSOCKET_POLICY_VIOLATION: Final = 1008
_DEFAULT_REALM: Final = "api"
_NOT_CANONICAL: Final = "The request path is not canonical."
#: The decisions compared on every request, bound once: on Python 3.11 reading a member
#: from the enum class goes through ``EnumType.__getattr__`` (about 60 ns a read).
_REFUSED: Final = Access.REFUSED
_PUBLIC: Final = Access.PUBLIC
_OPTIONAL: Final = Access.OPTIONAL
#: What a start-up step answers instead of the middleware: an app, or ``None`` to go on.
_Gate: TypeAlias = Callable[[Scope], ASGIApp | None]


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
        dpop: rules for requests that must come with a DPoP proof of their token's key
            (RFC 9449; needs ``JWT_DPOP_ENABLED``): a bearer token is refused there with
            ``dpop_required``. The same as ``scopes={rule: Requirement(dpop=True)}``.
        mtls: rules for requests whose token must be bound to their TLS client certificate
            (RFC 8705; needs ``JWT_MTLS_ENABLED``): any other token is refused there with
            ``certificate_required``. The same as ``scopes={rule: Requirement(mtls=True)}``;
            ``JWT_MTLS_REQUIRED`` asks it of every request.
        policy: an :class:`~jwt_middleware.access.policy.AccessPolicy`, instead of the five above.
        settings: configuration; ``None`` takes the ``verifier``'s settings, or without a
            verifier reads ``JWT_*`` from the environment now.
        authenticators: the :class:`~jwt_middleware.verification.authenticator.Authenticator`
            s to try, in order (the first that finds a credential of its kind decides); by
            default one :class:`~jwt_middleware.verification.bearer.BearerAuthenticator`
            built from ``verifier`` and ``token_query_param``, which cannot be given with it.
        verifier: a prepared :class:`TokenVerifier`, for a custom key source; built from
            ``settings`` when omitted. Given alone, it needs no environment.
        token_query_param: also accept the token from this query parameter (RFC 6750
            section 2.3, e.g. ``"access_token"``), for WebSocket clients that cannot set
            headers. Off by default: URLs end up in logs and browser history, and a token
            in one is accepted over plain HTTP too (TLS behind a proxy cannot be seen
            here), where anyone on the way reads it; use it only over TLS, with
            short-lived tokens, and never for an MCP endpoint (the MCP authorization spec
            forbids tokens in the query string).
        token_header: also accept the raw token (no scheme) from this header, set by a proxy
            in front (AWS ALB, Google IAP, Cloudflare Access); ``JWT_TOKEN_HEADER`` when not
            given. A token in it and in ``Authorization`` or the query is refused with 400.
        cookie_name: also accept the token from this cookie (``JWT_COOKIE_NAME``) when no
            ``Authorization`` header is sent, for browser apps; unsafe requests it
            authenticates must pass the CSRF check (see ``docs/cookies.md``). Not with
            ``authenticators=``.
        is_revoked: ``async (claims) -> bool``, asked after a token verifies; ``True``
            answers 401 ``invalid_token``. If it raises, the request fails closed with 503
            (a store that should fail open catches its own errors). Open WebSockets ask it
            again every ``JWT_WEBSOCKET_RECHECK_SECONDS``.
        check_claims: ``(claims) -> bool``, asked once per token after every other check
            (Cognito's ``token_use``, Entra's ``tid``...); ``False`` answers 401. Only for
            the verifier the middleware builds (a ``verifier=`` has its own; not with
            ``authenticators=``).
        resolve_issuer: ``(iss) -> IssuerSettings | None``, accepts an issuer that is not
            listed, at request time (a tenant; see
            :mod:`~jwt_middleware.verification.tenants`). Only for the verifier the
            middleware builds, like ``check_claims``.
        error_body: ``(error) -> (media type, body)`` for the body of refusals (for example
            :func:`~jwt_middleware.edge.answers.problem_details`); status and challenge stay.
        readiness_path: answer a readiness probe at this path (e.g. ``"/readyz"``), before
            any rule or token: 200 once :attr:`ready`, 503 until then
            (:mod:`~jwt_middleware.edge.readiness`). Off by default.
        dpop_replay: where DPoP proofs are remembered against replay (a
            :class:`~jwt_middleware.verification.dpop_replay.ProofReplayCache`): by default
            in this process; a
            :class:`~jwt_middleware.verification.dpop_replay_redis.RedisProofReplayCache`
            shares them with every instance behind one Redis. Needs ``JWT_DPOP_ENABLED``;
            closed with the middleware at shutdown. Not with ``authenticators=`` (give it
            to your ``DPoPAuthenticator``).

    At start-up (the ASGI lifespan, or the first request without one) it loads remote keys,
    reads the requirements declared on the app's routes and audits the rules against them
    (:mod:`~jwt_middleware.edge.startup`). A configuration error does not raise here: a
    fail-closed app (:mod:`~jwt_middleware.edge.unconfigured`) refuses ``lifespan.startup``
    with its message, and answers 503 to a server run without lifespan. An
    :class:`~jwt_middleware.errors.AuthenticationError` raised by the app is answered like
    the middleware's own refusals.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        public: Iterable[RuleSpec] = (),
        optional: Iterable[RuleSpec] = (),
        scopes: ScopeRules | None = None,
        dpop: Iterable[RuleSpec] = (),
        mtls: Iterable[RuleSpec] = (),
        policy: AccessPolicy | None = None,
        settings: JWTSettings | None = None,
        authenticators: Sequence[Authenticator] | None = None,
        verifier: TokenVerifier | None = None,
        token_query_param: str | None = None,
        token_header: str | None = None,
        cookie_name: str | None = None,
        is_revoked: RevocationCheck | None = None,
        check_claims: Callable[[Claims], bool] | None = None,
        error_body: ErrorBody | None = None,
        readiness_path: str | None = None,
        resolve_issuer: ResolveIssuer | None = None,
        dpop_replay: ProofReplayCache | None = None,
    ) -> None:
        self.app = app
        self.is_revoked = is_revoked
        self.token_query_param = token_query_param
        self._check_revocation = GuardedRevocationCheck(is_revoked) if is_revoked else None
        self._configuration_error: ConfigurationError | None = None
        self._metadata: MetadataEndpoint | None = None
        self._readiness: ReadinessEndpoint | None = None
        #: What the middleware answers itself, by path: the RFC 9728 document, the probe.
        self._served: dict[str, ASGIApp] = {}
        #: ``accepted(issuer)``, and the refusals, counted (:mod:`~jwt_middleware.telemetry`);
        #: ``None`` without OpenTelemetry or with ``JWT_TELEMETRY=false``.
        self._outcomes: AuthOutcomes | None = None
        self._count_accepted: Callable[[str | None], None] | None = None
        try:
            parts = assemble(
                settings=settings,
                policy=policy,
                rules=(public, optional, scopes, dpop, mtls),
                authenticators=authenticators,
                credentials=CredentialOptions(
                    verifier=verifier,
                    token_query_param=token_query_param,
                    check_claims=check_claims,
                    token_header=token_header,
                    cookie_name=cookie_name,
                    resolve_issuer=resolve_issuer,
                    dpop_replay=dpop_replay,
                ),
            )
            self._readiness = ReadinessEndpoint(
                readiness_path,
                authenticators=parts.authenticators,
                started=lambda: self._not_ready is None,
                retry_seconds=parts.settings.jwks_min_refetch_seconds,
            )
        except ConfigurationError as exc:
            self._fail_closed(exc)
            self.policy = AccessPolicy()
            self._answers = Answers(realm=_DEFAULT_REALM, body=error_body)
            return
        self.settings, self.authenticators, self.policy = (
            parts.settings,
            parts.authenticators,
            parts.policy,
        )
        self._dpop_algorithms = parts.dpop_algorithms
        self._certificate_required = self.settings.mtls_required
        self._offers_dpop_nonces = parts.offers_dpop_nonces
        if self.settings.log_refusals:
            show_refusals()
        telemetry = instruments() if self.settings.telemetry else None
        if telemetry is not None:
            self._outcomes = AuthOutcomes(telemetry, IssuerLabels.from_settings(self.settings))
            self._count_accepted = self._outcomes.accepted
        self._authenticator = one_authenticator(self.authenticators)
        self._authenticate_now = self._authenticator.authenticate_now
        resource = self.settings.resource
        self._answers = Answers(
            realm=self.settings.realm,
            resource_metadata=metadata_url(resource) if resource else None,
            body=error_body,
        )
        require_jti = self.settings.require_jti
        require_jti = is_revoked is not None if require_jti is None else require_jti
        self._jti_rule = JTI_PRESENT.rule if require_jti else None
        self._recheck = self.settings.websocket_recheck_seconds if is_revoked else None
        if resource is not None:
            self._metadata = MetadataEndpoint(
                resource,
                authorization_servers=[i.issuer for i in self.settings.issuer_settings],
                policy=self.policy,
                bearer_methods=[a.bearer_methods for a in self.authenticators],
                resource_name=self.settings.resource_name,
                dpop_algorithms=(
                    self.settings.dpop_accepted_algorithms if self.settings.dpop_enabled else None
                ),
                dpop_required=self.settings.dpop_required,
                certificate_bound=self.settings.mtls_enabled,
            )
        if self._metadata is not None:
            self._served[self._metadata.path] = self._metadata
        if readiness_path is not None and self._readiness is not None:
            self._served[readiness_path] = self._readiness
        self._startup = StartUp(
            app,
            policy=self.policy,
            authenticators=self.authenticators,
            strict=self.settings.strict_rules,
            served=list(self._served),
            on_routes=self._metadata.build if self._metadata is not None else None,
        )
        self._lifespan: ASGIApp = self._pass_lifespan
        self._not_ready: _Gate | None = self._start_at_first_request

    def _fail_closed(self, error: ConfigurationError) -> None:
        """Serve nothing from now on: see :mod:`.edge.unconfigured`."""
        self._configuration_error = error
        unconfigured = UnconfiguredApp(self.app, error)
        self._lifespan = unconfigured
        self._not_ready = lambda scope: unconfigured

    def replica(
        self, *, app: ASGIApp, authenticators: Sequence[Authenticator] | None = None
    ) -> JWTAuthMiddleware:
        """A copy of this middleware in front of ``app``, authenticating with
        ``authenticators`` when given (its settings, policy, answers, start-up and caches
        shared): how :mod:`jwt_middleware.explain` sends a request through the app's own
        configuration without changing the middleware that serves it."""
        twin = copy.copy(self)
        twin.app = app
        if authenticators is not None and self._configuration_error is None:
            twin.authenticators = tuple(authenticators)
            twin._authenticator = one_authenticator(twin.authenticators)
            twin._authenticate_now = twin._authenticator.authenticate_now
            twin._offers_dpop_nonces = offers_dpop_nonces(twin.authenticators)
        return twin

    @property
    def configuration_error(self) -> ConfigurationError | None:
        """Why this middleware cannot serve (reported at start-up), or ``None``."""
        return self._configuration_error

    @property
    def ready(self) -> bool:
        """Whether start-up has finished and every key source holds usable keys: what a
        readiness probe should ask (``readiness_path=`` answers one). Never ``True`` with a
        configuration error."""
        return self._readiness is not None and self._readiness.ready

    @property
    def public(self) -> Any:
        """The allowlist (the policy's public rules)."""
        return self.policy.public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await (self._lifespan if kind == "lifespan" else self.app)(scope, receive, send)
            return
        if self._not_ready is not None:  # no lifespan ran, or the configuration is broken
            instead = self._not_ready(scope)
            if instead is not None:
                await instead(scope, receive, send)
                return
        if self._served:  # the RFC 9728 document, the readiness probe
            endpoint = self._served.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        scope["jwt_middleware"] = self._answers
        decision = self._decide(scope)
        verified: VerifiedToken | None = None
        try:
            if decision.access is _REFUSED:
                # Before any token: a valid one must not carry the request past a rule that
                # matched the path as written, not as the app will normalise it.
                raise InvalidRequestError(_NOT_CANONICAL)
            verified = self._authenticate_now(scope)
            if verified is None:
                verified = await self._authenticator.authenticate(scope)
            self._check(verified, decision, scope)
            if self._check_revocation is not None:
                await self._check_revocation(verified.claims)
        except AuthenticationError as exc:
            await self._not_authenticated(exc, scope, receive, send, decision, verified)
            return
        if self._count_accepted is not None:
            self._count_accepted(verified.issuer)
        set_identity(scope, verified)
        if kind == "websocket":
            await self._watched(verified, scope, receive, send)
        else:
            if self._offers_dpop_nonces:
                nonce = scope.pop(FRESH_NONCE_SCOPE_KEY, None)
                if nonce is not None:  # a DPoP proof with the previous step's nonce
                    send = _offering_nonce(send, nonce)
            await self._call_app(scope, receive, send)

    def _check(self, verified: VerifiedToken, decision: Decision, scope: Scope) -> None:
        """What the policy asks of an identity beyond its verification (a DPoP proof, a
        binding to the TLS client certificate, where a requirement or
        ``JWT_MTLS_REQUIRED`` asks for one)."""
        if self._jti_rule is not None:
            self._jti_rule(verified.claims, 0.0)  # JTI_PRESENT: it could never be revoked
        if self._certificate_required and CERTIFICATE_PROVED_SCOPE_KEY not in scope:
            raise CertificateRequiredError
        if decision.requirement is not NO_REQUIREMENT:
            decision.requirement.check(
                verified.scopes,
                verified.claims,
                proved=DPOP_PROVED_SCOPE_KEY in scope,
                certified=CERTIFICATE_PROVED_SCOPE_KEY in scope,
                dpop_algorithms=self._dpop_algorithms,
            )

    def _decide(self, scope: Scope) -> Decision:
        method = scope.get("method") if scope["type"] == "http" else None
        return self.policy.decide(method, route_path(scope), scope.get("raw_path"))

    async def _not_authenticated(
        self,
        exc: AuthenticationError,
        scope: Scope,
        receive: Receive,
        send: Send,
        decision: Decision,
        verified: VerifiedToken | None,
    ) -> None:
        """A public path goes on with anything, a bad token included, and an optional one
        with no token; everything else is refused. Every refusal is counted but that of
        no token where none is needed (as every refusal is logged), with the issuer of
        ``verified``, the token a later check refused, when there is one."""
        missing = isinstance(exc, MissingTokenError)
        anonymous = decision.access is _PUBLIC or decision.access is _OPTIONAL
        if self._outcomes is not None and not (missing and anonymous):
            self._outcomes.refused(exc, verified.issuer if verified is not None else None)
        if decision.access is _PUBLIC or (anonymous and missing):
            set_anonymous(scope)
            await self._call_app(scope, receive, send)
            return
        if exc.reason in REQUEST_REASONS:  # the verifier logged its own as it refused
            log_refusal(exc.reason)
        if missing and decision.requirement.dpop and isinstance(exc, MissingCredentialsError):
            exc = _dpop_only(exc)
        await self._deny(exc, scope, send, decision.requirement.scopes)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the app, answering an :class:`AuthenticationError` it raises.

        Whether the response has started decides how, and only ``send`` can tell: ASGI does
        not require a server to refuse a second ``http.response.start``, and a middleware
        outside (compression, say) may not. So ``send`` is wrapped, by a plain function
        that hands back the server's own awaitable: no extra coroutine per message.
        """
        started: str | None = None

        def tracking_send(message: Message) -> Awaitable[None]:
            nonlocal started
            if started is None:
                started = message["type"]
            return send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except AuthenticationError as exc:
            # Raised by a handler or dependency (no verified user on a public route, a
            # token that outlived its account): the same answer as the middleware's own.
            log_refusal(exc.reason if exc.reason in APP_REASONS else Reason.APP)
            if started is None:
                await self._deny(exc, scope, send)
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
        is_revoked = self.is_revoked
        await watch_websocket(
            self._call_app,
            scope,
            receive,
            send,
            expires_at=verified.expires_at,
            recheck_seconds=self._recheck,
            is_revoked=partial(is_revoked, verified.claims) if is_revoked is not None else None,
        )

    # --- start-up ---------------------------------------------------------------------------

    async def _pass_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._startup.lifespan(scope, receive, send, started=self._started)

    def _started(self, error: ConfigurationError | None) -> None:
        if error is not None:
            self._fail_closed(error)
        else:
            self._not_ready = None

    def _start_at_first_request(self, scope: Scope) -> ASGIApp | None:
        """Start-up for a server that ran no lifespan: read the routes now, once."""
        self._started(self._startup.read_routes(scope))
        return self._not_ready(scope) if self._not_ready is not None else None

    # --- refusals ------------------------------------------------------------------------------

    async def _deny(
        self, exc: AuthenticationError, scope: Scope, send: Send, scopes: Collection[str] = ()
    ) -> None:
        if scope["type"] == "websocket" and _DENIAL_EXTENSION not in (
            scope.get("extensions") or {}
        ):
            # Closing before accept makes the server refuse the handshake (ASGI spec).
            await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            return
        if self._metadata is not None and not self._metadata.server_checked:
            self._metadata.check_server(scope)
        await self._answers.send(exc, scope, send, scopes=scopes)


def _offering_nonce(send: Send, nonce: str) -> Send:
    """``send``, with a ``DPoP-Nonce`` header on the response: the next nonce, offered
    before the one the client used stops being accepted (RFC 9449 section 9)."""
    headers = [
        (b"dpop-nonce", nonce.encode("ascii")),
        # A browser client on another origin may read it (the app's CORS layer still
        # decides which origins may read the response at all).
        (b"access-control-expose-headers", b"DPoP-Nonce"),
    ]

    def offering(message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *headers]}
        return send(message)

    return offering


def _dpop_only(missing: MissingCredentialsError) -> MissingTokenError:
    """The ``DPoP`` challenge alone of a request without credentials on a route that
    requires DPoP: a ``Bearer`` one would offer a way in that the route refuses."""
    for each in (missing.first, *missing.others):
        if each.scheme == "DPoP":
            return each
    return missing
