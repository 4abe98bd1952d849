"""``Authenticator``: the one seam between the middleware and a kind of credential.

The middleware hands an authenticator the request's ASGI scope (method, path, query string,
headers, the TLS extension) and gets back the verified identity, a
:class:`~jwt_middleware.types.VerifiedToken`, or an
:class:`~jwt_middleware.errors.AuthenticationError` that carries its own answer: status, RFC
6750 error, parameters and the ``scheme`` its challenge names. It never learns where the
credential was, which policy applies, or how refusals are answered: the middleware decides
what a refusal means for the path (a public path ignores it), and answers it.

Several authenticators may be given, tried in order: the first that finds a credential of
its kind decides; one that finds none raises :class:`~jwt_middleware.errors.MissingTokenError`
so the next may try. :class:`~jwt_middleware.verification.bearer.BearerAuthenticator` (a
JWT in ``Authorization: Bearer``) is the first implementation.

An authenticator that can tell from the ``Authorization`` header alone that a request is
not its own (another scheme, say) may say so as well
(:class:`DecliningAuthenticator`): a chain then reads the header once and does not ask it,
so that the requests it does not take pay nothing for it, not even a raised error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from starlette.types import Scope

from ..types import VerifiedToken

__all__ = ["Authenticator", "DecliningAuthenticator"]


@runtime_checkable
class Authenticator(Protocol):
    """What the middleware needs of a kind of credential.

    Any class with these members is one; no base class to inherit.
    """

    @property
    def bearer_methods(self) -> Sequence[str]:
        """The RFC 9728 ``bearer_methods_supported`` this authenticator reads a bearer token
        from (``"header"``, ``"query"``), for the protected resource metadata; empty for a
        credential that is not an OAuth bearer token. A plain attribute will do."""
        ...

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        """What :meth:`authenticate` would answer, when it is known without waiting, and
        without a coroutine: the identity of a credential in a cache or verified with what
        is at hand, or the refusal, raised (a forged token must cost no more than the check
        that refuses it). ``None`` when only :meth:`authenticate` can tell (keys to fetch)."""
        ...

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        """The identity of the request, or the :class:`AuthenticationError` that refuses
        it: :class:`MissingTokenError` (or a subclass naming this scheme) when the request
        carries no credential of this kind. Asked when :meth:`authenticate_now` said
        ``None`` (or for an authenticator after the first), so it answers what that one
        would as well."""
        ...

    async def prefetch(self) -> None:
        """Load what verification needs (remote keys) before the first request; called at
        start-up. Must not raise for an unreachable provider (log it: requests will say)."""
        ...

    async def aclose(self) -> None:
        """Release what is held open (an HTTP client), at shutdown. Safe to call twice."""
        ...


@runtime_checkable
class DecliningAuthenticator(Authenticator, Protocol):
    """An :class:`Authenticator` that can tell cheaply which requests are not its own.

    :class:`~jwt_middleware.verification.chain.AuthenticatorChain` reads a request's
    ``Authorization`` header once, and does not ask an authenticator that declines it
    unless no other finds a credential (then it does, for its challenge). Optional: an
    authenticator without :meth:`declines` is asked every time.
    """

    def declines(self, authorization: bytes | None) -> bool:
        """Whether a request whose one ``Authorization`` header has this value (``None``:
        it has none) is surely not this authenticator's: asked, it would raise
        :class:`~jwt_middleware.errors.MissingTokenError` and nothing else, whatever else
        the request carries, and leave the scope as it was. ``False`` when in doubt (a
        header its parser refuses is not declined: the refusal is its to raise). Cheap,
        and never raises: it is asked for every request."""
        ...
