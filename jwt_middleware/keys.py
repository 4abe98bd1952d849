"""Where keys come from: loading PEM keys, naming them by ``kid``, and key sources.

The verifier asks a :class:`KeySource` for the candidate keys of each token, given the
token's (unverified) header. The header may only *select* among keys the source already
trusts, for example by ``kid``; it never supplies a key, a key URL (``jku``, ``x5u``) or
an algorithm. A JWKS endpoint plugs in as another source, without touching the middleware.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from jwt import PyJWK
from jwt.algorithms import AllowedPrivateKeys, AllowedPublicKeys, get_default_algorithms
from pydantic import SecretStr

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .settings import JWTSettings

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "KeySource",
    "SigningKey",
    "StaticKeys",
    "VerificationKey",
    "key_thumbprint",
    "load_private_key",
    "load_public_key",
    "public_jwks",
    "signing_key",
]

HMAC_ALGORITHMS: Final = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS: Final = ("RS256", "PS256", "ES256", "EdDSA")

#: What PyJWT accepts as a verification key: an HMAC secret, a public key object, or a JWK.
VerificationKey = str | bytes | AllowedPublicKeys | PyJWK
#: What tokens are signed with: an HMAC secret or a private key object.
SigningKey = str | AllowedPrivateKeys

_MIN_RSA_BITS: Final = 2048
#: Longer than any real file path; a longer value is a key body without its PEM armour.
_MAX_PATH_CHARACTERS: Final = 1024
#: Far larger than any PEM key; a larger file is the wrong file.
_MAX_KEY_FILE_BYTES: Final = 1 << 16


@runtime_checkable
class KeySource(Protocol):
    """Supplies the keys that may have signed a token."""

    async def resolve(self, header: Mapping[str, Any]) -> Sequence[VerificationKey]:
        """Return the trusted keys to try for a token with this header (may be empty)."""
        ...


class StaticKeys:
    """A fixed set of keys known at start-up, optionally named by ``kid``.

    A token whose ``kid`` names a key is tried against that key only; any other token is
    tried against the unnamed keys in turn (the current secret first, then retired ones).
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

    @classmethod
    def from_settings(cls, settings: JWTSettings) -> StaticKeys:
        """The verification keys configured in ``settings`` (not a JWKS URL)."""
        if settings.is_hmac:
            assert settings.secret is not None
            named = {settings.key_id: settings.secret} if settings.key_id else {}
            return cls(settings.secret, *settings.previous_secrets, named=named)
        keys: dict[str, AllowedPublicKeys] = {}
        primary: AllowedPublicKeys | None = None
        if settings.private_key is not None:
            private = load_private_key(settings.private_key.get_secret_value(), settings.algorithm)
            primary = private.public_key()
        if settings.public_key is not None:
            primary = load_public_key(settings.public_key, settings.algorithm)
        if primary is not None:
            keys[settings.key_id or key_thumbprint(primary)] = primary
        for kid, pem in settings.public_keys.items():
            keys[kid] = load_public_key(pem, settings.algorithm)
        return cls(*([primary] if primary is not None else []), named=keys)

    def named(self) -> dict[str, VerificationKey]:
        """The keys that have a ``kid``, by ``kid``."""
        return {kid: keys[0] for kid, keys in self._by_kid.items()}

    def keys_for_any_header(self) -> Sequence[VerificationKey] | None:
        """The keys every token is tried against, when no ``kid`` can change them."""
        return None if self._by_kid else self._unnamed

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


def signing_key(settings: JWTSettings) -> tuple[SigningKey, str | None]:
    """The key created tokens are signed with, and the ``kid`` to stamp on them."""
    if settings.is_hmac:
        assert settings.secret is not None
        return settings.secret.get_secret_value(), settings.key_id
    if settings.private_key is None:
        raise ValueError(
            "creating tokens needs JWT_PRIVATE_KEY; this configuration can only verify them"
        )
    private = load_private_key(settings.private_key.get_secret_value(), settings.algorithm)
    return private, settings.key_id or key_thumbprint(private.public_key())


