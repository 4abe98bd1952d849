"""The keys of the configuration: the static verification keys (a
:class:`~jwt_middleware.keys.source.KeySource`), what created tokens are signed with, and
the JWK Set we publish.

The verifier asks a key source for the keys of a token by the two header values that may
*select* a key: ``alg`` and ``kid``. Every key is a :class:`~.types.BoundKey`, bound to one
algorithm by configuration, so the header can pick among trusted keys but never supply a
key, a key URL (``jku``, ``x5u``, ``jwk``, ``x5c``) or an algorithm for a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ..algorithms import PrivateKey, PublicKey, key_fits, load_private_key, read_key
from ..errors import ConfigurationError
from ..types import BoundKey
from .jwk import key_thumbprint, public_jwk

if TYPE_CHECKING:
    from ..settings import JWTSettings

__all__ = ["SigningKey", "StaticKeys", "public_jwks", "signing_key"]

#: What tokens are signed with: an HMAC secret or a private key object.
SigningKey = str | PrivateKey


class StaticKeys:
    """A fixed set of keys known at start-up.

    A token whose ``kid`` names keys (``named``) is tried against those only; any other
    token (no ``kid``, or one not named here) is tried against the ``unnamed`` keys, in
    order: the current secret first, then retired ones. In both cases only keys bound to
    the token's ``alg`` are offered.
    """

    __slots__ = ("_by_kid", "_named_for", "_unnamed", "_unnamed_for")

    def __init__(self, *unnamed: BoundKey, named: Iterable[BoundKey] = ()) -> None:
        self._unnamed: tuple[BoundKey, ...] = unnamed
        by_kid: dict[str, list[BoundKey]] = {}
        for key in named:
            if key.kid is None:
                raise ValueError("named keys need a kid")
            by_kid.setdefault(key.kid, []).append(key)
        self._by_kid = {kid: tuple(keys) for kid, keys in by_kid.items()}
        if not self._unnamed and not self._by_kid:
            raise ValueError("StaticKeys needs at least one key")
        # The answers of keys_now, worked out once: by kid (or unnamed), then algorithm.
        self._unnamed_for = _by_algorithm(self._unnamed)
        self._named_for = {kid: _by_algorithm(keys) for kid, keys in self._by_kid.items()}

    @classmethod
    def from_settings(cls, settings: JWTSettings) -> StaticKeys:
        """The verification keys configured in ``settings`` (not a JWKS URL), each bound
        to every configured algorithm it fits."""
        algorithms = settings.algorithms
        if settings.is_hmac:
            if settings.secret is None:
                raise ConfigurationError("JWT_SECRET is not set")
            current = [
                BoundKey(alg, _secret_bytes(settings.secret), settings.key_id) for alg in algorithms
            ]
            retired = [
                BoundKey(alg, _secret_bytes(old))
                for old in settings.previous_secrets
                for alg in algorithms
            ]
            return cls(*current, *retired, named=current if settings.key_id else ())
        primary: PublicKey | None = None
        if settings.private_key is not None:
            primary = _load_private(settings).public_key()
        if settings.public_key is not None:
            primary = read_key(settings.public_key, "JWT_PUBLIC_KEY", private=False)
        by_kid: list[BoundKey] = []
        fallback: list[BoundKey] = []
        if primary is not None:
            bound = _bind(primary, algorithms, settings.key_id or key_thumbprint(primary))
            by_kid += bound
            fallback += bound
        for kid, pem in settings.public_keys.items():
            key = read_key(pem, f"JWT_PUBLIC_KEYS[{kid!r}]", private=False)
            by_kid += _bind(key, algorithms, kid)
        return cls(*fallback, named=by_kid)

    @property
    def depends_on_header(self) -> bool:
        return bool(self._by_kid) or len({key.algorithm for key in self._unnamed}) > 1

    @property
    def available(self) -> bool:
        return True  # known at start-up, and never fewer than one

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        if algorithm is None:
            return self._by_kid.get(kid, self._unnamed) if kid is not None else self._unnamed
        named = self._named_for.get(kid) if kid is not None else None
        return (named if named is not None else self._unnamed_for).get(algorithm, ())

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        return self.keys_now(algorithm, kid)

    async def prefetch(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def named(self) -> dict[str, BoundKey]:
        """One key per ``kid`` (the first bound one), for publishing."""
        return {kid: keys[0] for kid, keys in self._by_kid.items()}

    def __repr__(self) -> str:
        return f"StaticKeys(<{len(self._unnamed)} unnamed>, kids={sorted(self._by_kid)!r})"


def _by_algorithm(keys: Sequence[BoundKey]) -> dict[str, tuple[BoundKey, ...]]:
    """``keys`` grouped by the algorithm each is bound to, order kept."""
    grouped: dict[str, list[BoundKey]] = {}
    for key in keys:
        grouped.setdefault(key.algorithm, []).append(key)
    return {algorithm: tuple(group) for algorithm, group in grouped.items()}


def signing_key(settings: JWTSettings) -> tuple[SigningKey, str | None]:
    """The key created tokens are signed with, and the ``kid`` to stamp on them."""
    if settings.is_hmac:
        if settings.secret is None:
            raise ConfigurationError("JWT_SECRET is not set")
        return settings.secret.get_secret_value(), settings.key_id
    if settings.private_key is None:
        raise ConfigurationError(
            "creating tokens needs JWT_PRIVATE_KEY; this configuration can only verify them"
        )
    private = _load_private(settings)
    return private, settings.key_id or key_thumbprint(private.public_key())


def public_jwks(settings: JWTSettings) -> dict[str, list[dict[str, Any]]]:
    """The JWK Set document (RFC 7517) of the configured public keys, to serve to verifiers.

    Empty for HMAC: shared secrets are never published.
    """
    if settings.is_hmac:
        return {"keys": []}
    keys = StaticKeys.from_settings(settings)
    return {
        "keys": [
            public_jwk(key.key, algorithm=key.algorithm, kid=kid)
            for kid, key in sorted(keys.named().items())
        ]
    }


def _bind(key: PublicKey, algorithms: Sequence[str], kid: str | None) -> list[BoundKey]:
    return [BoundKey(alg, key, kid) for alg in algorithms if key_fits(key, alg)]


def _load_private(settings: JWTSettings) -> PrivateKey:
    assert settings.private_key is not None
    key: PrivateKey = load_private_key(settings.private_key.get_secret_value(), settings.algorithm)
    return key


def _secret_bytes(secret: SecretStr) -> bytes:
    return secret.get_secret_value().encode()
