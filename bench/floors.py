"""The physical floor: what verifying a token costs with nothing but the standard library
(and ``cryptography`` for the signature), written as tightly as plain Python allows.

Each floor does exactly the work any verifier must do, no more, and in the order that
refuses a forged token soonest: split off the signature and check it over the raw bytes
before anything else is decoded; then decode the header and compare its ``alg`` with the
one configured (the floor has one key, bound to one algorithm, so checking it second is
safe), then decode the payload and check ``exp``, ``nbf``, ``iat`` and ``sub``. No strict
base64 checks, no ``typ``, no audience, no cache: a real verifier does more, so the floor
is a bound, not a competitor. A forged token costs the floor its signature check and
nothing else, which is what the library's refusal of one is measured against.

:func:`dpop_floor` is the same for a DPoP proof (RFC 9449 section 4.3): the proof's header
checked once per distinct header (its ``typ``, ``alg`` and P-256 ``jwk``, the key built and
its RFC 7638 thumbprint taken), then for every proof one ES256 verify, ``htm``, ``htu``
(compared as sent, not normalized), ``iat`` in the window, ``ath``, the token's
``cnf.jkt``, and its ``jti`` remembered in a dict against replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = ["Refused", "dpop_floor", "hs256_floor", "signature_floor"]

#: A signature check over (signing input, raw signature); raises or returns ``False``.
Check = Callable[[bytes, bytes], bool]


class Refused(Exception):
    """The floor refused the token."""


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _verify(token: str, algorithm: str, check: Check) -> dict[str, Any]:
    signing_input, _, signature_segment = token.rpartition(".")
    if not check(signing_input.encode(), _b64(signature_segment)):
        raise Refused
    header_segment, payload_segment = signing_input.split(".")
    header = json.loads(_b64(header_segment))
    if header.get("alg") != algorithm:
        raise Refused
    claims: dict[str, Any] = json.loads(_b64(payload_segment))
    now = time.time()
    if not claims["exp"] > now or claims.get("nbf", 0) > now or claims.get("iat", 0) > now:
        raise Refused
    if not isinstance(claims.get("sub"), str):
        raise Refused
    return claims


def hs256_floor(secret: bytes) -> Callable[[str], dict[str, Any]]:
    """The floor for HS256 with ``secret``: ``hmac.digest`` and ``compare_digest``."""

    def check(signing_input: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(hmac.digest(secret, signing_input, "sha256"), signature)

    return lambda token: _verify(token, "HS256", check)


def signature_floor(algorithm: str, public_key: Any) -> Callable[[str], dict[str, Any]]:
    """The floor for an asymmetric algorithm: the raw ``cryptography`` verify call (with the
    DER encoding ECDSA needs) in place of the HMAC."""
    check: Check
    if algorithm == "RS256":
        assert isinstance(public_key, rsa.RSAPublicKey)
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

        def check(data: bytes, signature: bytes) -> bool:
            try:
                public_key.verify(signature, data, pkcs1, sha256)
            except InvalidSignature:
                return False
            return True

    elif algorithm == "ES256":
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        ecdsa = ec.ECDSA(hashes.SHA256())

        def check(data: bytes, signature: bytes) -> bool:
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            try:
                public_key.verify(encode_dss_signature(r, s), data, ecdsa)
            except InvalidSignature:
                return False
            return True

    elif algorithm == "EdDSA":
        assert isinstance(public_key, ed25519.Ed25519PublicKey)

        def check(data: bytes, signature: bytes) -> bool:
            try:
                public_key.verify(signature, data)
            except InvalidSignature:
                return False
            return True

    else:
        raise ValueError(f"no floor for {algorithm}")
    return lambda token: _verify(token, algorithm, check)


#: What :func:`dpop_floor` returns: check ``proof`` for a ``method`` request to ``url`` with
#: ``access_token``, whose ``cnf.jkt`` is ``jkt``; raise :class:`Refused` or return ``None``.
ProofFloor = Callable[[str, str, str, str, str], None]


def dpop_floor(*, window_seconds: int) -> ProofFloor:
    """The floor for an ES256 DPoP proof, accepted up to ``window_seconds`` old (see the
    module). The key of a header seen before is reused: the same header bytes pass the same
    header checks, as a client sends one header with every proof."""
    ecdsa = ec.ECDSA(hashes.SHA256())
    keys: dict[str, tuple[ec.EllipticCurvePublicKey, str]] = {}
    seen: set[str] = set()

    def header_key(header_segment: str) -> tuple[ec.EllipticCurvePublicKey, str]:
        header = json.loads(_b64(header_segment))
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
            raise Refused
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise Refused
        if "d" in jwk:
            raise Refused
        x, y = (int.from_bytes(_b64(jwk[name]), "big") for name in ("x", "y"))
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        members = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]}
        canonical = json.dumps(members, separators=(",", ":")).encode()
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
        keys[header_segment] = known = (key, thumbprint.decode())
        return known

    def check(proof: str, method: str, url: str, access_token: str, jkt: str) -> None:
        signing_input, _, signature_segment = proof.rpartition(".")
        header_segment, _, payload_segment = signing_input.partition(".")
        key, thumbprint = keys.get(header_segment) or header_key(header_segment)
        signature = _b64(signature_segment)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            key.verify(encode_dss_signature(r, s), signing_input.encode(), ecdsa)
        except InvalidSignature:
            raise Refused from None
        claims = json.loads(_b64(payload_segment))
        if claims["htm"] != method or claims["htu"] != url:
            raise Refused
        now = time.time()
        if not now - window_seconds <= claims["iat"] <= now:
            raise Refused
        digest = hashlib.sha256(access_token.encode()).digest()
        if claims["ath"] != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
            raise Refused
        if jkt != thumbprint:
            raise Refused
        jti = claims["jti"]
        if jti in seen:
            raise Refused
        seen.add(jti)

    return check
