"""``FakeIssuer``: an OpenID provider on loopback that mints the tokens a test sends.

It serves what the middleware reads from a real provider, over real HTTP on 127.0.0.1 (a
stdlib ``ThreadingHTTPServer`` in a background thread), so the middleware's own discovery
and JWKS fetching are what a test exercises:

* ``/.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server``:
  the metadata, whose ``jwks_uri`` names
* ``/jwks``: the public keys, one each for RS256, ES256 and EdDSA, each with its ``kid``.

Tokens are signed with PyJWT. The controls are what a test of an app needs and a real
provider will not do on demand: rotate its keys, go down (503, no answer, or a closed
connection) and answer slowly; it counts the requests it was sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Protocol, Self, TypeVar

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ..settings import JWTSettings

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
#: The least time between two fetches of the key set in :meth:`FakeIssuer.settings`, instead
#: of 5 s: a test that rotates the keys sees the new ones without waiting.
_TEST_MIN_REFETCH_SECONDS: Final = 0.01

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class RequestCounts(NamedTuple):
    """The requests the provider was sent since it started or was last reset, each counted
    when it arrives (answered or not)."""

    discovery: int
    jwks: int


class _HasHeaders(Protocol):
    @property
    def headers(self) -> MutableMapping[str, str]: ...


_Client = TypeVar("_Client", bound=_HasHeaders)


class _SigningKey(NamedTuple):
    kid: str
    key: _PrivateKey


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
    otherwise. Safe to use from the test's thread while the server answers in its own.
    """

    def __init__(self, *, audience: str = "api") -> None:
        self.audience = audience
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
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        port = self._server.server_address[1]
        #: The issuer identifier (``iss``), and the base of every URL the provider serves.
        self.url = f"http://127.0.0.1:{port}"
        self.jwks_url = self.url + _JWKS_PATH
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
        **claims: Any,
    ) -> str:
        """A token for ``sub``, signed with the provider's current key for ``algorithm``.

        ``audience`` is ``aud`` (the provider's audience when left out; an empty sequence
        leaves ``aud`` out); ``scopes`` become the space-separated ``scope`` claim;
        ``expires_in`` seconds from now is ``exp`` (negative: already expired); ``claims``
        are added last, so they may replace any of the others (``iss=...``), and one given
        as ``None`` is left out (``iss=None``: a token without ``iss``).
        """
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
        payload = {name: value for name, value in payload.items() if value is not None}
        with self._lock:
            signing = self._keys[algorithm]
        return jwt.encode(
            payload, signing.key, algorithm=algorithm, headers={"kid": signing.kid, "typ": "at+jwt"}
        )

    def as_user(
        self, client: _Client, sub: str, *, scopes: Sequence[str] = (), **mint: Any
    ) -> _Client:
        """Send ``client``'s further requests with a token for ``sub`` (its ``Authorization``
        header); ``scopes`` and ``mint`` are as for :meth:`mint`. Works for Starlette's
        ``TestClient`` and ``httpx.Client``/``httpx.AsyncClient`` alike; returns the client."""
        client.headers["Authorization"] = "Bearer " + self.mint(sub, scopes=scopes, **mint)
        return client

    def settings(self, **values: Any) -> JWTSettings:
        """JWT settings that verify this provider's tokens: its ``url`` as the issuer (keys
        found by discovery), its audience and its three algorithms; ``values`` replace or
        add to them (``audience=...``, ``scope_claims=...``).

        Only the values given count: no ``JWT_*`` variable and no ``.env`` file is read, and
        the environment is left alone. The key set may be refetched every 0.01 s rather
        than every 5 s, so a rotation is seen at the next token with a new ``kid``.
        """
        given: dict[str, Any] = {
            "issuer": self.url,
            "audience": self.audience,
            "algorithms": list(ALGORITHMS),
            "jwks_min_refetch_seconds": _TEST_MIN_REFETCH_SECONDS,
            **values,
        }
        return _GivenValuesOnly(**given)

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
        """The metadata and key-set requests it was sent since it started or was reset."""
        with self._lock:
            return RequestCounts(self._discovery_requests, self._jwks_requests)

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document it serves."""
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_url,
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
        are, so tokens minted before still verify."""
        with self._lock:
            self._published = self._jwks_of(self._keys)
            self._outage = None
            self._delay_seconds = 0.0
            self._discovery_requests = self._jwks_requests = 0
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

    def _document(self, path: str) -> dict[str, Any] | None:
        """The document at ``path``, counting the request; ``None``: not one it serves."""
        with self._lock:
            if path in _DISCOVERY_PATHS:
                self._discovery_requests += 1
                return self.metadata
            if path == _JWKS_PATH:
                self._jwks_requests += 1
                return {"keys": list(self._published)}
        return None

    def _conditions(self) -> tuple[OutageKind | None, float]:
        with self._lock:
            return self._outage, self._delay_seconds


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that stopped waiting (a timeout in a slow or silent outage)
        breaks the connection on purpose, and the test's output is not the place for it."""


def _handler_for(issuer: FakeIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            document = issuer._document(self.path.partition("?")[0])
            outage, delay_seconds = issuer._conditions()
            if delay_seconds:
                time.sleep(delay_seconds)
            if outage == "no-answer":
                issuer._outage_over.wait()
                self.close_connection = True
                return
            if outage == "closed":
                self.close_connection = True
                return
            if outage == "503":
                self._answer(503, {"error": "temporarily_unavailable"})
            elif document is None:
                self._answer(404, {"error": "not_found"})
            else:
                self._answer(200, document)

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a test's output is not the place for the provider's access log."""

    return Handler
