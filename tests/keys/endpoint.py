"""A JWKS endpoint on loopback for JWKSKeys to fetch from (and PEM files by ``kid``, as AWS
ALB publishes its keys, for KidURLKeys), the ways a test breaks it, and the tokens and
headers the tests send.

Keys come from :mod:`tests.keypairs`, are published as public JWKs with PyJWT's ``to_jwk``,
and tokens are signed with PyJWT directly.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import fields
from typing import Any, Protocol

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from jwt_middleware import JWTSettings
from jwt_middleware.algorithms import Algorithm
from jwt_middleware.keys.jwks import JWKSKeys, JWKSOptions
from jwt_middleware.types import BoundKey
from tests.helpers import FakeClock, mint_token
from tests.keypairs import RSA, PrivateKey
from tests.servers import serve


async def resolve(keys: JWKSKeys, header: dict[str, Any]) -> tuple[BoundKey, ...]:
    """The keys the source offers a token with this header (by its ``alg`` and ``kid``)."""
    return tuple(await keys.keys(header.get("alg"), header.get("kid")))


def jwk_of(key: Any, kid: Any = None, **members: Any) -> dict[str, Any]:
    """The JWK of ``key`` as PyJWT writes it (private keys keep their private members)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(members)
    return jwk


def public_jwk(key: PrivateKey, kid: Any = None, **members: Any) -> dict[str, Any]:
    return jwk_of(key.public_key(), kid, **members)


def signed(key: Any, algorithm: Algorithm = "RS256", kid: str | None = "a", **headers: Any) -> str:
    """A token for ``user-1`` signed by ``key`` with PyJWT, its header carrying ``kid``.

    Each token is unique (``jti``), so the verifier's cache of verified tokens never
    answers for one: every token in these tests reaches the key source.
    """
    if kid is not None:
        headers["kid"] = kid
    return mint_token(secret=key, algorithm=algorithm, headers=headers, jti=uuid.uuid4().hex)


def settings_for(algorithm: Algorithm) -> JWTSettings:
    """Settings for verifying ``algorithm`` with keys the test gives the verifier itself (the
    JWKS URL named here is never fetched: the given key source replaces it)."""
    return JWTSettings(algorithms=[algorithm], jwks_url="https://unused.example/jwks.json")


def public_numbers(key: Any) -> Any:
    return key.public_numbers()


class Run(Protocol):
    def __call__(self, scenario: Callable[[JWKSKeys], Awaitable[None]], **options: Any) -> None: ...


class Endpoint:
    """A JWKS endpoint on loopback whose behaviour a test switches while it runs."""

    def __init__(self, stack: ExitStack) -> None:
        self.document: Any = {"keys": [public_jwk(RSA, "a")]}
        self.status = 200
        self.delay = 0.0
        self.body: bytes | None = None
        self.chunked = False
        self.drip = False
        self.redirect_to: str | None = None
        #: Sent as Content-Encoding, the body (or metadata) being encoded by the test already.
        self.encoding: str | None = None
        #: What /.well-known/* (discovery) answers: a document, raw bytes, or 404 for None.
        self.metadata: Any = None
        self.requests = 0
        self.accept_encodings: list[str | None] = []
        #: PEM files served at /keys/<kid> (404 for another kid), and every request's raw
        #: path as it reached the server, whatever route it asked for.
        self.pems: dict[str, bytes] = {}
        self.paths: list[bytes] = []
        self._stack = ExitStack()
        stack.callback(self._stack.close)
        app = Starlette(
            routes=[
                Route("/jwks.json", self._serve),
                Route("/.well-known/{rest:path}", self._serve_metadata),
                Route("/keys/{kid}", self._serve_pem),
            ]
        )

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.paths.append(scope["raw_path"])
            await app(scope, receive, send)

        self.base_url = self._stack.enter_context(serve(recording))
        self.url = f"{self.base_url}/jwks.json"
        #: The ``JWT_KEY_URL_TEMPLATE`` of the PEM files.
        self.key_url_template = f"{self.base_url}/keys/{{kid}}"

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.document = {"keys": list(jwks)}

    def stop(self) -> None:
        self._stack.close()

    async def _serve(self, request: Request) -> Response:
        self.requests += 1
        self.accept_encodings.append(request.headers.get("accept-encoding"))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.redirect_to is not None:
            return RedirectResponse(self.redirect_to)
        body = self.body if self.body is not None else json.dumps(self.document).encode()
        if self.drip:
            return StreamingResponse(_drip(body), media_type="application/json")
        if self.chunked:
            chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
            return StreamingResponse(iter(chunks), status_code=self.status)
        return self._answer(body)

    async def _serve_pem(self, request: Request) -> Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        pem = self.body if self.body is not None else self.pems.get(request.path_params["kid"])
        if self.status != 200 or pem is None:
            return Response(status_code=self.status if self.status != 200 else 404)
        return Response(pem, media_type="application/x-pem-file")

    async def _serve_metadata(self, request: Request) -> Response:
        self.accept_encodings.append(request.headers.get("accept-encoding"))
        if self.metadata is None:
            return Response(status_code=404)
        body = self.metadata
        return self._answer(body if isinstance(body, bytes) else json.dumps(body).encode())

    def _answer(self, body: bytes) -> Response:
        headers = {"Content-Encoding": self.encoding} if self.encoding is not None else None
        return Response(
            body, status_code=self.status, media_type="application/json", headers=headers
        )


