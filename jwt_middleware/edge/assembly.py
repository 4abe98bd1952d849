"""What the middleware's options come to: its settings, its authenticators and its policy.

Every combination of options is checked here, once, and anything that cannot work raises
:class:`~jwt_middleware.errors.ConfigurationError`, which makes the middleware fail closed
(:mod:`.unconfigured`) rather than raise in the app's constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Final

from ..access.policy import AccessPolicy, ScopeRules
from ..access.rules import RuleSpec
from ..errors import ConfigurationError
from ..settings import JWTSettings
from ..types import Claims
from ..verification.authenticator import Authenticator
from ..verification.bearer import BearerAuthenticator
from ..verification.certificate_bound import CertificateBoundAuthenticator
from ..verification.chain import AuthenticatorChain
from ..verification.cookie import CookieAuthenticator, CsrfGuard
from ..verification.dpop_authenticator import DPoPAuthenticator
from ..verification.tenants import ResolveIssuer
from ..verification.verifier import TokenVerifier

if TYPE_CHECKING:
    from ..verification.dpop_replay import ProofReplayCache
    from ..verification.introspection import TokenIntrospector

__all__ = ["Assembly", "CredentialOptions", "Rules", "assemble", "offers_dpop_nonces"]

#: The middleware's rules: ``public``, ``optional``, ``scopes``, ``dpop`` and ``mtls``.
Rules = tuple[
    Iterable[RuleSpec],
    Iterable[RuleSpec],
    ScopeRules | None,
    Iterable[RuleSpec],
    Iterable[RuleSpec],
]


@dataclass(frozen=True, slots=True)
class Assembly:
    """The parts a configured middleware wires together, and what the DPoP challenge of a
    refusal by the policy names (``dpop_algorithms``, the DPoP authenticator's; empty
    without one)."""

    settings: JWTSettings
    authenticators: tuple[Authenticator, ...]
    policy: AccessPolicy
    #: Whether an accepted request's scope may carry a DPoP nonce to offer with the
    #: answer (:func:`offers_dpop_nonces`): the middleware looks for one only then.
    offers_dpop_nonces: bool
    dpop_algorithms: str = ""


@dataclass(frozen=True, slots=True)
class CredentialOptions:
    """The middleware's options for the authenticators it builds itself, which
    ``authenticators=`` replaces all of: a prepared ``verifier`` (else one is built from the
    settings, with ``check_claims`` and ``resolve_issuer``), the query parameter, the
    proxy's header (``JWT_TOKEN_HEADER`` when not given), the cookie
    (``JWT_COOKIE_NAME`` when not given) and where DPoP proofs are remembered
    (``dpop_replay``, in this process when not given)."""

    verifier: TokenVerifier | None = None
    token_query_param: str | None = None
    check_claims: Callable[[Claims], bool] | None = None
    token_header: str | None = None
    cookie_name: str | None = None
    resolve_issuer: ResolveIssuer | None = None
    dpop_replay: ProofReplayCache | None = None

    def given(self) -> list[str]:
        """The options given, as keywords (``"verifier="``)."""
        return [f"{field.name}=" for field in fields(self) if getattr(self, field.name) is not None]


def assemble(
    *,
    settings: JWTSettings | None,
    policy: AccessPolicy | None,
    rules: Rules,
    authenticators: Sequence[Authenticator] | None,
    credentials: CredentialOptions,
) -> Assembly:
    """The parts for these options: ``rules`` are ``public``, ``optional``, ``scopes``,
    ``dpop`` and ``mtls``; ``authenticators`` replaces the ones ``credentials`` describe."""
    _check_credential_options(authenticators, credentials)
    if settings is None:
        settings = _settings_of(credentials.verifier, authenticators)
    if authenticators is None:
        authenticators = _default_authenticators(settings, credentials)
    access = _policy(policy, rules)
    dpop = next((a for a in authenticators if isinstance(a, DPoPAuthenticator)), None)
    if access.asks_for_dpop and dpop is None:
        raise ConfigurationError(
            "a dpop= rule (or Requirement(dpop=True)) needs JWT_DPOP_ENABLED=true, or a "
            "DPoPAuthenticator among authenticators=: no request could pass it"
        )
    if access.asks_for_mtls and not any(_checks_certificates(a) for a in authenticators):
        raise ConfigurationError(
            "an mtls= rule (or Requirement(mtls=True)) needs JWT_MTLS_ENABLED=true, or a "
            "CertificateBoundAuthenticator among authenticators=: no request could pass it"
        )
    return Assembly(
        settings=settings,
        authenticators=tuple(authenticators),
        policy=access,
        offers_dpop_nonces=offers_dpop_nonces(authenticators),
        dpop_algorithms=dpop.algorithms if dpop is not None else "",
    )


def _checks_certificates(authenticator: Authenticator) -> bool:
    """Whether ``authenticator`` accepts tokens bound to a TLS client certificate."""
    if isinstance(authenticator, DPoPAuthenticator):
        return authenticator.certificates is not None
    return isinstance(authenticator, CertificateBoundAuthenticator)


def offers_dpop_nonces(authenticators: Iterable[Authenticator]) -> bool:
    """Whether one of ``authenticators`` may leave a fresh nonce in an accepted request's
    scope for the middleware to offer (``FRESH_NONCE_SCOPE_KEY`` of
    :mod:`~jwt_middleware.verification.dpop_authenticator`): a ``DPoPAuthenticator`` with
    server nonces, or an authenticator of a kind this library does not know, which may
    wrap one. Never one of the bearer kinds, nor a ``DPoPAuthenticator`` without nonces:
    with those alone, a request pays nothing for a nonce it cannot have."""
    for authenticator in authenticators:
        if isinstance(authenticator, DPoPAuthenticator):
            if authenticator.nonces is not None:
                return True
        elif isinstance(authenticator, AuthenticatorChain):
            if offers_dpop_nonces(authenticator.authenticators):
                return True
        elif not isinstance(authenticator, _WITHOUT_NONCES):
            return True
    return False


#: The authenticators that never offer a DPoP nonce.
_WITHOUT_NONCES: Final = (BearerAuthenticator, CookieAuthenticator, CertificateBoundAuthenticator)


def _check_credential_options(
    authenticators: Sequence[Authenticator] | None, credentials: CredentialOptions
) -> None:
    given = credentials.given()
    if authenticators is not None and given:
        raise ConfigurationError(f"give authenticators= or {'/'.join(given)}, not both")
    if authenticators is not None and not authenticators:
        raise ConfigurationError("authenticators= needs at least one authenticator")
    if credentials.resolve_issuer is not None and credentials.verifier is not None:
        raise ConfigurationError(
            "resolve_issuer= is for the verifier the middleware builds; give it to your "
            "TokenVerifier instead"
        )


def _default_authenticators(
    settings: JWTSettings, credentials: CredentialOptions
) -> list[Authenticator]:
    """The bearer authenticator (with introspection when configured), behind the cookie
    one when a cookie is named; with ``JWT_MTLS_ENABLED``, the certificate-bound one in
    front of those (it takes the bearer tokens bound to a certificate, and leaves the
    others); with ``JWT_DPOP_ENABLED``, the DPoP authenticator first (so that a request
    with ``Authorization: DPoP`` is its to decide, whatever cookie it carries). Each of
    those two has a verifier and cache of its own. With ``JWT_DPOP_REQUIRED``, the DPoP
    one alone. ``JWT_MTLS_REQUIRED`` keeps the bearer one (the middleware refuses what it
    accepts, :class:`~jwt_middleware.errors.CertificateRequiredError`), but no other way
    of sending a bearer token, which could never pass."""
    for enabled, name, authenticator in (
        (settings.dpop_enabled, "JWT_DPOP_ENABLED", "DPoPAuthenticator"),
        (settings.mtls_enabled, "JWT_MTLS_ENABLED", "CertificateBoundAuthenticator"),
    ):
        if enabled and credentials.verifier is not None:
            raise ConfigurationError(
                f"{name} builds its own verifier; with verifier=, give "
                f"authenticators=[{authenticator}(...), BearerAuthenticator(verifier)] instead"
            )
    if settings.mtls_required:
        _refuse_bearer_ways(settings, credentials, "JWT_MTLS_REQUIRED refuses plain bearer tokens")
    if not settings.dpop_enabled:
        if credentials.dpop_replay is not None:
            raise ConfigurationError(
                "dpop_replay= remembers DPoP proofs: it needs JWT_DPOP_ENABLED=true"
            )
        return _bearer_authenticators(settings, credentials)
    dpop_verifier = TokenVerifier(
        settings,
        check_claims=credentials.check_claims,
        resolve_issuer=credentials.resolve_issuer,
        dpop=True,
    )
    dpop = DPoPAuthenticator.from_settings(
        settings,
        dpop_verifier,
        replay=credentials.dpop_replay,
        introspector=_introspector(settings, dpop_verifier, credentials.check_claims, dpop=True),
    )
    if not settings.dpop_required:
        return [dpop, *_bearer_authenticators(settings, credentials)]
    if settings.mtls_enabled:
        raise ConfigurationError(
            "JWT_DPOP_REQUIRED refuses bearer tokens: unset JWT_MTLS_ENABLED, which reads them"
        )
    _refuse_bearer_ways(settings, credentials, "JWT_DPOP_REQUIRED refuses bearer tokens")
    return [dpop]


def _refuse_bearer_ways(settings: JWTSettings, credentials: CredentialOptions, why: str) -> None:
    """Refuse the options that read bearer tokens from elsewhere than the ``Authorization``
    header (where a DPoP or certificate-bound token comes), when ``why`` says none of
    them could pass. Introspection is not one: an opaque token's answer can bind it to a
    certificate or to a DPoP key."""
    bearer_ways = {
        "JWT_COOKIE_NAME": credentials.cookie_name or settings.cookie_name,
        "token_query_param=": credentials.token_query_param,
        "JWT_TOKEN_HEADER": credentials.token_header or settings.token_header,
    }
    for name, value in bearer_ways.items():
        if value is not None:
            raise ConfigurationError(f"{why}: unset {name}, which reads them")


def _bearer_authenticators(
    settings: JWTSettings, credentials: CredentialOptions
) -> list[Authenticator]:
    """The authenticators of ``Authorization: Bearer`` and the other bearer ways: the
    certificate-bound one first with ``JWT_MTLS_ENABLED``, then the bearer one."""
    bearer = _default_authenticator(settings, credentials)
    if not settings.mtls_enabled:
        return [bearer]
    verifier = TokenVerifier(
        settings,
        check_claims=credentials.check_claims,
        resolve_issuer=credentials.resolve_issuer,
        certificate_bound=True,
    )
    return [CertificateBoundAuthenticator.from_settings(settings, verifier), bearer]


def _default_authenticator(settings: JWTSettings, credentials: CredentialOptions) -> Authenticator:
    """The bearer authenticator (with introspection when configured), behind the cookie
    one when a cookie is named."""
    verifier = credentials.verifier
    if verifier is None:
        verifier = TokenVerifier(
            settings,
            check_claims=credentials.check_claims,
            resolve_issuer=credentials.resolve_issuer,
        )
    header = credentials.token_header
    bearer = BearerAuthenticator(
        verifier,
        query_param=credentials.token_query_param,
        token_header=header if header is not None else settings.token_header,
        introspector=_introspector(settings, verifier, credentials.check_claims),
    )
    return _with_cookie(settings, bearer, credentials.cookie_name)


def _policy(policy: AccessPolicy | None, rules: Rules) -> AccessPolicy:
    public, optional, scopes, dpop, mtls = rules
    if policy is not None and (public or optional or scopes or dpop or mtls):
        raise ConfigurationError("give policy= or public=/optional=/scopes=/dpop=/mtls=, not both")
    try:
        return policy or AccessPolicy(
            public=public, optional=optional, scopes=scopes, dpop=dpop, mtls=mtls
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(str(exc)) from None


def _introspector(
    settings: JWTSettings,
    verifier: TokenVerifier,
    check_claims: Callable[[Claims], bool] | None,
    *,
    dpop: bool = False,
) -> TokenIntrospector | None:
    """Opaque tokens by RFC 7662 introspection, when ``JWT_INTROSPECTION_CLIENT_ID`` is
    set; imported only then, as it needs the ``jwks`` extra (httpx). ``dpop``: the DPoP
    path's own, for tokens bound to a DPoP key."""
    if not settings.introspection_enabled:
        return None
    from ..verification.introspection import TokenIntrospector

    return TokenIntrospector(
        settings, policies=verifier.policies, check_claims=check_claims, dpop=dpop
    )


