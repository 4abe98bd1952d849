"""JSON Web Keys (RFC 7517) and thumbprints (RFC 7638): parsing and publishing, no I/O.

:func:`parse_jwk_set` turns a fetched JWK Set document into :class:`~.types.BoundKey`
objects, and says why each member it skipped was skipped; :mod:`.jwks` does the fetching
and the logging. What is trusted, and why:

* Each key is bound to one algorithm of the pinned list: its own ``alg`` if it has one,
  else every pinned algorithm it fits (:func:`~.algorithms.key_fits`: kind, curve, size).
* Only asymmetric public keys are used: ``oct`` (symmetric) keys are skipped (a shared
  secret must never come from a URL, and a public key must never become an HMAC secret),
  and a JWK carrying private material (``d``) is skipped rather than reduced to its public
  part, since a published private key means anyone can sign with it.
* Keys with ``use`` other than ``"sig"``, ``key_ops`` without ``"verify"``, or an ``alg``
  that is not pinned are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import get_default_algorithms

from ..algorithms import HMAC_ALGORITHMS, PublicKey, key_fits
from ..types import BoundKey

__all__ = [
    "MAX_KEYS_WITHOUT_KID",
    "JWKSetError",
    "KeySet",
    "SkippedKey",
    "jwk_thumbprint",
    "key_from_public_jwk",
    "key_thumbprint",
    "parse_jwk_set",
    "public_jwk",
]

#: A token without ``kid`` is tried against at most this many keys (all bound to its ``alg``).
MAX_KEYS_WITHOUT_KID: Final = 4

#: The members of each key type that its RFC 7638 thumbprint covers.
_THUMBPRINT_MEMBERS: Final = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
#: Members that only a private (or symmetric) JWK has (RFC 7518 section 6): ``d`` of EC
#: and OKP keys, RSA's ``d``, primes and CRT values, ``oth``, and the ``k`` of ``oct`` keys.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: The key type and curve a JWK must have for each asymmetric algorithm; ``None``: no curve.
_JWK_FITS: Final = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), ("RSA", None)),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    # RFC 9864's fully-specified name: Ed25519 keys only.
    "Ed25519": ("OKP", frozenset({"Ed25519"})),
}
#: The longest member value read from a client's JWK: a 8192-bit RSA modulus is 1366.
_MAX_MEMBER_CHARACTERS: Final = 1400


class JWKSetError(ValueError):
    """The document is not a JWK Set with a usable key; the message is safe to log."""


#: (index in ``keys``, log level, reason): why a member of a JWK Set was not used.
SkippedKey = tuple[int, int, str]


class KeySet:
    """The usable keys of one JWK Set, indexed by (kid, alg) and by alg for tokens without kid."""

    __slots__ = ("_by_alg", "_by_kid", "kids", "size")

    def __init__(self, bound: Sequence[BoundKey] = ()) -> None:
        by_kid: dict[tuple[str, str], list[BoundKey]] = {}
        by_alg: dict[str, list[BoundKey]] = {}
        for key in bound:
            if key.kid is not None:
                by_kid.setdefault((key.kid, key.algorithm), []).append(key)
            by_alg.setdefault(key.algorithm, []).append(key)
        self._by_kid = {name: tuple(keys) for name, keys in by_kid.items()}
        self._by_alg = {alg: tuple(keys) for alg, keys in by_alg.items()}
        self.kids: frozenset[str] = frozenset(key.kid for key in bound if key.kid is not None)
        self.size = len(bound)

    def select(self, kid: str | None, alg: str) -> tuple[BoundKey, ...]:
        if kid is not None:
            return self._by_kid.get((kid, alg), ())
        keys = self._by_alg.get(alg, ())
        return keys if len(keys) <= MAX_KEYS_WITHOUT_KID else ()


def parse_jwk_set(
    body: bytes, algorithms: Sequence[str]
) -> tuple[list[BoundKey], list[SkippedKey]]:
    """The usable keys of a JWK Set document, and what was skipped and why.

    Raises :class:`JWKSetError` when the document is not a JWK Set or has no usable key.
    Keys meant for something else (encryption, another algorithm) are normal in a shared
    set and reported at DEBUG; keys that should never have been published at WARNING.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JWKSetError("response is not JSON") from None
    members = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise JWKSetError("response is not a JWK Set (no 'keys' list)")
    bound: list[BoundKey] = []
    skipped: list[SkippedKey] = []
    for index, member in enumerate(members):
        if not isinstance(member, dict):
            skipped.append((index, logging.WARNING, "not a JSON object"))
            continue
        unusable = _unusable(member, algorithms)
        if unusable is not None:
            skipped.append((index, *unusable))
            continue
        keys = _bind(member, algorithms)
        if not keys:
            reason = f"not a usable public key for {'/'.join(algorithms)}"
            skipped.append((index, logging.WARNING, reason))
            continue
        bound.extend(keys)
    if not bound:
        raise JWKSetError(f"no usable key for {'/'.join(algorithms)} in the JWK Set")
    return bound, skipped


