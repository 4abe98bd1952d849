"""The :class:`KeySource` protocol: where the verifier gets the keys that may have signed a
token.

The verifier asks a key source for the keys of a token by the two header values that may
*select* a key: ``alg`` and ``kid``. Every key is a :class:`~jwt_middleware.types.BoundKey`,
bound to one algorithm by configuration, so the header can pick among trusted keys but
never supply a key, a key URL (``jku``, ``x5u``, ``jwk``, ``x5c``) or an algorithm for a key.
Sources: :class:`~jwt_middleware.keys.static.StaticKeys`,
:class:`~jwt_middleware.keys.jwks.JWKSKeys`,
:class:`~jwt_middleware.keys.discovery.DiscoveredKeys`,
:class:`~jwt_middleware.keys.local.JWKSFileKeys`,
:class:`~jwt_middleware.keys.kid_urls.KidURLKeys` (one PEM per ``kid``, AWS ALB's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..types import BoundKey

__all__ = ["KeySource"]


@runtime_checkable
class KeySource(Protocol):
    """Supplies the keys that may have signed a token, chosen by its ``alg`` and ``kid``.

    ``depends_on_header`` is ``False`` for a source whose keys are the same for every
    token; the verifier then asks once, and spares parsing the header on its own.
    :meth:`keys_now` answers without waiting, or ``None`` when the source has to be
    awaited (:meth:`keys`: a JWKS that has not fetched yet, or a ``kid`` it does not
    know). :meth:`prefetch` and :meth:`aclose` bracket the app's life (its lifespan).
    :attr:`available` says whether usable keys are held: a readiness probe asks it.
    """

    @property
    def depends_on_header(self) -> bool: ...

    @property
    def available(self) -> bool:
        """Whether usable keys are held now (fetched, and not too old to use), so a token
        signed with one is verified without waiting for the provider."""
        ...

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey] | None:
        """The keys for a token with this ``alg`` and ``kid``, or ``None`` to await them."""
        ...

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        """The keys for a token with this ``alg`` and ``kid``; empty when there are none."""
        ...

    async def prefetch(self) -> None:
        """Load what the source needs before the first request (nothing, for static keys)."""
        ...

    async def aclose(self) -> None:
        """Release what the source holds open (an HTTP client)."""
        ...
