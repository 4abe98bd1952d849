"""Signature algorithms, defined once; PEM key loading; which key fits which algorithm.

A leaf module: it imports nothing of the package but :mod:`.errors`, so settings, key
sources and the verifier all take their algorithm names and key checks from here.

Every error names the setting it concerns (``JWT_PRIVATE_KEY``) and never quotes the value
it was given: a mangled private key must not end up in a log through the error that
refuses it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal, get_args

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from .errors import ConfigurationError

__all__ = [
    "ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "MIN_SECRET_LENGTH",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "check_key_fits",
    "key_fits",
    "load_private_key",
    "load_public_key",
    "secret_hint",
]

#: Every algorithm a token may be signed or verified with (RFC 7518, RFC 8037). ``none``
#: is not one of them, and never will be.
Algorithm = Literal[
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
ALGORITHMS: Final[tuple[str, ...]] = get_args(Algorithm)
HMAC_ALGORITHMS: Final = tuple(name for name in ALGORITHMS if name.startswith("HS"))
ASYMMETRIC_ALGORITHMS: Final = tuple(name for name in ALGORITHMS if name not in HMAC_ALGORITHMS)

#: A public key object of one of the kinds the asymmetric algorithms use.
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

#: Shortest secret accepted for each HMAC algorithm, in characters: never below 32, and
#: never below the hash's output size (RFC 7518 section 3.2).
MIN_SECRET_LENGTH: Final = {"HS256": 32, "HS384": 48, "HS512": 64}

_MIN_RSA_BITS: Final = 2048
#: The curve each ECDSA algorithm is defined on (RFC 7518 section 3.4).
_CURVES: Final = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
#: Longer than any real file path; a longer value is a key body without its PEM armour.
_MAX_PATH_CHARACTERS: Final = 1024
#: Far larger than any PEM key; a larger file is the wrong file.
_MAX_KEY_FILE_BYTES: Final = 1 << 16


def secret_hint(algorithm: str = "HS256") -> str:
    """The command that prints a strong enough secret for ``algorithm``."""
    nbytes = MIN_SECRET_LENGTH.get(algorithm, 32)
    return f'python -c "import secrets; print(secrets.token_urlsafe({nbytes}))"'


def key_fits(key: object, algorithm: str) -> bool:
    """Whether the public ``key`` may verify ``algorithm`` (kind, curve and size)."""
    if algorithm.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS
    if algorithm in _CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _CURVES[algorithm]
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


def check_key_fits(key: object, algorithm: str, name: str) -> None:
    """Raise :class:`ConfigurationError` naming ``name`` unless ``key`` fits ``algorithm``."""
    if key_fits(key, algorithm):
        return
    if algorithm.startswith(("RS", "PS")):
        if isinstance(key, rsa.RSAPublicKey):
            raise ConfigurationError(f"{name} must be an RSA key of at least {_MIN_RSA_BITS} bits")
        raise ConfigurationError(f"{name} must be an RSA key for {algorithm}")
    if algorithm in _CURVES:
        curve = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[algorithm]
        raise ConfigurationError(f"{name} must be a {curve} EC key for {algorithm}")
    if algorithm == "EdDSA":
        raise ConfigurationError(f"{name} must be an Ed25519 or Ed448 key for EdDSA")
    raise ConfigurationError(f"{name} is for asymmetric algorithms, not {algorithm}")


def load_private_key(value: str, algorithm: str, name: str = "JWT_PRIVATE_KEY") -> Any:
    """Load a PEM private key (inline, or a file path) and check it fits ``algorithm``."""
    return _load(value, algorithm, name, private=True)


def load_public_key(value: str, algorithm: str, name: str = "JWT_PUBLIC_KEY") -> Any:
    """Load a PEM public key (inline, or a file path) and check it fits ``algorithm``."""
    return _load(value, algorithm, name, private=False)


@lru_cache(maxsize=32)
def _load(value: str, algorithm: str, name: str, *, private: bool) -> Any:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string: inline PEM or a file path")
    pem = _pem_bytes(value, name)
    kind = "an unencrypted PEM private key" if private else "a PEM public key"
    try:
        key: Any = load_pem_private_key(pem, password=None) if private else load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(f"{name} is not {kind} (value not shown)") from None
    check_key_fits(key.public_key() if private else key, algorithm, name)
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