def _settings_of(
    verifier: TokenVerifier | None, authenticators: Sequence[Authenticator] | None
) -> JWTSettings:
    """The settings of the verifier (or of the first bearer or DPoP authenticator), so that
    a middleware given one needs no environment; else read from ``JWT_*`` now."""
    if verifier is not None:
        return verifier.settings
    for authenticator in authenticators or ():
        if isinstance(
            authenticator,
            BearerAuthenticator | DPoPAuthenticator | CertificateBoundAuthenticator,
        ):
            return authenticator.verifier.settings
    return JWTSettings()


def _with_cookie(
    settings: JWTSettings, bearer: BearerAuthenticator, cookie_name: str | None
) -> Authenticator:
    """The bearer authenticator, or, when ``cookie_name=`` or ``JWT_COOKIE_NAME`` names a
    cookie, a cookie authenticator that asks it first (a request with an ``Authorization``
    header is authenticated by it alone) and shares its verifier and cache."""
    name = cookie_name if cookie_name is not None else settings.cookie_name
    if name is None:
        return bearer
    csrf = CsrfGuard(
        trusted_origins=settings.csrf_trusted_origins,
        header=settings.csrf_header,
        cookie_name=settings.csrf_cookie_name,
    )
    return CookieAuthenticator(bearer.verifier, cookie_name=name, csrf=csrf, header=bearer)
