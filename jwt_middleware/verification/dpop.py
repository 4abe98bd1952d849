"""DPoP proofs (RFC 9449 section 4.3): is this proof one the client made for this request
and this access token, with the key it names? Pure: no I/O, no clock of its own.

:class:`ProofChecker` runs the checks of section 4.3, in this order, each refusing with a
:class:`ProofRefused` that names a fixed :class:`~jwt_middleware.refusals.Reason`:

* the proof's size, then its form: a compact JWS parsed by :mod:`jwt_middleware.jws`, as
  strictly as an access token (``dpop_proof``);
* ``typ`` ``dpop+jwt`` (``dpop_proof``), and ``alg`` one of ``JWT_DPOP_ALGORITHMS``, never
  ``none`` nor an HMAC (``dpop_algorithm``);
* ``jwk``: a public key whose ``kty`` and ``crv`` fit ``alg``, without a private member
  (:func:`~jwt_middleware.keys.jwk.key_from_public_jwk`; ``dpop_proof``);
* the signature, with that key, by ``cryptography`` (``dpop_signature``);
* the payload: a JSON object with ``jti`` (a string of at most :data:`MAX_JTI_CHARACTERS`)
  (``dpop_proof``);
* ``htm`` equal to the request's method and ``htu`` to its URL without query and fragment,
  both normalized as RFC 3986 section 6.2.2 and 6.2.3 say (:func:`normalized_url`): the
  request's URL is the configured ``JWT_DPOP_BASE_URL`` and the path it was sent to, never
  the ``Host`` header, which the client chooses (``dpop_request``);
* ``iat`` within ``JWT_DPOP_PROOF_SECONDS`` before now, give or take the leeway
  (``dpop_time``);
* ``ath`` equal to the base64url SHA-256 of the access token (``dpop_token_hash``).

What it returns (:class:`Proof`) is what the authenticator checks next: the thumbprint of
the key against the token's ``cnf.jkt``, the ``nonce``, and ``jti`` against replay
(:mod:`.dpop_replay`); the proof itself is never cached, only its key: the key a header
segment names is built once (:data:`_KEYS`, bounded), as a client sends the same header
with every proof.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from .. import jws
from ..algorithms import SignatureCheck, signature_check
from ..keys.jwk import jwk_thumbprint, key_from_public_jwk
from ..refusals import Reason

__all__ = [
    "DPOP_PROVED_SCOPE_KEY",
    "MAX_JTI_CHARACTERS",
    "MAX_PROOF_CHARACTERS",
    "PROOF_CHECKS",
    "PROOF_TYPE",
    "Proof",
    "ProofChecker",
    "ProofRefused",
    "normalized_url",
    "token_hash",
]

#: Where a request's scope says that its token came with a valid DPoP proof of the key it is
#: bound to: set by the DPoP authenticator when it accepts a request, and read by a
#: requirement that asks for DPoP (``Requirement(dpop=True)``, ``dpop=`` rules).
DPOP_PROVED_SCOPE_KEY: Final = "jwt_middleware.dpop_proved"
#: The ``typ`` of a DPoP proof (RFC 9449 section 4.2).
PROOF_TYPE: Final = "dpop+jwt"
#: A longer proof is refused unread: one with an RSA key of 4096 bits is about 1500.
MAX_PROOF_CHARACTERS: Final = 4096
#: A longer ``jti`` is refused: it is kept against replay (a client's is some 20 to 50).
MAX_JTI_CHARACTERS: Final = 256
#: The checks of :meth:`ProofChecker.check`, in the order it makes them: the names a
#: :class:`ProofRefused` gives as its ``check``.
PROOF_CHECKS: Final = (
    "size",
    "form",
    "typ",
    "alg",
    "jwk",
    "signature",
    "payload",
    "jti",
    "htm",
    "htu",
    "iat",
    "ath",
)
#: A longer ``htu`` is refused before it is parsed.
_MAX_URL_CHARACTERS: Final = 2048
#: URLs whose normal form a :class:`ProofChecker` remembers: a client's proofs name the few
#: URLs it calls, and each normalization costs about 1 us. Bounded, and emptied when full:
#: URLs that change with every request only churn it.
_MAX_REMEMBERED_URLS: Final = 64
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
#: Keys built from proofs' headers, by header segment; cleared when full (see the module).
_KEYS: dict[str, tuple[SignatureCheck, str]] = {}
_MAX_KEYS: Final = 1024


class ProofRefused(ValueError):
    """The proof fails a check: :attr:`reason` says why (for the log, never the wire), and
    :attr:`check` which of :data:`PROOF_CHECKS` it failed (``htm`` or ``htu`` for
    ``dpop_request``, say: what ``python -m jwt_middleware explain`` shows)."""

    def __init__(self, reason: Reason, check: str) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.check = check


class Proof(NamedTuple):
    """What a proof that passed the checks says, for the checks that come after."""

    #: The RFC 7638 thumbprint of the proof's key, for the token's ``cnf.jkt``.
    thumbprint: str
    jti: str
    #: When the proof stops being accepted (its ``iat`` plus the window and the leeway):
    #: how long its ``jti`` must be remembered.
    expires_at: float
    nonce: object


def token_hash(access_token: str) -> str:
    """``ath``: the base64url SHA-256 of the access token's ASCII, without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalized_url(url: str) -> str | None:
    """``url`` without its query and fragment, normalized as RFC 9449 section 4.3 asks
    (RFC 3986 sections 6.2.2 and 6.2.3): scheme and host in lower case, the default port
    dropped, an empty path made ``/``, percent-encodings of unreserved characters decoded
    and the others in upper case, dot segments removed. ``None`` for anything that is not
    an absolute http(s) URL with a host, or that names a user."""
    if len(url) > _MAX_URL_CHARACTERS or not url.isascii():
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:  # an IPv6 literal, which hostname gives without its brackets
        host = f"[{host}]"
    authority = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _PERCENT.sub(_normal_escape, parts.path) or "/"
    return f"{scheme}://{authority}{_without_dot_segments(path)}"


