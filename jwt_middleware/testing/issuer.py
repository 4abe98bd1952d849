"""``FakeIssuer``: an OpenID provider on loopback that mints the tokens a test sends.

It serves what the middleware reads from a real provider, over real HTTP on 127.0.0.1 (a
stdlib ``ThreadingHTTPServer`` in a background thread), so the middleware's own discovery
and JWKS fetching are what a test exercises:

* ``/.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server``:
  the metadata, whose ``jwks_uri`` names
* ``/jwks``: the public keys, one each for RS256, ES256 and EdDSA, each with its ``kid``;
* ``/introspect``: RFC 7662 introspection of the tokens it minted, opaque ones
  (:meth:`FakeIssuer.mint_opaque`) and JWTs alike, for the one client it knows
  (``client_secret_basic`` or ``client_secret_post``).

Tokens are signed with PyJWT. The HTTP side is :mod:`.server`'s, the introspection
endpoint :mod:`.introspection`'s. The controls are what a test of an app needs and a real
provider will not do on demand: rotate its keys, revoke a token, go down (503, no answer,
or a closed connection) and answer slowly; it counts the requests it was sent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Protocol, Self, TypeVar

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ..settings import JWTSettings
from .dpop import DPoPAuth, DPoPKey
from .introspection import IntrospectionEndpoint
from .server import Answer, QuietServer, error, handler_for

__all__ = ["FakeIssuer", "OutageKind", "RequestCounts"]

#: The algorithms the provider has a key for; RS256, the usual providers' default, first.
SigningAlgorithm = Literal["RS256", "ES256", "EdDSA"]
ALGORITHMS: Final[tuple[SigningAlgorithm, ...]] = ("RS256", "ES256", "EdDSA")

#: How the provider is down: it answers 503, it takes the request and never answers (the
#: client's timeout ends it), or it closes the connection without an answer.
OutageKind = Literal["503", "no-answer", "closed"]

_DISCOVERY_PATHS: Final = frozenset(
    {"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}
)
_JWKS_PATH: Final = "/jwks"
_INTROSPECTION_PATH: Final = "/introspect"
#: The client that may introspect, unless told otherwise (its secret is made per provider).
_INTROSPECTION_CLIENT_ID: Final = "resource-server"
#: The least time between two fetches of the key set in :meth:`FakeIssuer.settings`, instead
#: of 5 s: a test that rotates the keys sees the new ones without waiting.
_TEST_MIN_REFETCH_SECONDS: Final = 0.01

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class RequestCounts(NamedTuple):
    """The requests the provider was sent since it started or was last reset, each counted
    when it arrives (answered or not, authenticated or not)."""

    discovery: int
    jwks: int
    introspection: int


class _HasHeaders(Protocol):
    @property
    def headers(self) -> MutableMapping[str, str]: ...


_Client = TypeVar("_Client", bound=_HasHeaders)


class _HasAuth(Protocol):
    auth: Any


_AuthClient = TypeVar("_AuthClient", bound=_HasAuth)


class _SigningKey(NamedTuple):
    kid: str
    key: _PrivateKey


def _bound(
    claims: Mapping[str, Any], dpop_key: DPoPKey | None, certificate: x509.Certificate | None
) -> dict[str, Any]:
    """``claims``, with the ``cnf`` that binds a token to ``dpop_key`` (``jkt``) and to
    ``certificate`` (``x5t#S256``: base64url of the SHA-256 of its DER bytes, RFC 8705
    section 3.1) when given; a ``cnf`` among ``claims`` replaces it."""
    confirmation: dict[str, str] = {}
    if dpop_key is not None:
        confirmation["jkt"] = dpop_key.thumbprint
    if certificate is not None:
        der = certificate.public_bytes(Encoding.DER)
        digest = hashlib.sha256(der).digest()
        confirmation["x5t#S256"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {"cnf": confirmation, **claims} if confirmation else dict(claims)


def _new_key(algorithm: SigningAlgorithm, generation: int) -> _SigningKey:
    key: _PrivateKey
    if algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    return _SigningKey(f"{algorithm.lower()}-{generation}", key)


def _public_jwk(algorithm: SigningAlgorithm, signing: _SigningKey) -> dict[str, Any]:
    public = signing.key.public_key()
    jwk: dict[str, Any]
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": signing.kid, "alg": algorithm, "use": "sig"}


class _GivenValuesOnly(JWTSettings):
    """JWT settings from the values given alone: no ``JWT_*`` variable, no ``.env`` file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class FakeIssuer:
    """A fake OpenID provider on ``127.0.0.1``, serving from the moment it is made until
    :meth:`close` (or the end of its ``with`` block).

    ``audience`` is the ``aud`` of minted tokens and of :meth:`settings` unless told
    otherwise; ``introspection_client_id`` is the one client its introspection endpoint
    answers, whose secret it makes (``introspection_client_secret``). Safe to use from the
    test's thread while the server answers in its own.
    """

    def __init__(
        self, *, audience: str = "api", introspection_client_id: str = _INTROSPECTION_CLIENT_ID
    ) -> None:
        self.audience = audience
        #: The client its introspection endpoint answers, and that client's secret.
        self._introspection = IntrospectionEndpoint(introspection_client_id)
        self.introspection_client_id = introspection_client_id
        self.introspection_client_secret = self._introspection.client_secret
        self._lock = threading.Lock()
        self._generation = 1
        self._keys = {algorithm: _new_key(algorithm, 1) for algorithm in ALGORITHMS}
        self._published: list[dict[str, Any]] = self._jwks_of(self._keys)
        self._outage: OutageKind | None = None
        self._outage_over = threading.Event()
        self._outage_over.set()
        self._delay_seconds = 0.0
        self._discovery_requests = 0
        self._jwks_requests = 0
        self._introspection_requests = 0
        self._server = QuietServer(("127.0.0.1", 0), handler_for(self))
        port = self._server.server_address[1]
        #: The issuer identifier (``iss``), and the base of every URL the provider serves.
        self.url = f"http://127.0.0.1:{port}"
        self.jwks_url = self.url + _JWKS_PATH
        self.introspection_url = self.url + _INTROSPECTION_PATH
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="FakeIssuer", daemon=True
        )
        self._thread.start()

    # What a test asks of it

    def mint(
        self,
        sub: str,
        *,
        scopes: Sequence[str] = (),
        audience: str | Sequence[str] | None = None,
        expires_in: float = 300,
        acr: str | None = None,
        algorithm: SigningAlgorithm = "RS256",
        dpop_key: DPoPKey | None = None,
        certificate: x509.Certificate | None = None,
        **claims: Any,
    ) -> str:
        """A token for ``sub``, signed with the provider's current key for ``algorithm``.

        ``audience`` is ``aud`` (the provider's audience when left out; an empty sequence
        leaves ``aud`` out); ``scopes`` become the space-separated ``scope`` claim;
        ``expires_in`` seconds from now is ``exp`` (negative: already expired); ``claims``
        are added last, so they may replace any of the others (``iss=...``), and one given
        as ``None`` is left out (``iss=None``: a token without ``iss``).

        With ``dpop_key`` the token is bound to that key (``cnf.jkt``, RFC 9449): it works
        only with proofs the key signs (:class:`~.dpop.DPoPAuth`), never as a bearer token.
        With ``certificate`` it is bound to that TLS client certificate (``cnf.x5t#S256``,
        RFC 8705): it works only on requests that come with it (``JWT_MTLS_ENABLED``);
        with both, to both.

        Its introspection answers these claims too until it expires or is revoked.
        """
        claims = _bound(claims, dpop_key, certificate)
        payload = self._claims(sub, scopes, audience, expires_in, acr, claims)
        with self._lock:
            signing = self._keys[algorithm]
        token = jwt.encode(
            payload, signing.key, algorithm=algorithm, headers={"kid": signing.kid, "typ": "at+jwt"}
        )
        self._introspection.file(token, payload)
        return token

    def mint_opaque(
        self,
        sub: str,
        *,
        scopes: Sequence[str] = (),
        audience: str | Sequence[str] | None = None,
        expires_in: float = 300,
        acr: str | None = None,
        dpop_key: DPoPKey | None = None,
        certificate: x509.Certificate | None = None,
        **claims: Any,
    ) -> str:
        """An opaque token for ``sub``: a random string that says nothing itself, which the
        middleware checks at the provider's introspection endpoint (RFC 7662); see
        ``settings(introspection=True)``.

        The arguments are :meth:`mint`'s, and become the members of the endpoint's answer
        (``{"active": true, "token_type": "Bearer", ...claims}``, the claims last) until
        ``exp`` passes or the token is revoked; then, or for a token it never minted, the
        answer is ``{"active": false}``. With ``certificate``, the answer binds the token to
        that TLS client certificate (``"cnf": {"x5t#S256": ...}``, RFC 8705 section 3.2):
        the middleware accepts it only with ``JWT_MTLS_ENABLED``, on requests that come
        with that certificate. With ``dpop_key``, to that DPoP key (``"cnf": {"jkt": ...}``
        and ``"token_type": "DPoP"``, RFC 9449 section 6.2): the middleware accepts it only
        with ``JWT_DPOP_ENABLED``, sent as ``Authorization: DPoP`` with proofs the key signs
        (:class:`~.dpop.DPoPAuth`, or :meth:`as_dpop_user` with ``opaque=True``).
        """
        claims = _bound(claims, dpop_key, certificate)
        token = secrets.token_urlsafe(32)
        self._introspection.file(
            token, self._claims(sub, scopes, audience, expires_in, acr, claims)
        )
        return token

    def revoke(self, token: str) -> None:
        """Revoke a token it minted (opaque or JWT): its introspection says inactive from
        now on. A token the middleware has already accepted is remembered there for
        ``JWT_INTROSPECTION_CACHE_SECONDS``, as with a real provider. A JWT is verified
        locally, so this affects it only with ``introspect_all_tokens=True``."""
        self._introspection.revoke(token)

    def _claims(
        self,
        sub: str,
        scopes: Sequence[str],
        audience: str | Sequence[str] | None,
        expires_in: float,
        acr: str | None,
        claims: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The payload :meth:`mint` signs and :meth:`mint_opaque` files."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url,
            "sub": sub,
            "iat": now,
            "exp": now + int(expires_in),
            "jti": uuid.uuid4().hex,
        }
        aud = self.audience if audience is None else audience
        if isinstance(aud, str):
            payload["aud"] = aud
        elif aud:
            payload["aud"] = list(aud)
        if scopes:
            payload["scope"] = " ".join(scopes)
        if acr is not None:
            payload["acr"] = acr
        payload.update(claims)
        return {name: value for name, value in payload.items() if value is not None}

    def as_user(
        self,
        client: _Client,
        sub: str,
        *,
        scopes: Sequence[str] = (),
        opaque: bool = False,
        **mint: Any,
    ) -> _Client:
        """Send ``client``'s further requests with a token for ``sub`` (its ``Authorization``
        header): a JWT, or with ``opaque`` an opaque token (:meth:`mint_opaque`); ``scopes``
        and ``mint`` are as for :meth:`mint`. Works for Starlette's ``TestClient`` and
        ``httpx.Client``/``httpx.AsyncClient`` alike; returns the client."""
        minter = self.mint_opaque if opaque else self.mint
        client.headers["Authorization"] = "Bearer " + minter(sub, scopes=scopes, **mint)
        return client

    def as_dpop_user(
        self,
        client: _AuthClient,
        sub: str,
        *,
        key: DPoPKey | None = None,
        scopes: Sequence[str] = (),
        opaque: bool = False,
        **mint: Any,
    ) -> _AuthClient:
        """Send ``client``'s further requests as ``sub`` with a DPoP-bound token (RFC 9449):
        ``Authorization: DPoP`` and a fresh proof by ``key`` (a new one when left out) for
        each request, made by :class:`~.dpop.DPoPAuth`, which also follows the server's
        nonces (Starlette's ``TestClient`` and ``httpx.Client``/``AsyncClient`` alike). The
        server's ``JWT_DPOP_BASE_URL`` must be the client's base URL, which the proofs
        name. ``scopes`` and ``mint`` are as for :meth:`mint`; with ``opaque``, the token
        is an opaque one (:meth:`mint_opaque`). Returns the client, whose ``auth`` holds
        the key (``client.auth.key``)."""
        key = key if key is not None else DPoPKey()
        minter = self.mint_opaque if opaque else self.mint
        token = minter(sub, scopes=scopes, dpop_key=key, **mint)
        client.auth = DPoPAuth.for_client(client, token, key)
        return client

    def settings(self, *, introspection: bool = False, **values: Any) -> JWTSettings:
        """JWT settings that verify this provider's tokens: its ``url`` as the issuer (keys
        found by discovery), its audience and its three algorithms; ``values`` replace or
        add to them (``audience=...``, ``scope_claims=...``). With ``introspection``, opaque
        tokens are checked at its introspection endpoint (found by discovery) as its client
        (``introspection_client_id`` and ``_secret``, by ``client_secret_basic`` unless
        ``introspection_auth_method=...`` says otherwise).

        Only the values given count: no ``JWT_*`` variable and no ``.env`` file is read, and
        the environment is left alone. The key set may be refetched every 0.01 s rather
        than every 5 s, so a rotation is seen at the next token with a new ``kid``.
        """
        given: dict[str, Any] = {
            "issuer": self.url,
            "audience": self.audience,
            "algorithms": list(ALGORITHMS),
            "jwks_min_refetch_seconds": _TEST_MIN_REFETCH_SECONDS,
        }
        if introspection:
            given["introspection_client_id"] = self.introspection_client_id
            given["introspection_client_secret"] = self.introspection_client_secret
        return _GivenValuesOnly(**{**given, **values})

    def rotate_keys(self, *, keep_previous: bool = False) -> None:
        """Make a new key for every algorithm (with a new ``kid``) and sign with them from
        now on. The old public keys leave the key set, unless ``keep_previous``: then both
        are published, as providers do for a while after a rotation."""
        with self._lock:
            self._generation += 1
            previous = self._published
            self._keys = {
                algorithm: _new_key(algorithm, self._generation) for algorithm in ALGORITHMS
            }
            self._published = self._jwks_of(self._keys) + (previous if keep_previous else [])

    @contextmanager
    def outage(self, kind: OutageKind = "503") -> Iterator[None]:
        """Within the block, the provider is down: every request is answered 503, or taken
        and never answered until the block ends (``"no-answer"``), or its connection is
        closed without an answer (``"closed"``)."""
        with self._lock:
            self._outage = kind
            self._outage_over.clear()
        try:
            yield
        finally:
            with self._lock:
                self._outage = None
                self._outage_over.set()

    @contextmanager
    def slow(self, seconds: float) -> Iterator[None]:
        """Within the block, every answer is sent ``seconds`` late."""
        with self._lock:
            before, self._delay_seconds = self._delay_seconds, seconds
        try:
            yield
        finally:
            with self._lock:
                self._delay_seconds = before

    @property
    def requests(self) -> RequestCounts:
        """The metadata, key-set and introspection requests it was sent since it started or
        was reset."""
        with self._lock:
            return RequestCounts(
                self._discovery_requests, self._jwks_requests, self._introspection_requests
            )

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document it serves."""
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_url,
            "introspection_endpoint": self.introspection_url,
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "id_token_signing_alg_values_supported": list(ALGORITHMS),
            "subject_types_supported": ["public"],
            "response_types_supported": ["code"],
        }

    @property
    def jwks(self) -> dict[str, Any]:
        """The key set it serves: public keys only."""
        with self._lock:
            return {"keys": list(self._published)}

    def reset(self) -> None:
        """Answer normally again, count from zero, and publish the current keys alone (the
        ones kept by ``rotate_keys(keep_previous=True)`` leave); the keys stay what they
        are, and so do the tokens it minted and revoked, so tokens minted before still
        verify (and introspect) as they did."""
        with self._lock:
            self._published = self._jwks_of(self._keys)
            self._outage = None
            self._delay_seconds = 0.0
            self._discovery_requests = self._jwks_requests = self._introspection_requests = 0
            self._outage_over.set()

    def close(self) -> None:
        """Stop serving; a request held by a ``"no-answer"`` outage is let go."""
        self._outage_over.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # What the server thread asks of it

    @staticmethod
    def _jwks_of(keys: dict[SigningAlgorithm, _SigningKey]) -> list[dict[str, Any]]:
        return [_public_jwk(algorithm, signing) for algorithm, signing in keys.items()]

    def answer_get(self, path: str) -> Answer:
        """The answer to a GET of ``path``, counting the request."""
        with self._lock:
            if path in _DISCOVERY_PATHS:
                self._discovery_requests += 1
                return Answer(200, self.metadata)
            if path == _JWKS_PATH:
                self._jwks_requests += 1
                return Answer(200, {"keys": list(self._published)})
            if path == _INTROSPECTION_PATH:
                self._introspection_requests += 1
                return error(405, "method_not_allowed", ("Allow", "POST"))
        return error(404, "not_found")

    def answer_post(self, path: str, authorization: str | None, form: bytes | None) -> Answer:
        """The answer to a POST of ``form`` (``None``: too large to read) to ``path``,
        counting the request."""
        if path != _INTROSPECTION_PATH:
            if path in _DISCOVERY_PATHS or path == _JWKS_PATH:
                return error(405, "method_not_allowed", ("Allow", "GET"))
            return error(404, "not_found")
        with self._lock:
            self._introspection_requests += 1
        return self._introspection.answer(authorization, form)

    def conditions(self) -> tuple[OutageKind | None, float]:
        with self._lock:
            return self._outage, self._delay_seconds

    def wait_for_outage_end(self) -> None:
        self._outage_over.wait()
