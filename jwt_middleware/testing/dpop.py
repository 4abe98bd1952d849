"""A DPoP client for tests (RFC 9449): a key pair that makes proofs, and an ``httpx.Auth``
that sends a DPoP-bound token with a fresh proof on every request.

A DPoP proof is made for one request (its method and URL), one access token and one
moment, and is accepted once: a test cannot set a fixed ``DPoP`` header on its client as it
sets ``Authorization`` for a bearer token. :class:`DPoPAuth` makes the proof when the
request is sent, from the request itself, and when the server answers ``use_dpop_nonce``
it retries once with the nonce it was given, as DPoP client libraries do. It works for
Starlette's ``TestClient`` and ``httpx.Client``/``httpx.AsyncClient`` alike (the auth flow
reads no body). :meth:`.issuer.FakeIssuer.mint` (and ``mint_opaque``, for an opaque token)
binds a token to a :class:`DPoPKey`.

The proofs are signed with PyJWT and the thumbprint is computed here, not by the library:
the kit must not agree with the code under test by construction.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Generator
from typing import Any, Final, Literal

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

__all__ = ["DPoPAuth", "DPoPKey"]

#: The algorithms a test key may use: the ones every DPoP server accepts first.
DPoPAlgorithm = Literal["ES256", "EdDSA"]
#: RFC 7638 section 3.2: the required members of a public key, by its ``kty``.
_THUMBPRINT_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DPoPKey:
    """A client's DPoP key pair: its public JWK, the RFC 7638 thumbprint a token is bound
    to (``cnf.jkt``), and the proofs it signs."""

    def __init__(self, algorithm: DPoPAlgorithm = "ES256") -> None:
        self.algorithm = algorithm
        self._private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        jwk: dict[str, Any]
        if algorithm == "ES256":
            self._private = ec.generate_private_key(ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        else:
            self._private = ed25519.Ed25519PrivateKey.generate()
            jwk = OKPAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        #: The public key, as a proof's header carries it.
        self.jwk: dict[str, Any] = jwk
        members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
        #: The RFC 7638 thumbprint: what a token bound to this key has as ``cnf.jkt``.
        self.thumbprint = _b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        **claims: Any,
    ) -> str:
        """A proof for one ``method`` on ``url`` (without its query and fragment), now,
        with a new ``jti``; ``ath`` when ``access_token`` is given, ``nonce`` when the
        server asked for one. ``claims`` are added last (``iat=...`` for an old proof)."""
        payload: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if access_token is not None:
            payload["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims)
        return jwt.encode(
            payload,
            self._private,
            algorithm=self.algorithm,
            headers={"typ": "dpop+jwt", "jwk": self.jwk},
        )


class _DPoPFlow:
    """What :class:`DPoPAuth` does, for any client library with httpx's ``Auth`` flow."""

    def __init__(self, token: str, key: DPoPKey) -> None:
        self.token = token
        self.key = key
        #: The last nonce the server offered (``DPoP-Nonce``), sent in the next proofs.
        self.nonce: str | None = None

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        self._prove(request)
        response = yield request
        offered = response.headers.get("DPoP-Nonce")
        if offered is None:
            return
        self.nonce = offered
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and 'error="use_dpop_nonce"' in challenge:
            self._prove(request)
            yield request

    def _prove(self, request: Any) -> None:
        url = str(request.url.copy_with(query=None, fragment=None))
        request.headers["Authorization"] = f"DPoP {self.token}"
        request.headers["DPoP"] = self.key.proof(
            request.method, url, access_token=self.token, nonce=self.nonce
        )


class DPoPAuth(_DPoPFlow, httpx.Auth):
    """Send ``token`` as ``Authorization: DPoP`` with a proof by ``key`` made for each
    request; on ``401 use_dpop_nonce`` retry once with the server's ``DPoP-Nonce``, and use
    the newest nonce the server offered from then on.

    An ``httpx.Auth``; Starlette's ``TestClient`` runs on ``httpx2`` and needs that
    library's kind: :meth:`for_client` gives the one a client takes."""

    @staticmethod
    def for_client(client: object, token: str, key: DPoPKey) -> Any:
        """The auth for ``client``: a :class:`DPoPAuth` for an httpx client, the same flow
        as an ``httpx2.Auth`` for an httpx2 one (Starlette's ``TestClient``); either has
        :attr:`nonce`, :attr:`token` and :attr:`key`. Typed ``Any``: it is an ``Auth`` of
        whichever of the two libraries the client is made with."""
        if isinstance(client, httpx.Client | httpx.AsyncClient):
            return DPoPAuth(token, key)
        import httpx2  # only a client of it gets here, so it is installed

        class DPoPAuth2(_DPoPFlow, httpx2.Auth):
            pass

        return DPoPAuth2(token, key)
