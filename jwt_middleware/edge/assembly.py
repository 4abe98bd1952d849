"""What the middleware's options come to: its settings, its authenticators and its policy.

Every combination of options is checked here, once, and anything that cannot work raises
:class:`~jwt_middleware.errors.ConfigurationError`, which makes the middleware fail closed
(:mod:`.unconfigured`) rather than raise in the app's constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..access.policy import AccessPolicy, ScopeRules
from ..access.rules import RuleSpec
from ..errors import ConfigurationError
from ..settings import JWTSettings
from ..types import Claims
from ..verification.authenticator import Authenticator
from ..verification.bearer import BearerAuthenticator
from ..verification.tenants import ResolveIssuer
from ..verification.verifier import TokenVerifier

if TYPE_CHECKING:
    from ..verification.introspection import TokenIntrospector

__all__ = ["Assembly", "assemble"]


@dataclass(frozen=True, slots=True)
class Assembly:
    """The parts a configured middleware wires together."""

    settings: JWTSettings
    authenticators: tuple[Authenticator, ...]
    policy: AccessPolicy


def assemble(
    *,
    settings: JWTSettings | None,
    policy: AccessPolicy | None,
    rules: tuple[Iterable[RuleSpec], Iterable[RuleSpec], ScopeRules | None],
    authenticators: Sequence[Authenticator] | None,
    bearer: tuple[TokenVerifier | None, str | None, Callable[[Claims], bool] | None],
    token_header: str | None = None,
    resolve_issuer: ResolveIssuer | None = None,
) -> Assembly:
    """The parts for these options: ``rules`` are ``public``, ``optional`` and ``scopes``;
    ``bearer`` the default authenticator's ``verifier``, ``token_query_param`` and
    ``check_claims``, which ``authenticators=`` replaces, as it replaces ``token_header``
    (``JWT_TOKEN_HEADER`` when not given); ``resolve_issuer`` goes to the verifier built
    here (tenants), so not with ``verifier=`` or ``authenticators=``."""
    verifier, query_param, check_claims = bearer
    if authenticators is not None and any(option is not None for option in bearer):
        raise ConfigurationError(
            "give authenticators= or verifier=/token_query_param=/check_claims=, not both"
        )
    if authenticators is not None and token_header is not None:
        raise ConfigurationError("give authenticators= or token_header=, not both")
    if resolve_issuer is not None and (verifier is not None or authenticators is not None):
        raise ConfigurationError(
            "resolve_issuer= is for the verifier the middleware builds; give it to your "
            "TokenVerifier instead"
        )
    if authenticators is not None and not authenticators:
        raise ConfigurationError("authenticators= needs at least one authenticator")
    if settings is None:
        settings = _settings_of(verifier, authenticators)
    if authenticators is None:
        if verifier is None:
            verifier = TokenVerifier(
                settings, check_claims=check_claims, resolve_issuer=resolve_issuer
            )
        introspector = _introspector(settings, verifier, check_claims)
        authenticators = [
            BearerAuthenticator(
                verifier,
                query_param=query_param,
                token_header=token_header if token_header is not None else settings.token_header,
                introspector=introspector,
            )
        ]
    public, optional, scopes = rules
    if policy is not None and (public or optional or scopes):
        raise ConfigurationError("give policy= or public=/optional=/scopes=, not both")
    try:
        policy = policy or AccessPolicy(public=public, optional=optional, scopes=scopes)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(str(exc)) from None
    return Assembly(settings=settings, authenticators=tuple(authenticators), policy=policy)


def _introspector(
    settings: JWTSettings, verifier: TokenVerifier, check_claims: Callable[[Claims], bool] | None
) -> TokenIntrospector | None:
    """Opaque tokens by RFC 7662 introspection, when ``JWT_INTROSPECTION_CLIENT_ID`` is
    set; imported only then, as it needs the ``jwks`` extra (httpx)."""
    if not settings.introspection_enabled:
        return None
    from ..verification.introspection import TokenIntrospector

    return TokenIntrospector(settings, policies=verifier.policies, check_claims=check_claims)


def _settings_of(
    verifier: TokenVerifier | None, authenticators: Sequence[Authenticator] | None
) -> JWTSettings:
    """The settings of the verifier (or of the first bearer authenticator), so that a
    middleware given one needs no environment; else read from ``JWT_*`` now."""
    if verifier is not None:
        return verifier.settings
    for authenticator in authenticators or ():
        if isinstance(authenticator, BearerAuthenticator):
            return authenticator.verifier.settings
    return JWTSettings()