def public_jwk(key: PublicKey, *, algorithm: str, kid: str) -> dict[str, Any]:
    """The JWK (RFC 7517) of a public key, to publish in a JWK Set."""
    jwk: dict[str, Any] = get_default_algorithms()[algorithm].to_jwk(key, as_dict=True)
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    return jwk


def key_thumbprint(key: PublicKey) -> str:
    """The RFC 7638 JWK thumbprint of a public key: a stable default ``kid``."""
    algorithm = {"RSA": "RS256", "EC": "ES256"}.get(_kty(key), "EdDSA")
    jwk = get_default_algorithms()[algorithm].to_jwk(key, as_dict=True)
    members = _THUMBPRINT_MEMBERS.get(jwk["kty"], ("crv", "kty", "x"))
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def key_from_public_jwk(member: dict[str, Any], algorithm: str) -> PublicKey | None:
    """The public key of a JWK a client sent (a DPoP proof's ``jwk`` header), for
    ``algorithm``, or ``None`` when it must not be used: not an object of string members,
    any private member (a client that sends its private key has leaked it), a ``kty`` or
    ``crv`` that does not fit ``algorithm``, or a key :func:`~.algorithms.key_fits` refuses
    (an RSA key under 2048 bits, a point not on its curve). Built by PyJWT's JWK code and
    ``cryptography``; ``Ed25519`` (RFC 9864) is read as ``EdDSA`` with its one curve."""
    fit = _JWK_FITS.get(algorithm)
    if fit is None or not member.keys().isdisjoint(_PRIVATE_MEMBERS):
        return None
    kty, curves = fit
    if member.get("kty") != kty or (curves is not None and member.get("crv") not in curves):
        return None
    members = _THUMBPRINT_MEMBERS.get(kty, ("crv", "kty", "x"))
    for name in members:
        value = member.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_MEMBER_CHARACTERS:
            return None
    name = "EdDSA" if algorithm == "Ed25519" else algorithm
    try:
        key = get_default_algorithms()[name].from_jwk({m: member[m] for m in members})
    except Exception:
        return None
    return key if key_fits(key, name) else None


def jwk_thumbprint(member: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK, from its required members as they are
    written (a DPoP proof's key, to compare with a token's ``cnf.jkt``): SHA-256 of their
    JSON in lexicographic order without whitespace, base64url without padding. Asked only
    of a JWK :func:`key_from_public_jwk` accepted, whose members are strings."""
    members = _THUMBPRINT_MEMBERS.get(member["kty"], ("crv", "kty", "x"))
    canonical = json.dumps(
        {m: member[m] for m in members}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _kty(key: PublicKey) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    return "OKP"


def _unusable(member: dict[str, Any], algorithms: Sequence[str]) -> tuple[int, str] | None:
    """Why a JWK may not be used, with the log level that deserves, or ``None``."""
    if member.get("kty") == "oct":
        return logging.WARNING, "symmetric ('oct') key; a JWKS may only supply public keys"
    if "d" in member:
        return logging.WARNING, "it contains private key material, so anyone may sign with it"
    kid = member.get("kid")
    if kid is not None and not isinstance(kid, str):
        return logging.WARNING, "its 'kid' is not a string"
    use = member.get("use")
    if use is not None and use != "sig":
        return logging.DEBUG, "not a signature key ('use')"
    key_ops = member.get("key_ops")
    if key_ops is not None and not (isinstance(key_ops, list) and "verify" in key_ops):
        return logging.DEBUG, "not a verification key ('key_ops')"
    alg = member.get("alg")
    if alg is not None and not (isinstance(alg, str) and alg in algorithms):
        return logging.DEBUG, "its 'alg' is not one of the pinned algorithms"
    return None


def _bind(member: dict[str, Any], algorithms: Sequence[str]) -> list[BoundKey]:
    """One bound key per algorithm the member may verify: its own ``alg``, else each pinned
    asymmetric algorithm it fits (kind, curve and size all checked here, so the verifier
    never meets a key it would refuse)."""
    own = member.get("alg")
    kid: str | None = member.get("kid")
    bound: list[BoundKey] = []
    for name in (own,) if isinstance(own, str) else algorithms:
        if name in HMAC_ALGORITHMS:
            continue
        try:
            key = get_default_algorithms()[name].from_jwk(member)
        except Exception:  # noqa: S112 - a malformed member may make the parser raise anything
            continue
        if key_fits(key, name):
            bound.append(BoundKey(name, key, kid))
    return bound
