"""Where verification keys come from.

The verifier asks a :class:`KeySource` for the candidate keys of each token, given the
token's (unverified) header. The header may only *select* among keys the source already
trusts, for example by ``kid``; it never supplies a key, a key URL (``jku``, ``x5u``) or
an algorithm. Asymmetric keys, rotation and JWKS plug in here as further sources, without
touching the middleware.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from jwt import PyJWK
from jwt.algorithms import AllowedPublicKeys
from pydantic import SecretStr

__all__ = ["KeySource", "StaticKeys", "VerificationKey"]

#: What PyJWT accepts as a verification key: an HMAC secret, a public key object, or a JWK.
VerificationKey = str | bytes | AllowedPublicKeys | PyJWK


@runtime_checkable
class KeySource(Protocol):
    """Supplies the keys that may have signed a token."""

    async def resolve(self, header: Mapping[str, Any]) -> Sequence[VerificationKey]:
        """Return the trusted keys to try for a token with this header (may be empty)."""
        ...


class StaticKeys:
    """A fixed set of keys known at start-up, optionally named by ``kid``.

    With one key and no ids every token is tried against that key. With ids, a token's
    ``kid`` picks its key and an unknown ``kid`` gets no key at all.
    """

    __slots__ = ("_by_kid", "_unnamed")

    def __init__(
        self,
        *unnamed: SecretStr | VerificationKey,
        named: Mapping[str, SecretStr | VerificationKey] | None = None,
    ) -> None:
        self._unnamed: tuple[VerificationKey, ...] = tuple(_reveal(key) for key in unnamed)
        self._by_kid: dict[str, tuple[VerificationKey, ...]] = {
            kid: (_reveal(key),) for kid, key in (named or {}).items()
        }
        if not self._unnamed and not self._by_kid:
            raise ValueError("StaticKeys needs at least one key")

    def resolve_now(self, header: Mapping[str, Any]) -> Sequence[VerificationKey]:
        """The synchronous form of :meth:`resolve`; static keys never wait."""
        kid = header.get("kid")
        if isinstance(kid, str) and kid in self._by_kid:
            return self._by_kid[kid]
        return self._unnamed

    async def resolve(self, header: Mapping[str, Any]) -> Sequence[VerificationKey]:
        return self.resolve_now(header)

    def __repr__(self) -> str:
        return f"StaticKeys(<{len(self._unnamed)} unnamed>, kids={sorted(self._by_kid)!r})"


def _reveal(key: SecretStr | VerificationKey) -> VerificationKey:
    return key.get_secret_value() if isinstance(key, SecretStr) else key
