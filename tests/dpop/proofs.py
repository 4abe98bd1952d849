"""DPoP proofs and bound tokens made by the tests' own code, with PyJWT and
``cryptography``: the proofs a real client would never send (a private key in ``jwk``,
``alg: none``, a wrong ``typ``), and the RFC 7638 thumbprint written out from the RFC
rather than taken from the library, so a bug there cannot hide a bug in verification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.helpers import SECRET, mint_token

#: The base URL the DPoP tests configure, and the URL of their protected route.
BASE_URL: Final = "https://api.example.com"
PRIVATE_URL: Final = BASE_URL + "/private"
ISSUER: Final = "https://id.example"
AUDIENCE: Final = "api"
#: Settings for DPoP over HS256-minted tokens.
DPOP_SETTINGS: Final[dict[str, Any]] = {
    "secret": SECRET,
    "algorithm": "HS256",
    "issuer": ISSUER,
    "audience": AUDIENCE,
    "dpop_enabled": True,
    "dpop_base_url": BASE_URL,
}
_REQUIRED_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 section 3: the required members, sorted, no whitespace, SHA-256."""
    members = _REQUIRED_MEMBERS.get(jwk["kty"], ("crv", "kty", "x"))
    text = json.dumps({name: jwk[name] for name in members}, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(text.encode()).digest())


def token_hash(token: str) -> str:
    """``ath``: RFC 9449 section 4.2."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def bound_token(jkt: str | None, **claims: Any) -> str:
    """An access token the DPoP settings accept, bound to ``jkt`` (none: unbound)."""
    if jkt is not None:
        claims.setdefault("cnf", {"jkt": jkt})
    return mint_token(iss=ISSUER, aud=AUDIENCE, **claims)


class PyJWTKey:
    """A P-256 key of the tests' own, signing proofs with PyJWT."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        self.private_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private))
        self.jkt = thumbprint(self.jwk)

    def proof(
        self,
        htm: str = "GET",
        htu: str = PRIVATE_URL,
        *,
        token: str | None = None,
        header: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        key: Any = None,
        algorithm: str = "ES256",
        **claims: Any,
    ) -> str:
        """A proof as RFC 9449 section 4.2 describes it, with ``claims`` and ``header``
        changed (``drop`` removes claims); signed by ``key`` (this one's by default)."""
        payload: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": htm,
            "htu": htu,
            "iat": int(time.time()),
        }
        if token is not None:
            payload["ath"] = token_hash(token)
        payload.update(claims)
        for name in drop:
            payload.pop(name, None)
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return jwt.encode(
            payload, key if key is not None else self.private, algorithm=algorithm, headers=headers
        )


def dpop_headers(token: str, *proofs: str, scheme: str = "DPoP") -> list[tuple[bytes, bytes]]:
    """A request's headers: ``Authorization: <scheme> <token>`` and one ``DPoP`` header per
    proof, as a server hands them to the app."""
    headers = [(b"host", b"api.example.com"), (b"authorization", f"{scheme} {token}".encode())]
    headers += [(b"dpop", proof.encode()) for proof in proofs]
    return headers
