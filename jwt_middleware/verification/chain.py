"""``AuthenticatorChain``: several authenticators tried in order, seen as one.

The first that finds a credential of its kind decides, whatever it answers; one that finds
none raises :class:`~jwt_middleware.errors.MissingTokenError` and the next is asked. When
none finds one, the answer challenges once for each scheme they accept
(:class:`~jwt_middleware.errors.MissingCredentialsError`: ``DPoP`` and ``Bearer``, say), in
their order, so a client learns every way in; authenticators of one scheme (a cookie and a
header) answer the first one's challenge. The middleware holds one authenticator either
way: a chain, or the only one given (no frame between).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Scope

from ..errors import MissingCredentialsError, MissingTokenError
from ..types import VerifiedToken
from .authenticator import Authenticator

__all__ = ["AuthenticatorChain", "one_authenticator"]


class AuthenticatorChain:
    """An :class:`~jwt_middleware.verification.authenticator.Authenticator` made of others,
    asked in order."""

    __slots__ = ("authenticators", "bearer_methods")

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        if not authenticators:
            raise ValueError("an AuthenticatorChain needs at least one authenticator")
        self.authenticators = tuple(authenticators)
        self.bearer_methods: tuple[str, ...] = tuple(
            dict.fromkeys(method for each in self.authenticators for method in each.bearer_methods)
        )

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        """The first authenticator that finds a credential decides (``None``: it has to
        wait, and :meth:`authenticate` asks again)."""
        missing: list[MissingTokenError] = []
        for authenticator in self.authenticators:
            try:
                return authenticator.authenticate_now(scope)
            except MissingTokenError as exc:
                missing.append(exc)
        raise _all_missing(missing)

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        """As :meth:`authenticate_now`, waiting where an authenticator has to."""
        missing: list[MissingTokenError] = []
        for authenticator in self.authenticators:
            try:
                return await authenticator.authenticate(scope)
            except MissingTokenError as exc:
                missing.append(exc)
        raise _all_missing(missing)

    async def prefetch(self) -> None:
        for authenticator in self.authenticators:
            await authenticator.prefetch()

    async def aclose(self) -> None:
        for authenticator in self.authenticators:
            await authenticator.aclose()


def _all_missing(missing: list[MissingTokenError]) -> MissingTokenError:
    """What a request without any credential is answered: the first authenticator's error,
    with one challenge more for each other scheme (see the module)."""
    schemes: dict[str, MissingTokenError] = {}
    for error in missing:
        schemes.setdefault(error.scheme, error)
    if len(schemes) == 1:
        return missing[0]
    return MissingCredentialsError(schemes.values())


def one_authenticator(authenticators: Sequence[Authenticator]) -> Authenticator:
    """The only authenticator itself (the usual case, asked with no frame between), or a
    chain of several."""
    if len(authenticators) == 1:
        return authenticators[0]
    return AuthenticatorChain(authenticators)