def _normal_escape(match: re.Match[str]) -> str:
    value = int(match.group(1), 16)
    return chr(value) if value in _UNRESERVED else "%" + match.group(1).upper()


def _without_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for an absolute path."""
    if "." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        elif segment == ".":
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)


class ProofChecker:
    """The checks of one configuration (see the module), built once.

    ``algorithms`` are the accepted ``alg`` values (``Ed25519`` among them where
    ``EdDSA`` is: see :attr:`~jwt_middleware.settings.dpop.DPoPSettings.dpop_accepted_algorithms`);
    ``base_url`` is ``JWT_DPOP_BASE_URL``; a proof is accepted from ``proof_seconds`` before
    now to now, each end widened by ``leeway_seconds``.
    """

    __slots__ = ("_algorithms", "_base", "_leeway", "_urls", "_window")

    def __init__(
        self,
        *,
        algorithms: Iterable[str],
        base_url: str,
        proof_seconds: int,
        leeway_seconds: int,
    ) -> None:
        self._algorithms = frozenset(algorithms)
        base = normalized_url(base_url)
        if base is None:
            raise ValueError("base_url must be an absolute http(s) URL")
        self._base = base.rstrip("/")
        self._window = proof_seconds
        self._leeway = leeway_seconds
        #: normalized_url of URLs seen lately ("" for one it refuses).
        self._urls: dict[str, str] = {}

    def request_url(self, raw_path: str) -> str | None:
        """The normalized URL a request to ``raw_path`` (as sent, without its query) was
        made to, under the configured base URL."""
        return normalized_url(self._base + raw_path)

    def _normal(self, url: str) -> str:
        """:func:`normalized_url` of ``url``, ``""`` for a URL it refuses; remembered."""
        urls = self._urls
        normal = urls.get(url)
        if normal is None:
            normal = normalized_url(url) or ""
            if len(urls) >= _MAX_REMEMBERED_URLS:
                urls.clear()
            urls[url] = normal
        return normal

    def check(
        self, proof: str, *, method: str, raw_path: str, access_token: str, now: float
    ) -> Proof:
        """The :class:`Proof` of ``proof``, made for a ``method`` request to ``raw_path``
        with ``access_token`` at ``now`` (wall-clock seconds); else :class:`ProofRefused`."""
        if len(proof) > MAX_PROOF_CHARACTERS:
            raise ProofRefused(Reason.DPOP_PROOF, "size")
        try:
            parsed = jws.parse(proof)
        except jws.MalformedTokenError:
            raise ProofRefused(Reason.DPOP_PROOF, "form") from None
        typ = parsed.typ
        if typ is None or (typ != PROOF_TYPE and typ.lower() != PROOF_TYPE):
            raise ProofRefused(Reason.DPOP_PROOF, "typ")
        if parsed.algorithm not in self._algorithms:
            raise ProofRefused(Reason.DPOP_ALGORITHM, "alg")
        check, thumbprint = self._key(parsed)
        if not check(parsed.signing_input, parsed.signature):
            raise ProofRefused(Reason.DPOP_SIGNATURE, "signature")
        try:
            claims = parsed.payload()
        except jws.MalformedTokenError:
            raise ProofRefused(Reason.DPOP_PROOF, "payload") from None
        if not isinstance(claims, dict):
            raise ProofRefused(Reason.DPOP_PROOF, "payload")
        jti = claims.get("jti")
        if type(jti) is not str or not 0 < len(jti) <= MAX_JTI_CHARACTERS:
            raise ProofRefused(Reason.DPOP_PROOF, "jti")
        htm, htu = claims.get("htm"), claims.get("htu")
        if type(htm) is not str or htm != method:
            raise ProofRefused(Reason.DPOP_REQUEST, "htm")
        expected = self._normal(self._base + raw_path)
        if type(htu) is not str or not expected or self._normal(htu) != expected:
            raise ProofRefused(Reason.DPOP_REQUEST, "htu")
        iat: Any = claims.get("iat")
        if type(iat) not in (int, float) or not math.isfinite(iat):
            raise ProofRefused(Reason.DPOP_TIME, "iat")
        if not now - self._window - self._leeway <= iat <= now + self._leeway:
            raise ProofRefused(Reason.DPOP_TIME, "iat")
        ath = claims.get("ath")
        if type(ath) is not str or not hmac.compare_digest(
            ath.encode("ascii", "replace"), token_hash(access_token).encode("ascii")
        ):
            raise ProofRefused(Reason.DPOP_TOKEN_HASH, "ath")
        return Proof(
            thumbprint=thumbprint,
            jti=jti,
            expires_at=float(iat) + self._window + self._leeway,
            nonce=claims.get("nonce"),
        )

    def _key(self, parsed: jws.Token) -> tuple[SignatureCheck, str]:
        """The signature check and thumbprint of the key the proof's header carries."""
        known = _KEYS.get(parsed.header_segment)
        if known is not None:
            return known
        try:
            header = jws.header_object(parsed.header_segment)
        except jws.MalformedTokenError:
            raise ProofRefused(Reason.DPOP_PROOF, "jwk") from None
        jwk = header.get("jwk")
        if type(jwk) is not dict:
            raise ProofRefused(Reason.DPOP_PROOF, "jwk")
        key = key_from_public_jwk(jwk, parsed.algorithm)
        if key is None:
            raise ProofRefused(Reason.DPOP_PROOF, "jwk")
        algorithm = "EdDSA" if parsed.algorithm == "Ed25519" else parsed.algorithm
        known = (signature_check(algorithm, key), jwk_thumbprint(jwk))
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[parsed.header_segment] = known
        return known