def public_jwks(settings: JWTSettings) -> dict[str, list[dict[str, Any]]]:
    """The JWKS document (RFC 7517) of the configured public keys, to serve to verifiers."""
    if settings.is_hmac:
        return {"keys": []}  # shared secrets are never published
    keys = StaticKeys.from_settings(settings)
    documents = []
    for kid, key in sorted(keys.named().items()):
        jwk = _algorithm(settings.algorithm).to_jwk(key, as_dict=True)
        jwk.update({"kid": kid, "alg": settings.algorithm, "use": "sig"})
        documents.append(jwk)
    return {"keys": documents}


def key_thumbprint(key: AllowedPublicKeys) -> str:
    """The RFC 7638 JWK thumbprint of a public key: a stable default ``kid``."""
    members: tuple[str, ...]
    if isinstance(key, rsa.RSAPublicKey):
        jwk = _algorithm("RS256").to_jwk(key, as_dict=True)
        members = ("e", "kty", "n")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = _algorithm("ES256").to_jwk(key, as_dict=True)
        members = ("crv", "kty", "x", "y")
    else:
        jwk = _algorithm("EdDSA").to_jwk(key, as_dict=True)
        members = ("crv", "kty", "x")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_private_key(value: str, algorithm: str, name: str = "JWT_PRIVATE_KEY") -> Any:
    """Load a PEM private key (inline, or a file path) and check it fits ``algorithm``.

    Errors name the setting, never its content.
    """
    return _load(value, algorithm, name, private=True)


def load_public_key(value: str, algorithm: str, name: str = "JWT_PUBLIC_KEY") -> Any:
    """Load a PEM public key (inline, or a file path) and check it fits ``algorithm``."""
    return _load(value, algorithm, name, private=False)


@lru_cache(maxsize=32)
def _load(value: str, algorithm: str, name: str, *, private: bool) -> Any:
    # Every message below names the setting and never quotes its value, whatever it is:
    # a mangled private key must not end up in a log through the error that refuses it.
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string: inline PEM or a file path")
    pem = _pem_bytes(value, name)
    kind = "an unencrypted PEM private key" if private else "a PEM public key"
    try:
        key: Any = load_pem_private_key(pem, password=None) if private else load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(f"{name} is not {kind} (value not shown)") from None
    _check_fits(key.public_key() if private else key, algorithm, name)
    return key


def _pem_bytes(value: str, name: str) -> bytes:
    """The PEM text of an inline key, or the content of the file a path names."""
    text = value.strip()
    # `docker run --env-file` and some dotenv loaders keep the quotes around a value.
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if text.startswith("-----BEGIN"):
        # Environment variables often carry PEM with literal "\n" escapes.
        return (text.replace("\\n", "\n") if "\n" not in text else text).encode()
    if "-----BEGIN" in text or "\n" in text or len(text) > _MAX_PATH_CHARACTERS:
        raise ConfigurationError(
            f"{name} is neither inline PEM (starting with '-----BEGIN') nor a file path "
            "(value not shown)"
        )
    try:
        with Path(text).expanduser().open("rb") as handle:
            content = handle.read(_MAX_KEY_FILE_BYTES + 1)
    except (OSError, ValueError, RuntimeError):  # RuntimeError: "~user" with no such user
        raise ConfigurationError(
            f"{name} is neither inline PEM (starting with '-----BEGIN') nor the path of a "
            "readable file (value not shown)"
        ) from None
    if len(content) > _MAX_KEY_FILE_BYTES:
        raise ConfigurationError(f"{name} names a file too large to be a PEM key")
    return content


def _check_fits(key: Any, algorithm: str, name: str) -> None:
    if algorithm in ("RS256", "PS256"):
        if not isinstance(key, rsa.RSAPublicKey):
            raise ConfigurationError(f"{name} must be an RSA key for {algorithm}")
        if key.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(f"{name} must be an RSA key of at least {_MIN_RSA_BITS} bits")
    elif algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ConfigurationError(f"{name} must be a P-256 EC key for ES256")
    elif algorithm == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            raise ConfigurationError(f"{name} must be an Ed25519 or Ed448 key for EdDSA")
    else:
        raise ConfigurationError(f"{name} is for asymmetric algorithms, not {algorithm}")


def _algorithm(name: str) -> Any:
    return get_default_algorithms()[name]


def _reveal(key: SecretStr | VerificationKey) -> VerificationKey:
    return key.get_secret_value() if isinstance(key, SecretStr) else key
