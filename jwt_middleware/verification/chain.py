"""``AuthenticatorChain``: several authenticators tried in order, seen as one.

The first that finds a credential of its kind decides, whatever it answers; one that finds
none raises :class:`~jwt_middleware.errors.MissingTokenError` and the next is asked. When
none finds one, the answer challenges once for each scheme they accept
(:class:`~jwt_middleware.errors.MissingCredentialsError`: ``DPoP`` and ``Bearer``, say), in
their order, so a client learns every way in; authenticators of one scheme (a cookie and a
header) answer the first one's challenge. The middleware holds one authenticator either
way: a chain, or the only one given (no frame between).

Asking an authenticator that finds nothing costs a raised error, and most requests are not
the first authenticator's (a bearer token behind the DPoP one, a plain token behind the
certificate-bound one). So the chain reads the ``Authorization`` header once, and does not
ask an authenticator that declines it
(:class:`~jwt_middleware.verification.authenticator.DecliningAuthenticator`): the answer
is the same, as one that declines would raise ``MissingTokenError``. It is asked after
all, in its turn, only when no other finds a credential, for its challenge. A request with
two ``Authorization`` headers is not read: each authenticator is asked, and refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Final, Literal, TypeAlias

from starlette.types import Scope

from ..errors import MissingCredentialsError, MissingTokenError
from ..types import VerifiedToken
from .authenticator import Authenticator, DecliningAuthenticator

__all__ = ["AuthenticatorChain", "one_authenticator"]


class _Unread(Enum):
    """What :func:`_authorization` answers when the header cannot say who declines."""

    ASK_EACH = "ask each"


#: Bound once (an enum member read from its class costs a lookup per read on Python 3.11).
_ASK_EACH: Final = _Unread.ASK_EACH
#: The request's one ``Authorization`` header, ``None`` for none, or :data:`_ASK_EACH`.
_Authorization: TypeAlias = bytes | Literal[_Unread.ASK_EACH] | None
#: ``declines(authorization)`` of a :class:`DecliningAuthenticator`.
_Declines: TypeAlias = Callable[[bytes | None], bool]


def _authorization(scope: Scope) -> _Authorization:
    """The value of the request's ``Authorization`` header (``None`` without one), or
    :data:`_ASK_EACH` when it has several, which only the authenticators may refuse."""
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found is not None:
                return _ASK_EACH
            found = value
    return found


class AuthenticatorChain:
    """An :class:`~jwt_middleware.verification.authenticator.Authenticator` made of others,
    asked in order."""

    __slots__ = ("_members", "_reads_authorization", "authenticators", "bearer_methods")

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        if not authenticators:
            raise ValueError("an AuthenticatorChain needs at least one authenticator")
        self.authenticators = tuple(authenticators)
        self.bearer_methods: tuple[str, ...] = tuple(
            dict.fromkeys(method for each in self.authenticators for method in each.bearer_methods)
        )
        #: Each authenticator with its ``declines``, or ``None`` for one that must be asked.
        self._members: tuple[tuple[Authenticator, _Declines | None], ...] = tuple(
            (each, each.declines if isinstance(each, DecliningAuthenticator) else None)
            for each in self.authenticators
        )
        self._reads_authorization = any(declines for _, declines in self._members)

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        """The first authenticator that finds a credential decides (``None``: it has to
        wait, and :meth:`authenticate` asks again)."""
        authorization = _authorization(scope) if self._reads_authorization else _ASK_EACH
        missing: list[MissingTokenError | None] = []
        for authenticator, declines in self._members:
            if declines is not None and authorization is not _ASK_EACH and declines(authorization):
                missing.append(None)  # not asked (see the module)
                continue
            try:
                return authenticator.authenticate_now(scope)
            except MissingTokenError as exc:
                missing.append(exc)
        # None found one: those that declined are asked in their turn, for their challenge
        # (one that found a credential after all would decide, as it would have first).
        for index, error in enumerate(missing):
            if error is None:
                try:
                    return self.authenticators[index].authenticate_now(scope)
                except MissingTokenError as exc:
                    missing[index] = exc
        raise _all_missing(missing)

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        """As :meth:`authenticate_now`, waiting where an authenticator has to."""
        authorization = _authorization(scope) if self._reads_authorization else _ASK_EACH
        missing: list[MissingTokenError | None] = []
        for authenticator, declines in self._members:
            if declines is not None and authorization is not _ASK_EACH and declines(authorization):
                missing.append(None)
                continue
            try:
                return await authenticator.authenticate(scope)
            except MissingTokenError as exc:
                missing.append(exc)
        for index, error in enumerate(missing):
            if error is None:
                try:
                    return await self.authenticators[index].authenticate(scope)
                except MissingTokenError as exc:
                    missing[index] = exc
        raise _all_missing(missing)

    async def prefetch(self) -> None:
        for authenticator in self.authenticators:
            await authenticator.prefetch()

    async def aclose(self) -> None:
        for authenticator in self.authenticators:
            await authenticator.aclose()


def _all_missing(found: list[MissingTokenError | None]) -> MissingTokenError:
    """What a request without any credential is answered: the first authenticator's error,
    with one challenge more for each other scheme (see the module)."""
    missing = [error for error in found if error is not None]
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
