"""``DPoPAuthenticator``: an access token sent as ``Authorization: DPoP <token>`` with a
proof of the key it is bound to (RFC 9449), through the
:class:`~jwt_middleware.verification.authenticator.Authenticator` seam.

A request is accepted when, in this order: it has one ``DPoP`` header, whose proof passes
the checks of :mod:`.dpop` for this request and this token; its nonce is one of ours, when
nonces are on (:mod:`.dpop_nonce`); the token verifies with the authenticator's own
:class:`~jwt_middleware.verification.verifier.TokenVerifier` (``dpop=True``: a token
without ``cnf.jkt`` is refused, and its verified-token cache is its own, never the bearer
path's); the token's ``cnf.jkt`` is the thumbprint of the proof's key (and, for a token
bound to a TLS client certificate as well, ``cnf.x5t#S256`` that of the request's
certificate, which marks the request as an ``mtls=`` rule asks: refused when
certificate-bound tokens are off); and the proof was not used
before (:mod:`.dpop_replay`; across instances, through Redis: :mod:`.dpop_replay_redis`).
A token found in the cache still needs a fresh proof: the proof is never cached.

An opaque token (RFC 9449 section 6.2), when the authenticator has an introspector of its
own (:class:`~.introspection.TokenIntrospector` with ``dpop=True``), goes through the same
steps, its introspection answer standing for the verified token: the proof is checked
first (its ``ath`` over the token's text), so a bad proof costs no call to the endpoint;
the answer must be active, pass the claim checks of any opaque token and hold ``cnf.jkt``
(``dpop_binding`` without); and that ``cnf.jkt`` is compared with the proof's key by
:meth:`~DPoPAuthenticator._bound`, the one comparison a JWT gets too, on every request,
the answer remembered or not. The tokens that go to it are those the bearer path
introspects: every token that is not JWT-shaped (every token, with
``JWT_INTROSPECT_ALL_TOKENS``).

A replay memory that must wait (Redis) cannot answer :meth:`~DPoPAuthenticator.authenticate_now`;
the proof and token it checked are then handed to
:meth:`~DPoPAuthenticator.authenticate` through the request's scope, so that a request
costs one signature check of its proof, not two. When that memory cannot answer at all, the
request is refused, 503 or 401 (``replay_on_error``), never accepted.

A request with another scheme than ``DPoP`` is declined from its ``Authorization`` header
alone (:meth:`~DPoPAuthenticator.declines`), so that a chain leaves a bearer token to the
bearer authenticator without asking this one.

Refusals are :class:`~jwt_middleware.errors.DPoPError` s: a ``DPoP`` challenge naming the
accepted algorithms, and a ``Bearer`` one as well while bearer tokens are accepted. Each
is logged once with its reason (:mod:`jwt_middleware.refusals`), here or by the verifier (the
introspector, for an opaque token).
"""

from __future__ import annotations

import copy
import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, NoReturn

from starlette.types import Scope

from ..edge.client_certificate import ClientCertificates
from ..edge.credentials import is_b64token
from ..errors import (
    ConfigurationError,
    DPoPError,
    DPoPRequiredError,
    DPoPTokenError,
    InvalidDPoPProofError,
    InvalidRequestError,
    InvalidTokenError,
    MissingDPoPTokenError,
    ProofReplayUnavailableError,
    UseDPoPNonceError,
)
from ..refusals import Reason, log_refusal
from ..settings import JWTSettings
from ..types import VerifiedToken
from .certificate_bound import certificate_confirmed
from .dpop import DPOP_PROVED_SCOPE_KEY, Proof, ProofChecker, ProofRefused
from .dpop_nonce import DPoPNonces, NonceState
from .dpop_replay import InMemoryProofReplayCache, ProofReplayCache, replay_key
from .verifier import TokenVerifier

if TYPE_CHECKING:
    from .introspection import TokenIntrospector

__all__ = ["FRESH_NONCE_SCOPE_KEY", "DPoPAuthenticator"]

#: Where an accepted request's scope carries the nonce to offer with its answer
#: (``DPoP-Nonce``), when its proof had the previous step's: the middleware adds it.
FRESH_NONCE_SCOPE_KEY: Final = "jwt_middleware.dpop_nonce"
_ONE_PROOF: Final = "Send exactly one DPoP proof."
#: Where :meth:`DPoPAuthenticator.authenticate_now` leaves what it checked for
#: :meth:`DPoPAuthenticator.authenticate` when only a remote replay store can finish.
_CHECKED_SCOPE_KEY: Final = "jwt_middleware.dpop_checked"


