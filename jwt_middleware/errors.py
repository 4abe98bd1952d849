"""The exception hierarchy, and how each member maps to an HTTP answer.

Every error raised while authenticating a request is an :class:`AuthenticationError`.
It carries everything the challenge response needs (status, RFC 6750 error code and a
short fixed description), so the middleware never re-derives the answer with if-chains,
and the text on the wire never depends on the token or on the library's internals. It also
carries a :class:`~jwt_middleware.refusals.Reason`, and the issuer it concerns as configured
(never the token's own ``iss``) when that is known, for the server's log and metrics only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Final

from .refusals import Reason

__all__ = [
    "AuthenticationError",
    "AuthenticationUnavailableError",
    "CertificateRequiredError",
    "ConfigurationError",
    "CrossSiteRequestError",
    "DPoPError",
    "DPoPRequiredError",
    "DPoPTokenAsBearerError",
    "DPoPTokenError",
    "InsufficientScopeError",
    "InsufficientUserAuthenticationError",
    "IntrospectionUnavailableError",
    "InvalidDPoPProofError",
    "InvalidRequestError",
    "InvalidTokenError",
    "KeysUnavailableError",
    "MissingCredentialsError",
    "MissingDPoPTokenError",
    "MissingTokenError",
    "ProofReplayUnavailableError",
    "RevocationStoreFullError",
    "RevocationStoreUnavailableError",
    "TenantLimitError",
    "TokenExpiredError",
    "TokenRevokedError",
    "UseDPoPNonceError",
    "invalid_token",
]


def _rebuilt(kind: type[AuthenticationError], args: tuple[Any, ...]) -> AuthenticationError:
    """An error of ``kind`` with ``args``, its other attributes to be set by unpickling."""
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    return error


class AuthenticationError(Exception):
    """Base class: the request could not be authenticated.

    ``status_code`` is the HTTP status of the answer, ``error`` the RFC 6750 error code
    (``None`` for a request that simply carried no credentials, section 3.1), and
    ``description`` a short fixed text that is safe to send to the client. ``reason`` says
    why in the server's log (``expired``, ``audience_mismatch``...) and is never sent: the
    client learns only the description. ``scheme`` is the authentication scheme the
    ``WWW-Authenticate`` challenge names: an authenticator of another kind (an API key, say)
    raises subclasses that name its own. ``issuer`` is the issuer whose keys or policy
    refused the token, as the refusal log names it (configured, or a tenant's template),
    or ``None`` when no one issuer can be named; never sent either.
    """

    # Slots, not the instance dict: a refusal is raised for every forged token, and
    # creating the dict cost as much as building the rest of the error.
    __slots__ = ("description", "issuer", "reason")

    scheme: ClassVar[str] = "Bearer"
    status_code: ClassVar[int] = 401
    error: ClassVar[str | None] = None
    default_description: ClassVar[str] = "Authentication required."
    default_reason: ClassVar[Reason] = Reason.INVALID

    def __init__(self, description: str | None = None, *, reason: Reason | None = None) -> None:
        self.description = description or self.default_description
        self.reason = reason or self.default_reason
        self.issuer: str | None = None
        super().__init__(self.description)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickles the instance dict only; the slots go with it here. Rebuilt
        # without calling __init__, whose keyword-only arguments (a DPoP challenge's
        # algorithms, a nonce, the errors of several schemes) args does not hold: the state
        # puts every attribute back.
        state = {
            **vars(self),
            "description": self.description,
            "reason": self.reason,
            "issuer": self.issuer,
        }
        return _rebuilt, (type(self), self.args), state

    def challenge_parameters(self) -> list[tuple[str, str]]:
        """Parameters this error adds to the ``WWW-Authenticate`` challenge after ``error``
        and ``error_description`` (RFC 6750 ``scope``, RFC 9470 ``acr_values``...)."""
        return []

    def other_challenges(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """Challenges of other schemes the answer offers after this error's own, as
        ``(scheme, parameters)`` (the answer adds its ``realm`` and ``resource_metadata``
        to each): a request refused by one scheme may be told that another is accepted too
        (a DPoP refusal where bearer tokens still pass, RFC 9449 section 7.1). None by
        default."""
        return ()

    def response_headers(self) -> tuple[tuple[str, str], ...]:
        """Headers the answer carries besides the challenge (a ``DPoP-Nonce``): fixed
        names, values made by the server, never taken from the request. None by default."""
        return ()


class MissingTokenError(AuthenticationError):
    """No bearer credentials: no header, or another scheme such as Basic."""

    default_description = "Authentication required."
    default_reason = Reason.MISSING


class MissingCredentialsError(MissingTokenError):
    """No credentials of any kind accepted, where several schemes are (``Bearer`` and
    ``DPoP``): answered with one challenge per scheme, in the order of the authenticators,
    so that a client learns every way in (RFC 9110 section 11.6.1 allows several). Still a
    :class:`MissingTokenError`, so an optional path lets the request through."""

    def __init__(self, missing: Iterable[MissingTokenError]) -> None:
        each = tuple(missing)
        if not each:
            raise ValueError("MissingCredentialsError needs at least one error")
        super().__init__(each[0].description)
        self.first = each[0]
        self.others = each[1:]

    @property
    def scheme(self) -> str:  # type: ignore[override]
        return self.first.scheme

    def challenge_parameters(self) -> list[tuple[str, str]]:
        return self.first.challenge_parameters()

    def other_challenges(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        return tuple((e.scheme, tuple(e.challenge_parameters())) for e in self.others)


class InvalidRequestError(AuthenticationError):
    """The Authorization header is malformed (RFC 6750 ``invalid_request``)."""

    status_code = 400
    error = "invalid_request"
    default_description = "Malformed Authorization header."
    default_reason = Reason.MALFORMED_REQUEST


class InvalidTokenError(AuthenticationError):
    """The bearer token failed verification (RFC 6750 ``invalid_token``)."""

    error = "invalid_token"
    default_description = "The access token is invalid."


#: ``Exception.__new__``, bound once: it sets ``args`` as ``Exception.__init__`` would.
_new_error = InvalidTokenError.__new__
_INVALID_TOKEN_DESCRIPTION: Final = InvalidTokenError.default_description


def invalid_token(reason: Reason, issuer: str | None = None) -> InvalidTokenError:
    """``InvalidTokenError(reason=reason)`` with ``issuer`` set, equal to it in every
    attribute (``args``, ``description``, ``reason``, ``issuer``), built without running
    ``__init__``: the verifier refuses every forged token with one, and the Python code of
    ``__init__`` (``super()`` included) cost a refusal about as much as reading the token's
    header did."""
    error = _new_error(InvalidTokenError, _INVALID_TOKEN_DESCRIPTION)
    error.description = _INVALID_TOKEN_DESCRIPTION
    error.reason = reason
    error.issuer = issuer
    return error


class TokenExpiredError(InvalidTokenError):
    """The bearer token was valid once but its ``exp`` has passed."""

    default_description = "The access token expired."
    default_reason = Reason.EXPIRED


class TokenRevokedError(InvalidTokenError):
    """The bearer token verified, but the revocation check says it was withdrawn (logout)."""

    default_description = "The access token was revoked."
    default_reason = Reason.REVOKED


class AuthenticationUnavailableError(AuthenticationError):
    """Authentication could not be completed (e.g. the revocation store is unreachable).

    Answered with 503 rather than 401, so clients retry instead of discarding a token that
    may be perfectly valid.
    """

    status_code = 503
    default_description = "Authentication is temporarily unavailable."
    default_reason = Reason.UNAVAILABLE


class KeysUnavailableError(AuthenticationUnavailableError):
    """The keys that could verify the token are not available: the identity provider (its
    metadata or JWKS) has not answered since start-up, or only with a key set older than
    ``JWT_JWKS_MAX_STALE_SECONDS``.

    A 503 with ``Retry-After``: the token may be perfectly valid, and a 401 would make the
    client throw it away.
    """

    default_description = "The token's signing keys are temporarily unavailable."
    default_reason = Reason.KEYS_UNAVAILABLE


class InsufficientScopeError(AuthenticationError):
    """The token is valid but lacks a scope the resource needs (RFC 6750 ``insufficient_scope``).

    ``scopes`` are the scopes the resource needs, named in the challenge's ``scope``
    parameter (RFC 6750 section 3), so a client knows what to ask its authorization server
    for.
    """

    status_code = 403
    error = "insufficient_scope"
    default_description = "The access token lacks the required scope."
    default_reason = Reason.INSUFFICIENT_SCOPE

    def __init__(self, description: str | None = None, *, scopes: Iterable[str] = ()) -> None:
        super().__init__(description)
        self.scopes = tuple(scopes)

    def challenge_parameters(self) -> list[tuple[str, str]]:
        return [("scope", " ".join(self.scopes))] if self.scopes else []


class InsufficientUserAuthenticationError(AuthenticationError):
    """The token is valid, but the user's authentication was not strong or recent enough
    for this resource (RFC 9470 step-up authentication).

    ``acr_values`` (any one of them) and ``max_age`` (seconds since ``auth_time``) go into
    the challenge, so the client can ask the authorization server for a new token that
    satisfies them.
    """

    error = "insufficient_user_authentication"
    default_description = "A stronger or more recent authentication is required."
    default_reason = Reason.STEP_UP

    def __init__(
        self,
        description: str | None = None,
        *,
        acr_values: Iterable[str] = (),
        max_age: int | None = None,
    ) -> None:
        super().__init__(description)
        self.acr_values = tuple(acr_values)
        self.max_age = max_age

    def challenge_parameters(self) -> list[tuple[str, str]]:
        parameters = []
        if self.acr_values:
            parameters.append(("acr_values", " ".join(self.acr_values)))
        if self.max_age is not None:
            parameters.append(("max_age", str(self.max_age)))
        return parameters


class ConfigurationError(ValueError):
    """The configuration cannot work: a setting is missing, malformed or unsafe.

    Raised at start-up, never per request. The message names the environment variable to
    set (``JWT_SECRET``, ``JWT_EXPIRY_DAYS``...) and never contains the value it was given,
    which may be a secret or a private key. A ``ValueError``, so code that validated
    settings with ``except ValueError`` (pydantic's ``ValidationError`` is one) still works.
    """


class RevocationStoreUnavailableError(AuthenticationUnavailableError):
    """The store could not answer or record a revocation (unreachable, timed out).

    A 503, so the middleware answers "try again" rather than "your token is bad", and a
    logout handler can answer the same way instead of reporting a logout that did not happen.
    """

    default_description = "Token revocation is temporarily unavailable."


class RevocationStoreFullError(RevocationStoreUnavailableError):
    """An :class:`InMemoryRevocationStore` reached ``max_entries`` of unexpired revocations.

    Raised by :meth:`~InMemoryRevocationStore.revoke` and
    :meth:`~InMemoryRevocationStore.revoke_once` only: forgetting an earlier revocation to
    make room would silently bring a logged-out token back to life, or let a single-use token
    be used again.
    """

    default_description = "Token revocation is temporarily unavailable."


class IntrospectionUnavailableError(AuthenticationUnavailableError):
    """The token introspection endpoint (RFC 7662) could not say whether an opaque token is
    active: unreachable, too slow, an HTTP error, or an answer that is not one.

    A 503 with ``Retry-After``, never a 401: the token may be perfectly valid.
    """

    default_description = "Token introspection is temporarily unavailable."
    default_reason = Reason.INTROSPECTION_UNAVAILABLE


class ProofReplayUnavailableError(AuthenticationUnavailableError):
    """The store that remembers DPoP proofs across instances (Redis) could not say whether
    a proof is used for the first time: unreachable, timed out, or in a failover.

    Raised by a :class:`~jwt_middleware.verification.dpop_replay.ProofReplayCache`; the
    DPoP authenticator answers it with a 503 and ``Retry-After`` (the proof and token may
    be perfectly good, and a client retries with a fresh proof), or, with
    ``JWT_DPOP_REPLAY_ON_ERROR=refuse``, with 401 ``invalid_dpop_proof``. Never with
    acceptance: a proof whose first use cannot be established might be a replay.
    """

    default_description = "DPoP proof checks are temporarily unavailable."
    default_reason = Reason.DPOP_REPLAY_UNAVAILABLE


class TenantLimitError(KeysUnavailableError):
    """A token names a new tenant (an issuer accepted at request time), and more new
    tenants than ``JWT_NEW_TENANTS_PER_MINUTE`` were admitted lately.

    A 503 with ``Retry-After``, like any :class:`KeysUnavailableError`: the token may be
    valid, and its tenant's keys are only fetched later, so a flood of unknown issuers
    delays new tenants without making the service fetch more.
    """

    default_description = "The token's signing keys are temporarily unavailable."
    default_reason = Reason.TENANT_LIMIT


class DPoPError(AuthenticationError):
    """A refusal of a DPoP request (RFC 9449): answered with a ``DPoP`` challenge naming the
    accepted proof algorithms (``algs``, section 7.1), and a plain ``Bearer`` challenge as
    well where bearer tokens are still accepted (``bearer_accepted``; the answer names its
    realm)
    ``algorithms`` is the configured list, never the proof's."""

    scheme = "DPoP"
    status_code = 401
    error = "invalid_dpop_proof"
    default_description = "The DPoP proof is invalid."
    default_reason = Reason.DPOP_PROOF

    def __init__(
        self,
        description: str | None = None,
        *,
        reason: Reason | None = None,
        algorithms: str = "",
        bearer_accepted: bool = False,
    ) -> None:
        super().__init__(description, reason=reason)
        self.algorithms = algorithms
        self.bearer_accepted = bearer_accepted

    def challenge_parameters(self) -> list[tuple[str, str]]:
        return [("algs", self.algorithms)] if self.algorithms else []

    def other_challenges(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        return (("Bearer", ()),) if self.bearer_accepted else ()


class MissingDPoPTokenError(MissingTokenError):
    """No ``Authorization: DPoP`` credentials: a ``DPoP`` challenge without an error,
    naming the accepted proof algorithms (RFC 9449 section 7.1)."""

    scheme = "DPoP"

    def __init__(self, *, algorithms: str) -> None:
        super().__init__()
        self.algorithms = algorithms

    def challenge_parameters(self) -> list[tuple[str, str]]:
        return [("algs", self.algorithms)]


class InvalidDPoPProofError(DPoPError):
    """The ``DPoP`` header is missing, doubled, or its proof fails a check of RFC 9449
    section 4.3 (``invalid_dpop_proof``); :attr:`reason` says which, in the log only."""


class DPoPTokenError(DPoPError, InvalidTokenError):
    """The access token of a DPoP request failed verification, or is not bound to the
    proof's key: ``invalid_token`` in a ``DPoP`` challenge."""

    error = "invalid_token"
    default_description = "The access token is invalid."
    default_reason = Reason.INVALID


class DPoPRequiredError(DPoPTokenError):
    """A bearer token where only a DPoP-bound token with its proof is accepted
    (``JWT_DPOP_REQUIRED``, or a requirement with ``dpop``)."""

    default_description = "This resource accepts DPoP-bound access tokens only."
    default_reason = Reason.DPOP_REQUIRED


class DPoPTokenAsBearerError(InvalidTokenError):
    """A DPoP-bound token (``cnf.jkt``) sent as a bearer token where DPoP is accepted: RFC
    9449 section 7.2 refuses it, as the bearer path refuses any ``cnf``
    (``bound_token``). The answer is the ``Bearer`` challenge with ``invalid_token`` (the
    scheme the token came in), followed by the ``DPoP`` one with ``invalid_token`` and the
    accepted proof algorithms, as section 7.1 answers a failed DPoP binding, so that the
    client learns which scheme its token needs. ``algorithms`` is the configured list."""

    default_description = "This access token is DPoP-bound: send it with a DPoP proof."
    default_reason = Reason.BOUND_TOKEN

    def __init__(self, description: str | None = None, *, algorithms: str = "") -> None:
        super().__init__(description)
        self.algorithms = algorithms

    def other_challenges(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        own = (
            ("error", "invalid_token"),
            ("error_description", self.description),
            ("algs", self.algorithms),
        )
        return (("DPoP", own),)


class UseDPoPNonceError(DPoPError):
    """The proof carries no nonce, or one the server no longer accepts (RFC 9449 section
    9): ``use_dpop_nonce``, with a fresh nonce in the ``DPoP-Nonce`` header to retry with."""

    error = "use_dpop_nonce"
    default_description = "Resend the request with a DPoP proof that carries this nonce."
    default_reason = Reason.DPOP_NONCE

    def __init__(
        self,
        *,
        nonce: str,
        reason: Reason | None = None,
        algorithms: str = "",
        bearer_accepted: bool = False,
    ) -> None:
        super().__init__(reason=reason, algorithms=algorithms, bearer_accepted=bearer_accepted)
        self.nonce = nonce

    def response_headers(self) -> tuple[tuple[str, str], ...]:
        return (("DPoP-Nonce", self.nonce),)


class CertificateRequiredError(InvalidTokenError):
    """A token that is not bound to the request's TLS client certificate, where only
    certificate-bound tokens are accepted (``JWT_MTLS_REQUIRED``, or a requirement with
    ``mtls``): ``401 invalid_token`` in the ``Bearer`` challenge, as RFC 8705 section 3
    answers a certificate that does not match (it defines no scheme of its own)."""

    default_description = "This resource accepts certificate-bound access tokens only."
    default_reason = Reason.CERTIFICATE_REQUIRED


class CrossSiteRequestError(AuthenticationError):
    """An unsafe request (``POST``, ``PUT``, ``PATCH``, ``DELETE``...) or a WebSocket
    handshake authenticated by a cookie, without evidence that it comes from the app's own
    pages: possibly cross-site request forgery.

    A 403 without a challenge: the credential is not at fault, the request's origin is, and
    RFC 6750 has no error code for that (see ``docs/cookies.md``).
    """

    status_code = 403
    default_description = "Cross-site request refused."
    default_reason = Reason.CSRF
