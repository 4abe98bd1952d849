"""``TokenIntrospector``: opaque access tokens, checked by the issuer's RFC 7662 endpoint.

Needs the ``jwks`` extra (httpx). The :class:`~.bearer.BearerAuthenticator` hands it every
bearer token that is not a JWT (``JWT_INTROSPECT_ALL_TOKENS``: every token); it posts the
token to the endpoint, authenticated as a client (``client_secret_basic``,
``client_secret_post`` or ``private_key_jwt``), through the one capped HTTP helper
(:func:`~jwt_middleware.keys.http.fetch_capped`), bounded by
``JWT_INTROSPECTION_TIMEOUT_SECONDS``.

An active answer becomes a :class:`~jwt_middleware.types.VerifiedToken` as a JWT's payload
does: its ``iss`` must be an accepted issuer, and its members go through the same claim
checks (:meth:`~.acceptance.Acceptance.identity`: ``exp``, ``aud``, ``cnf``...), so the policy,
``request.state`` and revocation see the same claims whichever kind of token came. Two
members are filled in where the answer leaves them out: ``sub`` from ``client_id`` (a
client credentials token is about its client, as RFC 9068 has it), and ``jti`` from the
SHA-256 of the token (:func:`~.introspection_answers.introspection_jti`), so that an
opaque token can be revoked like a JWT
(:func:`~jwt_middleware.revocation.revoke_token_claims`).

What it answers is remembered, keyed by the SHA-256 of the token, never the token itself:
an active token until its ``exp`` and at most ``JWT_INTROSPECTION_CACHE_SECONDS``, in a
:class:`~.cache.VerifiedTokenCache` bounded like the verified-token cache
(``JWT_VERIFIED_CACHE_SIZE`` entries, ``JWT_VERIFIED_CACHE_BYTES``); a refused one
(inactive, or an answer the checks refuse) for a fixed short time
(:data:`~.introspection_answers.REFUSAL_CACHE_SECONDS`), so a client that retries a dead
token costs one call every few seconds and a flood of invented tokens cannot push the
active ones out (they are held apart). Concurrent first sights of one token share one call
(single flight). A revocation needs nothing of this cache: the middleware asks its
revocation check after every authentication, cached or not, with these claims.

With ``JWT_MTLS_ENABLED``, an answer whose ``cnf`` names a TLS client certificate
(``x5t#S256``, RFC 8705 section 3.2) goes through the checks of a certificate-bound JWT
instead (:data:`~.claims.CERTIFICATE_BOUND`: that and nothing else in ``cnf``), and
:meth:`~TokenIntrospector.confirmed` then compares the request's certificate with it
(:func:`~.certificate_bound.certificate_confirmed`, the comparison a certificate-bound JWT
gets) on every request, its answer remembered or not: the cache holds the answer, never
the certificate. Without mTLS, or for any other ``cnf`` (a DPoP key's ``jkt``), the token
is refused as a JWT with that ``cnf`` would be on the bearer path (``bound_token``; with DPoP
on, an answer bound to a DPoP key, by ``cnf.jkt`` or by ``token_type: "DPoP"``, also gets
the ``DPoP`` challenge, as a DPoP-bound JWT sent as a bearer token does).

The DPoP path has an introspector of its own (``dpop=True``, RFC 9449 section 6.2), as it
has a verifier of its own: its answers go through the checks of a DPoP-bound JWT
(:data:`~.claims.DPOP_BOUND`: ``cnf.jkt`` required, ``dpop_binding`` without it), its
``token_type`` may be ``DPoP``, and its memory of answers is its own, so an opaque token
accepted with a proof is never found by the bearer path. The
:class:`~.dpop_authenticator.DPoPAuthenticator` checks the proof before asking it, and
compares ``cnf.jkt`` with the proof's key on every request, as it does a JWT's.

When the endpoint cannot answer (unreachable, timeout, an HTTP error, an answer that is
not a JSON object with a boolean ``active``), the request gets 503 with ``Retry-After``
(:class:`~jwt_middleware.errors.IntrospectionUnavailableError`), and nothing is cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

import httpx
from starlette.types import Scope

from ..edge.client_certificate import ClientCertificates
from ..edge.credentials import is_b64token, is_jwt_shaped
from ..errors import (
    ConfigurationError,
    DPoPTokenAsBearerError,
    IntrospectionUnavailableError,
    InvalidRequestError,
    InvalidTokenError,
)
from ..keys.discovery import DiscoveredKeys
from ..keys.http import FetchError, fetch_capped
from ..keys.issuers import IssuerPolicy
from ..refusals import Reason, log_refusal
from ..settings import JWTSettings
from ..types import Claims, VerifiedToken
from .acceptance import Acceptance
from .cache import PayloadShape, VerifiedTokenCache, entry_size
from .certificate_bound import certificate_confirmed
from .claims import custom_check
from .client_auth import ClientAuthentication
from .introspection_answers import RefusalMemory, active_answer

__all__ = ["TokenIntrospector"]

logger = logging.getLogger("jwt_middleware")

#: The largest answer read: an introspection answer is a few hundred bytes.
_MAX_ANSWER_BYTES: Final = 64 * 1024
#: ``token_type`` values of an access token usable as a bearer token (RFC 6750, RFC 7662).
_BEARER_TYPES: Final = frozenset({"bearer", "access_token"})
#: The ``token_type`` of a DPoP-bound access token (RFC 9449 section 6.2).
_DPOP_TYPE: Final = "dpop"
#: The same and the bearer ones: what the DPoP path accepts (the binding is ``cnf.jkt``,
#: which it requires whatever the type says).
_DPOP_PATH_TYPES: Final = _BEARER_TYPES | {_DPOP_TYPE}


class TokenIntrospector:
    """Checks opaque tokens at the issuer's introspection endpoint, for one configuration.

    ``policies`` are the verifier's issuers (the answer's ``iss`` must be one, and its
    ``aud`` one of that issuer's audiences); without ``JWT_INTROSPECTION_URL`` the endpoint
    is the ``introspection_endpoint`` of the one issuer whose metadata is discovered.
    ``client`` replaces the HTTP client it would make (and is left open); ``clock`` is the
    wall clock its deadlines are measured with. ``dpop`` makes it the DPoP path's (see the
    module): only answers bound to a DPoP key pass, for a
    :class:`~.dpop_authenticator.DPoPAuthenticator` to compare with the proof's key.
    """

    __slots__ = (
        "_acceptance",
        "_active",
        "_auth",
        "_bound_acceptance",
        "_client",
        "_clock",
        "_discovered",
        "_dpop_algorithms",
        "_failing",
        "_flights",
        "_issuers",
        "_max_len",
        "_owns_client",
        "_policies",
        "_refused",
        "_timeout",
        "_types",
        "_url",
        "all_tokens",
        "calls",
        "certificates",
        "dpop",
    )

    def __init__(
        self,
        settings: JWTSettings,
        *,
        policies: tuple[IssuerPolicy, ...],
        check_claims: Callable[[Claims], bool] | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        dpop: bool = False,
    ) -> None:
        if not settings.introspection_enabled:
            raise ConfigurationError("token introspection needs JWT_INTROSPECTION_CLIENT_ID")
        self._url = settings.introspection_url
        self._discovered: DiscoveredKeys | None = None
        if self._url is None:
            self._discovered = _discovered_source(policies)
        self._auth = ClientAuthentication(settings)
        self._policies = policies
        self._issuers = {policy.issuer for policy in policies}
        #: The claim checks an answer goes through, as a JWT of its issuer would, and the
        #: identity it becomes (remembered here, not in the verifier's cache).
        custom = custom_check(check_claims) if check_claims is not None else None
        self.dpop = dpop
        self._acceptance = Acceptance(settings, policies, custom=custom, cache=None, dpop=dpop)
        self._types = _DPOP_PATH_TYPES if dpop else _BEARER_TYPES
        #: The DPoP challenge's ``algs`` for a DPoP-bound answer on the bearer path, when
        #: DPoP is on.
        self._dpop_algorithms = (
            " ".join(settings.dpop_accepted_algorithms) if settings.dpop_enabled else None
        )
        #: With ``JWT_MTLS_ENABLED``: where a request's client certificate is read, and the
        #: checks of an answer bound to one (see the module); else ``None`` for both. The
        #: DPoP path's compares a certificate itself, as it does for a JWT bound to both.
        self.certificates: ClientCertificates | None = None
        self._bound_acceptance: Acceptance | None = None
        if settings.mtls_enabled and not dpop:
            self.certificates = ClientCertificates.from_settings(settings)
            self._bound_acceptance = Acceptance(
                settings, policies, custom=custom, cache=None, certificate_bound=True
            )
        self._max_len = settings.max_token_bytes
        self._timeout = settings.introspection_timeout_seconds
        size = settings.verified_cache_size
        self._active = (
            VerifiedTokenCache(
                max_entries=size,
                max_bytes=settings.verified_cache_bytes,
                ttl_seconds=settings.introspection_cache_seconds,
                clock=clock,
            )
            if size
            else None
        )
        self._refused = RefusalMemory(size) if size else None
        self._clock = clock
        self._client = client if client is not None else httpx.AsyncClient(follow_redirects=False)
        self._owns_client = client is None
        self._flights: dict[str, asyncio.Future[VerifiedToken]] = {}
        self._failing = False
        #: Whether JWTs are introspected too (``JWT_INTROSPECT_ALL_TOKENS``).
        self.all_tokens = settings.introspect_all_tokens
        #: Calls made to the endpoint (for monitoring and tests).
        self.calls = 0

    def takes(self, token: str) -> bool:
        """Whether ``token`` is this introspector's to check rather than a JWT verifier's:
        every token that is not JWT-shaped, every token with ``JWT_INTROSPECT_ALL_TOKENS``.
        The one rule of both paths that introspect (bearer and DPoP)."""
        return self.all_tokens or not is_jwt_shaped(token)

    def authenticate_now(self, token: str) -> VerifiedToken | None:
        """The remembered answer for ``token`` without a coroutine: its identity, or its
        refusal raised; ``None`` when the endpoint has to be asked."""
        return self._remembered(token)[1]

    async def authenticate(self, token: str) -> VerifiedToken:
        """The identity of ``token`` by the endpoint's answer (or a remembered one);
        concurrent callers for one token share one call."""
        key, known = self._remembered(token)
        if known is not None:
            return known
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._introspect(token, key))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # Shielded: a caller that goes away (client disconnected) does not cancel the call
        # the others wait on.
        return await asyncio.shield(flight)

    def confirmed(self, scope: Scope, verified: VerifiedToken) -> VerifiedToken:
        """``verified`` (an identity this introspector gave), once the request shows what
        its answer binds it to: for an answer bound to a certificate (accepted only with
        mTLS on), the request's client certificate must be that one, else it is refused
        (logged, ``401 invalid_token``). Asked on every request, remembered answers too."""
        if self.certificates is not None and _names_a_certificate(verified.claims):
            return certificate_confirmed(self.certificates, scope, verified)
        return verified

    def _remembered(self, token: str) -> tuple[str, VerifiedToken | None]:
        """The token's key, and its remembered identity (or its refusal, raised)."""
        if len(token) > self._max_len:
            log_refusal(Reason.TOO_LARGE)
            raise InvalidTokenError(reason=Reason.TOO_LARGE)
        key = hashlib.sha256(token.encode()).hexdigest()
        if self._active is not None:
            known = self._active.get(key)
            if known is not None:
                return key, known
            assert self._refused is not None
            self._refused.check(key, self._clock())
        if not is_b64token(token):  # a remembered token passed this on its first sight
            raise InvalidRequestError
        return key, None

    def _landed(self, key: str, flight: asyncio.Future[VerifiedToken]) -> None:
        self._flights.pop(key, None)
        if not flight.cancelled():
            flight.exception()  # retrieved, even when every caller went away

    async def prefetch(self) -> None:
        """Find the endpoint by discovery now, if it comes from there; never raises."""
        if self._discovered is not None and self._discovered.metadata is None:
            await self._discovered.prefetch()
            with contextlib.suppress(IntrospectionUnavailableError):  # logged; requests say
                self._discovered_url()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return (
            f"TokenIntrospector({self._auth!r}, all_tokens={self.all_tokens!r}, dpop={self.dpop!r})"
        )

    # --- the call ---------------------------------------------------------------------------

    async def _introspect(self, token: str, key: str) -> VerifiedToken:
        url = await self._endpoint()
        headers, form = self._auth.parts(self._audience(url))
        self.calls += 1
        try:
            async with asyncio.timeout(self._timeout):
                body = await fetch_capped(
                    self._client,
                    url,
                    max_bytes=_MAX_ANSWER_BYTES,
                    accept="application/json",
                    form={"token": token, "token_type_hint": "access_token", **form},
                    headers=headers,
                )
        except (TimeoutError, httpx.HTTPError, FetchError) as exc:
            # FetchError's messages are fixed text of ours; of the others, the class only.
            self._outage(str(exc) if isinstance(exc, FetchError) else type(exc).__name__)
            log_refusal(Reason.INTROSPECTION_UNAVAILABLE, level=logging.WARNING)
            raise IntrospectionUnavailableError from None
        answer = active_answer(body)
        if self._failing:
            self._failing = False
            logger.warning("token introspection answers again")
        try:
            if answer is None:
                raise InvalidTokenError(reason=Reason.INACTIVE)
            verified, size, remember_until = self._accept(key, answer, body)
        except InvalidTokenError as exc:
            log_refusal(exc.reason)
            if self._refused is not None:
                self._refused.remember(key, exc, self._clock())
            raise
        if self._active is not None:
            self._active.put(key, verified, expires_at=remember_until, size=size)
        return verified

    def _outage(self, why: str) -> None:
        if not self._failing:
            self._failing = True
            logger.error("token introspection failed (%s); answering 503 until it works", why)

    async def _endpoint(self) -> str:
        if self._url is not None:
            return self._url
        assert self._discovered is not None
        if self._discovered.metadata is None:
            await self._discovered.prefetch()
        return self._discovered_url()

    def _discovered_url(self) -> str:
        assert self._discovered is not None
        metadata = self._discovered.metadata
        endpoint = metadata.get("introspection_endpoint") if metadata is not None else None
        if metadata is None:
            self._outage("the issuer's metadata could not be fetched")
        elif not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            self._outage("the issuer's metadata names no introspection_endpoint")
        else:
            return endpoint
        raise IntrospectionUnavailableError

    def _audience(self, url: str) -> str:
        """Whom a client assertion is for: the one issuer (RFC 7523bis), else the endpoint."""
        issuers = [policy.issuer for policy in self._policies if policy.issuer is not None]
        return issuers[0] if len(issuers) == 1 else url

    # --- the answer -------------------------------------------------------------------------

    def _accept(
        self, key: str, answer: dict[str, Any], body: bytes
    ) -> tuple[VerifiedToken, int, float]:
        """The identity an active answer gives, its entry's size, and until when it may be
        remembered (its ``exp``, without the leeway); or the refusal."""
        token_type = answer.get("token_type")
        token_use = answer.get("token_use")  # Ory Hydra's name for it
        kind = str(token_type).lower() if token_type is not None else None
        if kind == _DPOP_TYPE and not self.dpop:
            self._refuse_dpop_bound()
        if (kind is not None and kind not in self._types) or (
            token_use is not None and token_use != "access_token"  # noqa: S105
        ):
            raise InvalidTokenError(reason=Reason.INACTIVE)  # a refresh token, say
        del answer["active"]
        if "sub" not in answer and isinstance(answer.get("client_id"), str):
            answer["sub"] = answer["client_id"]
        if "jti" not in answer:
            answer["jti"] = key
        policy = self._policy_for(answer.get("iss"))
        shape = PayloadShape.of(body.decode("utf-8"))
        acceptance = self._acceptance
        if self._bound_acceptance is not None and _names_a_certificate(answer):
            acceptance = self._bound_acceptance
        verified = acceptance.identity(answer, policy, shape, self._clock())
        try:
            remember_until = float(answer["exp"])  # the expiry check saw a finite number
        except OverflowError:  # 400 digits: a token that never expires
            remember_until = math.inf
        return verified, entry_size(key, shape, verified.scopes), remember_until

    def _refuse_dpop_bound(self) -> NoReturn:
        """Refuse a DPoP token (``token_type: "DPoP"``) on the bearer path, as its
        ``cnf.jkt`` would be (``bound_token``; with DPoP on, with the ``DPoP`` challenge)."""
        if self._dpop_algorithms is not None:
            raise DPoPTokenAsBearerError(algorithms=self._dpop_algorithms)
        raise InvalidTokenError(reason=Reason.BOUND_TOKEN)

    def _policy_for(self, iss: object) -> IssuerPolicy:
        for policy in self._policies:
            if policy.issuer is None or policy.issuer == iss:
                return policy
        raise InvalidTokenError(reason=Reason.ISSUER)


def _names_a_certificate(claims: Claims) -> bool:
    """Whether ``claims`` bind the token to a certificate: ``cnf`` an object naming
    ``x5t#S256`` (what else it holds is for the certificate-bound check to refuse)."""
    confirmation = claims.get("cnf")
    return isinstance(confirmation, Mapping) and "x5t#S256" in confirmation


def _discovered_source(policies: tuple[IssuerPolicy, ...]) -> DiscoveredKeys:
    """The one discovered issuer whose metadata names the endpoint."""
    sources = [policy.keys for policy in policies if isinstance(policy.keys, DiscoveredKeys)]
    if len(sources) != 1 or len(policies) != 1:
        raise ConfigurationError(
            "JWT_INTROSPECTION_URL is not set, so it is found by discovery, which needs "
            "exactly one JWT_ISSUER whose keys are discovered; set JWT_INTROSPECTION_URL"
        )
    return sources[0]