class _Checked:
    """A request's verified token and checked proof, awaiting the replay store's answer;
    or its checked proof alone (``verified`` ``None``), awaiting the introspection
    endpoint's answer."""

    __slots__ = ("proof", "verified")

    def __init__(self, verified: VerifiedToken | None, proof: Proof) -> None:
        self.verified = verified
        self.proof = proof


class DPoPAuthenticator:
    """Authenticate a request by its DPoP-bound token and proof (see the module).

    ``verifier`` must be a DPoP verifier (``TokenVerifier(settings, dpop=True)``), never the
    bearer path's. ``checker`` holds the proof checks; ``replay`` remembers proofs (by
    default in this process: :class:`InMemoryProofReplayCache`; for a fleet,
    :class:`~.dpop_replay_redis.RedisProofReplayCache`), and when it cannot answer
    ``replay_on_error`` decides: ``"deny"`` answers 503 with ``Retry-After``, ``"refuse"``
    401 ``invalid_dpop_proof``; ``nonces`` demands server nonces. ``certificates`` reads the
    request's TLS client certificate, for tokens bound to one as well
    (``JWT_MTLS_ENABLED``; without it such a token is refused). ``refuse_bearer``
    (``JWT_DPOP_REQUIRED``) answers a bearer token with ``invalid_token`` instead of
    leaving it to another authenticator; ``bearer_accepted``
    (bearer tokens pass through another authenticator) adds their challenge to every DPoP
    refusal. ``introspector`` (its own, ``dpop=True``, never the bearer path's) checks the
    opaque tokens (see the module).
    """

    __slots__ = (
        "_algorithms",
        "_bearer_accepted",
        "_clock",
        "bearer_methods",
        "certificates",
        "checker",
        "introspector",
        "nonces",
        "refuse_bearer",
        "replay",
        "replay_on_error",
        "verifier",
    )

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        checker: ProofChecker,
        algorithms: tuple[str, ...],
        replay: ProofReplayCache | None = None,
        replay_on_error: Literal["deny", "refuse"] = "deny",
        nonces: DPoPNonces | None = None,
        certificates: ClientCertificates | None = None,
        refuse_bearer: bool = False,
        bearer_accepted: bool = True,
        introspector: TokenIntrospector | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not verifier.dpop:
            raise ConfigurationError(
                "a DPoPAuthenticator needs its own verifier: TokenVerifier(settings, dpop=True)"
            )
        if introspector is not None and not introspector.dpop:
            # The bearer path's would accept an unbound token, and remember a bound one
            # accepted here where a bearer request would find it.
            raise ConfigurationError(
                "a DPoPAuthenticator needs its own introspector: "
                "TokenIntrospector(settings, ..., dpop=True)"
            )
        self.verifier = verifier
        self.introspector = introspector
        self.checker = checker
        if replay_on_error not in ("deny", "refuse"):
            raise ConfigurationError("replay_on_error must be 'deny' or 'refuse'")
        self.replay: ProofReplayCache = replay if replay is not None else InMemoryProofReplayCache()
        self.replay_on_error = replay_on_error
        self.nonces = nonces
        self.certificates = certificates
        self.refuse_bearer = refuse_bearer
        self._algorithms = " ".join(algorithms)
        self._bearer_accepted = bearer_accepted and not refuse_bearer
        self._clock = clock
        #: DPoP is no RFC 9728 bearer method: the metadata says so in its own members.
        self.bearer_methods: tuple[str, ...] = ()

    @property
    def algorithms(self) -> str:
        """The accepted proof algorithms as every ``DPoP`` challenge names them (``algs``,
        RFC 9449 section 7.1): space-separated, in the configured order."""
        return self._algorithms

    @classmethod
    def from_settings(
        cls,
        settings: JWTSettings,
        verifier: TokenVerifier | None = None,
        *,
        replay: ProofReplayCache | None = None,
        introspector: TokenIntrospector | None = None,
        clock: Callable[[], float] = time.time,
    ) -> DPoPAuthenticator:
        """The authenticator ``JWT_DPOP_*`` describe, with ``verifier`` (a DPoP verifier
        built from ``settings`` when not given), ``replay`` (an in-memory cache of
        ``JWT_DPOP_MAX_PROOFS`` when not given) and ``introspector`` (with
        ``JWT_INTROSPECTION_CLIENT_ID``, a DPoP introspector built from ``settings`` when
        not given); ``clock`` is what proofs and nonces are timed with (wall-clock
        seconds)."""
        if settings.dpop_base_url is None:
            raise ConfigurationError("JWT_DPOP_ENABLED needs JWT_DPOP_BASE_URL")
        if verifier is None:
            verifier = TokenVerifier(settings, dpop=True)
        if introspector is None and settings.introspection_enabled:
            from .introspection import TokenIntrospector  # the jwks extra (httpx)

            introspector = TokenIntrospector(settings, policies=verifier.policies, dpop=True)
        algorithms = settings.dpop_accepted_algorithms
        nonces = None
        if settings.dpop_nonce:
            assert settings.dpop_nonce_secret is not None  # the settings checked it
            nonces = DPoPNonces(
                secret=settings.dpop_nonce_secret.get_secret_value().encode(),
                step_seconds=settings.dpop_nonce_seconds,
            )
        return cls(
            verifier,
            checker=ProofChecker(
                algorithms=algorithms,
                base_url=settings.dpop_base_url,
                proof_seconds=settings.dpop_proof_seconds,
                leeway_seconds=settings.leeway_seconds,
            ),
            algorithms=algorithms,
            replay=(
                replay
                if replay is not None
                else InMemoryProofReplayCache(max_entries=settings.dpop_max_proofs, clock=clock)
            ),
            replay_on_error=settings.dpop_replay_on_error,
            nonces=nonces,
            certificates=(
                ClientCertificates.from_settings(settings) if settings.mtls_enabled else None
            ),
            refuse_bearer=settings.dpop_required,
            introspector=introspector,
            clock=clock,
        )

    def with_replay(self, replay: ProofReplayCache) -> DPoPAuthenticator:
        """A copy of this authenticator that remembers proofs in ``replay`` instead, all
        else shared (its verifier and cache, its checks, its nonces): what
        :mod:`jwt_middleware.explain` asks, so that explaining a request neither reads nor
        fills the replay memory the server answers from."""
        twin = copy.copy(self)
        twin.replay = replay
        return twin

    # --- the request ---------------------------------------------------------------------

    def _credentials(self, scope: Scope) -> tuple[str, str]:
        """The token of ``Authorization: DPoP`` and the one ``DPoP`` proof, or the refusal."""
        authorization: bytes | None = None
        proof: bytes | None = None
        proofs = 0
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    raise InvalidRequestError("More than one Authorization header.")
                authorization = value
            elif name == b"dpop":
                proof = value
                proofs += 1
        if authorization is None:
            raise MissingDPoPTokenError(algorithms=self._algorithms)
        scheme, _, credentials = authorization.partition(b" ")
        scheme = scheme.lower()
        if scheme != b"dpop":  # what declines() tells without asking
            if scheme == b"bearer" and self.refuse_bearer:
                # Logged by the middleware, as a requirement's dpop_required is.
                raise self._error(DPoPRequiredError, Reason.DPOP_REQUIRED)
            raise MissingDPoPTokenError(algorithms=self._algorithms)
        try:
            token = credentials.strip(b" ").decode("ascii")
        except UnicodeDecodeError:
            raise InvalidRequestError from None
        if not token or not is_b64token(token):
            raise InvalidRequestError
        if proofs != 1 or proof is None:
            self._refuse_proof(Reason.DPOP_PROOF, _ONE_PROOF)
        try:
            return token, proof.decode("ascii")
        except UnicodeDecodeError:
            self._refuse_proof(Reason.DPOP_PROOF)

    def declines(self, authorization: bytes | None) -> bool:
        """Whether a request with this ``Authorization`` header is surely not this
        authenticator's (see
        :class:`~jwt_middleware.verification.authenticator.DecliningAuthenticator`): no
        header, or a scheme other than ``DPoP`` (and than ``Bearer``, which
        ``refuse_bearer`` refuses), read as :meth:`_credentials` reads it."""
        if authorization is None:
            return True
        scheme = authorization.partition(b" ")[0].lower()
        return scheme != b"dpop" and not (self.refuse_bearer and scheme == b"bearer")

    def _proof(self, scope: Scope, token: str, proof: str, now: float) -> Proof:
        """The request's proof, checked (see the module), and its nonce when nonces are on."""
        raw_path = scope.get("raw_path")
        path = (
            raw_path.decode("latin-1")
            if isinstance(raw_path, bytes)
            else scope.get("root_path", "") + scope["path"]
        )
        method = scope["method"] if scope["type"] == "http" else "GET"
        try:
            checked = self.checker.check(
                proof, method=method, raw_path=path, access_token=token, now=now
            )
        except ProofRefused as refused:
            self._refuse_proof(refused.reason)
        nonces = self.nonces
        if nonces is not None:
            state = nonces.check(checked.nonce, now)
            if state is NonceState.INVALID:
                log_refusal(Reason.DPOP_NONCE)
                raise UseDPoPNonceError(
                    nonce=nonces.current(now),
                    algorithms=self._algorithms,
                    bearer_accepted=self._bearer_accepted,
                )
            if state is NonceState.PREVIOUS:
                scope[FRESH_NONCE_SCOPE_KEY] = nonces.current(now)
        return checked

    def _bound(self, scope: Scope, verified: VerifiedToken, proof: Proof) -> None:
        """Refuse a token not bound to the proof's key (RFC 9449 section 7.1), or bound to
        a TLS client certificate as well that is not the request's (RFC 8705)."""
        # The DPOP_BOUND check (the verifier's, or the introspector's for an opaque token's
        # answer) saw a dict cnf with a string jkt.
        confirmation = verified.claims["cnf"]
        jkt: str = confirmation["jkt"]
        if not hmac.compare_digest(
            jkt.encode("utf-8", "replace"), proof.thumbprint.encode("ascii")
        ):
            self._refuse_token(Reason.DPOP_BINDING)
        if "x5t#S256" in confirmation:
            if self.certificates is None:
                self._refuse_token(Reason.BOUND_TOKEN)  # a binding not checked here
            certificate_confirmed(self.certificates, scope, verified, refuse=self._refuse_token)

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        token, proof_text = self._credentials(scope)
        now = self._clock()
        proof = self._proof(scope, token, proof_text, now)  # before any introspection call
        introspector = self.introspector
        try:
            if introspector is not None and introspector.takes(token):
                verified = introspector.authenticate_now(token)
                if verified is None:  # the endpoint has to be asked: authenticate() does
                    scope[_CHECKED_SCOPE_KEY] = _Checked(None, proof)
                    return None
            else:
                verified = self.verifier.cached(token) or self.verifier.authenticate_now(token)
        except InvalidTokenError as exc:
            raise self._token_error(exc) from None
        if verified is None:
            return None  # its keys have to be fetched: authenticate() does it all again
        self._bound(scope, verified, proof)
        first = self.replay.first_use_now(
            replay_key(proof.thumbprint, proof.jti), expires_at=proof.expires_at
        )
        if first is None:  # a remote store: authenticate() asks it, with what was checked here
            scope[_CHECKED_SCOPE_KEY] = _Checked(verified, proof)
            return None
        if not first:
            self._refuse_proof(Reason.DPOP_REPLAY)
        scope[DPOP_PROVED_SCOPE_KEY] = True
        return verified

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        checked = scope.pop(_CHECKED_SCOPE_KEY, None)
        if isinstance(checked, _Checked) and checked.verified is not None:
            verified, proof = checked.verified, checked.proof
        else:
            token, proof_text = self._credentials(scope)
            if isinstance(checked, _Checked):
                proof = checked.proof  # checked already, for this token: not signed twice
            else:
                proof = self._proof(scope, token, proof_text, self._clock())
            try:
                if self.introspector is not None and self.introspector.takes(token):
                    verified = await self.introspector.authenticate(token)
                else:
                    verified = await self.verifier.authenticate(token)
            except InvalidTokenError as exc:
                raise self._token_error(exc) from None
            self._bound(scope, verified, proof)
        key = replay_key(proof.thumbprint, proof.jti)
        try:
            first = await self.replay.first_use(key, expires_at=proof.expires_at)
        except ProofReplayUnavailableError:
            if self.replay_on_error == "refuse":
                self._refuse_proof(Reason.DPOP_REPLAY_UNAVAILABLE)
            log_refusal(Reason.DPOP_REPLAY_UNAVAILABLE)
            raise
        if not first:
            self._refuse_proof(Reason.DPOP_REPLAY)
        scope[DPOP_PROVED_SCOPE_KEY] = True
        return verified

    # --- refusals ------------------------------------------------------------------------

    def _error(
        self, kind: type[DPoPError], reason: Reason, description: str | None = None
    ) -> DPoPError:
        """A refusal of ``kind``, with this authenticator's challenge parameters."""
        return kind(
            description,
            reason=reason,
            algorithms=self._algorithms,
            bearer_accepted=self._bearer_accepted,
        )

    def _refuse_proof(self, reason: Reason, description: str | None = None) -> NoReturn:
        log_refusal(reason)
        raise self._error(InvalidDPoPProofError, reason, description)

    def _refuse_token(self, reason: Reason, description: str | None = None) -> NoReturn:
        log_refusal(reason)
        raise self._error(DPoPTokenError, reason, description)

    def _token_error(self, error: InvalidTokenError) -> DPoPError:
        """The verifier's refusal (logged by it already) in a DPoP challenge."""
        return self._error(DPoPTokenError, error.reason, error.description)

    # --- the rest of the seam ------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the verifier's key sources hold usable keys."""
        return self.verifier.ready

    async def prefetch(self) -> None:
        await self.verifier.prefetch()
        if self.introspector is not None:
            await self.introspector.prefetch()

    async def aclose(self) -> None:
        await self.verifier.aclose()
        if self.introspector is not None:
            await self.introspector.aclose()
        await self.replay.aclose()
