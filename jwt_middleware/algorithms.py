"""Signature algorithms, defined once; PEM key loading; which key fits which algorithm.

A leaf module: it imports nothing of the package but :mod:`.errors`, so settings, key
sources and the verifier all take their algorithm names and key checks from here.

Every error names the setting it concerns (``JWT_PRIVATE_KEY``) and never quotes the value
it was given: a mangled private key must not end up in a log through the error that
refuses it.
"""

from __future__ import annotations

import hmac
import itertools
import math
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal, get_args

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
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
    "SignatureCheck",
    "algorithm_for_key",
    "check_key_fits",
    "key_fits",
    "load_private_key",
    "load_public_key",
    "read_key",
    "secret_hint",
    "signature_check",
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


#: ``check(signing_input, signature) -> bool`` for one key and one algorithm.
SignatureCheck = Callable[[bytes, bytes], bool]

_HASHES: Final[dict[str, hashes.HashAlgorithm]] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_HMAC_DIGESTS: Final = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}


def signature_check(algorithm: str, key: Any) -> SignatureCheck:
    """The signature check of ``algorithm`` with ``key``, built once per key.

    Signatures are verified by the standard library's ``hmac`` and by ``cryptography``,
    never by code of ours: this only picks the padding, hash and encoding RFC 7518 names.
    ``key`` is the HMAC secret (bytes) or a public key that :func:`key_fits` the algorithm;
    anything else is a programming error and raises ``TypeError`` here, not at a request.
    """
    if algorithm in _HMAC_DIGESTS:
        if not isinstance(key, bytes):
            raise TypeError("an HMAC key is bytes")
        digest_name = _HMAC_DIGESTS[algorithm]

        def check_hmac(signing_input: bytes, signature: bytes) -> bool:
            return hmac.compare_digest(hmac.digest(key, signing_input, digest_name), signature)

        return check_hmac
    if not key_fits(key, algorithm):
        raise TypeError(f"this key does not fit {algorithm}")
    if algorithm == "EdDSA":
        return _checked(lambda signing_input, signature: key.verify(signature, signing_input))
    digest = _HASHES[algorithm[2:]]
    if algorithm.startswith("RS"):
        pkcs1 = padding.PKCS1v15()
        return _checked(lambda data, signature: key.verify(signature, data, pkcs1, digest))
    if algorithm.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return _checked(lambda data, signature: key.verify(signature, data, pss, digest))
    # ECDSA: JWS carries r and s as two fixed-size big-endian integers (RFC 7518 3.4);
    # cryptography wants them DER-encoded.
    size = (key.curve.key_size + 7) // 8
    ecdsa = ec.ECDSA(digest)

    def check_ecdsa(signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            key.verify(encode_dss_signature(r, s), signing_input, ecdsa)
        except InvalidSignature:
            return False
        return True

    return check_ecdsa


def _checked(verify: Callable[[bytes, bytes], object]) -> SignatureCheck:
    def check(signing_input: bytes, signature: bytes) -> bool:
        try:
            verify(signing_input, signature)
        except InvalidSignature:
            return False
        return True

    return check


def secret_hint(algorithm: str = "HS256") -> str:
    """The command that prints a strong enough secret for ``algorithm``."""
    nbytes = MIN_SECRET_LENGTH.get(algorithm, 32)
    return f'python -c "import secrets; print(secrets.token_urlsafe({nbytes}))"'


#: Text that only a template, a shell or a person filling in a form would leave in a value.
_SHELL_SUBSTITUTIONS: Final = ("$(", "${", "`")
_TEMPLATE_MARKS: Final = (("<", ">"), ("{{", "}}"), ("[", "]"))
_PLACEHOLDER_WORDS: Final = (
    "changeme",
    "change-me",
    "change_me",
    "change-this",
    "changethis",
    "replaceme",
    "replace-me",
    "replace_me",
    "replace-with",
    "placeholder",
    "your-secret",
    "your_secret",
    "yoursecret",
    "insert-",
    "put-your",
)
_PLACEHOLDER_STARTS: Final = ("your-", "your_", "your ", "my-secret", "my_secret", "xxxx")
#: Fewer distinct characters than this is a few characters repeated, whatever the length
#: (a random 32-digit secret has fewer with a chance of about 1 in 10^7).
_MIN_DISTINCT: Final = 6
#: Estimated entropy (Shannon, from the value's own character counts) below this many bits
#: is too predictable for a key (a random 32-digit number estimates at 80 bits or more).
_MIN_ESTIMATED_BITS: Final = 64


def secret_weakness(value: str) -> str | None:
    """Why ``value`` is evidently not a random secret, or ``None``.

    The length check alone passes a ``.env`` line pasted from a shell example
    (``$(python -c ...)``: a ``.env`` file is not run by a shell, so the command's text
    becomes the secret, and it is public), a placeholder from a template, or a few
    characters repeated. These are refused; what a generator prints never is (hex,
    base64 and URL-safe tokens, digits). It cannot prove a secret random: it catches
    the mistakes that are common and cheap to exploit.
    """
    lowered = value.lower()
    if any(mark in value for mark in _SHELL_SUBSTITUTIONS):
        return "an unexpanded shell command ($(...), ${...} or `...`; .env is not run by a shell)"
    if any(value.startswith(a) and value.endswith(b) for a, b in _TEMPLATE_MARKS):
        return "a template placeholder"
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or lowered.startswith(
        _PLACEHOLDER_STARTS
    ):
        return "a placeholder"
    if len(set(value)) < _MIN_DISTINCT or _is_repetition(value):
        return "a few characters repeated"
    if _estimated_bits(value) < _MIN_ESTIMATED_BITS or _is_sequence(value):
        return "too predictable (a sequence, or low entropy for its length)"
    return None


def _is_repetition(value: str) -> bool:
    """Whether ``value`` is one shorter string written out again and again."""
    size = len(value)
    return any(
        size % unit == 0 and value == value[:unit] * (size // unit)
        for unit in range(1, size // 2 + 1)
    )


def _is_sequence(value: str) -> bool:
    """Whether three in four neighbouring characters step by one (``abcdef...``)."""
    steps = sum(1 for a, b in itertools.pairwise(value) if abs(ord(a) - ord(b)) == 1)
    return steps * 4 >= len(value) * 3


def _estimated_bits(value: str) -> float:
    size = len(value)
    counts = Counter(value).values()
    return -sum(n * math.log2(n / size) for n in counts)


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
    key = read_key(value, name, private=True)
    check_key_fits(key.public_key(), algorithm, name)
    return key


def load_public_key(value: str, algorithm: str, name: str = "JWT_PUBLIC_KEY") -> Any:
    """Load a PEM public key (inline, or a file path) and check it fits ``algorithm``."""
    key = read_key(value, name, private=False)
    check_key_fits(key, algorithm, name)
    return key


def algorithm_for_key(key: Any) -> str:
    """The usual algorithm for a (public or private) key when none is configured."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        by_curve = {curve: alg for alg, curve in _CURVES.items()}
        return by_curve.get(public.curve.name, "ES256")
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    return "RS256"


@lru_cache(maxsize=32)
def read_key(value: str, name: str, *, private: bool) -> Any:
    """Read a PEM key (inline, or a file path) without checking what it may be used for."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string: inline PEM or a file path")
    pem = _pem_bytes(value, name)
    kind = "an unencrypted PEM private key" if private else "a PEM public key"
    try:
        return load_pem_private_key(pem, password=None) if private else load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(f"{name} is not {kind} (value not shown)") from None


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