async def _drip(body: bytes) -> AsyncIterator[bytes]:
    """Leading whitespace, a byte at a time and well within any read timeout, then the set."""
    for _ in range(20):
        await asyncio.sleep(0.1)
        yield b" "
    yield body


_FETCH_OPTIONS = frozenset(field.name for field in fields(JWKSOptions))


def jwks_keys(url: str, **options: Any) -> JWKSKeys:
    """A JWKSKeys (RS256 unless told) whose options named like :class:`JWKSOptions`' fields
    (``cache_seconds``...) go into its ``options``, the others to the constructor."""
    fetching = {name: options.pop(name) for name in list(options) if name in _FETCH_OPTIONS}
    return JWKSKeys(url, **{"algorithms": ["RS256"], "options": JWKSOptions(**fetching), **options})


@asynccontextmanager
async def open_keys(url: str, clock: FakeClock, **options: Any) -> AsyncIterator[JWKSKeys]:
    """:func:`jwks_keys` on ``clock``, with a 2 s timeout unless told; closed afterwards."""
    keys = jwks_keys(url, **{"timeout_seconds": 2, "clock": clock, **options})
    try:
        yield keys
    finally:
        await keys.aclose()


def header(kid: str | None = "a", alg: str = "RS256", **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"alg": alg, **more}
    if kid is not None:
        found["kid"] = kid
    return found


def go_down(endpoint: Endpoint) -> None:
    endpoint.stop()


def answer_slowly(endpoint: Endpoint) -> None:
    endpoint.delay = 1.5  # the scenarios use a 0.5 s timeout


def drip_slowly(endpoint: Endpoint) -> None:
    endpoint.drip = True  # 2 s in all, a byte every 0.1 s: only an overall timeout stops it


def answer(status: int) -> Callable[[Endpoint], None]:
    def breaker(endpoint: Endpoint) -> None:
        endpoint.status = status

    return breaker


def answer_body(body: bytes, *, chunked: bool = False) -> Callable[[Endpoint], None]:
    def breaker(endpoint: Endpoint) -> None:
        endpoint.body, endpoint.chunked = body, chunked

    return breaker


def answer_document(document: Any) -> Callable[[Endpoint], None]:
    def breaker(endpoint: Endpoint) -> None:
        endpoint.document = document

    return breaker


def redirect_elsewhere(endpoint: Endpoint) -> None:
    endpoint.redirect_to = "http://127.0.0.1:9/jwks.json"


OVERSIZED = json.dumps({"keys": [public_jwk(RSA, "a")], "pad": "x" * 70_000}).encode()

FAILURES = [
    pytest.param(go_down, id="down"),
    pytest.param(answer_slowly, id="slower-than-timeout"),
    pytest.param(drip_slowly, id="dripping-slower-than-timeout"),
    pytest.param(answer(500), id="http-500"),
    pytest.param(answer(404), id="http-404"),
    pytest.param(redirect_elsewhere, id="redirect"),
    pytest.param(answer_body(b"<html>not json</html>"), id="garbage"),
    pytest.param(answer_body(b"\xff\xfe\x00garbage"), id="binary-garbage"),
    pytest.param(answer_body(b"[" * 60_000), id="deeply-nested"),
    pytest.param(answer_body(OVERSIZED), id="oversized"),
    pytest.param(answer_body(OVERSIZED, chunked=True), id="oversized-chunked"),
    pytest.param(answer_document([public_jwk(RSA, "a")]), id="list-not-object"),
    pytest.param(answer_document({"keys": {"a": public_jwk(RSA, "a")}}), id="keys-not-list"),
    pytest.param(answer_document({"kys": [public_jwk(RSA, "a")]}), id="no-keys-member"),
    pytest.param(answer_document({"keys": []}), id="empty-set"),
    pytest.param(answer_document({"keys": [jwk_of(RSA, "a")]}), id="nothing-usable"),
]

FAILURE_OPTIONS = {"timeout_seconds": 0.5, "max_response_bytes": 65_536}
