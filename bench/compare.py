"""What JWT authentication costs per request, next to the usual alternatives.

    .venv/bin/python bench/compare.py [--requests 3000] [--repeats 7]

Each variant is a FastAPI app with one ``GET /items`` route returning a small dict:

* ``no auth``: the baseline;
* ``HTTPBearer dependency``: FastAPI's ``HTTPBearer`` plus a dependency that verifies the
  token with ``jwt.decode`` and returns ``sub``, the pattern of the FastAPI tutorial;
* ``AuthenticationMiddleware``: Starlette's middleware with a backend that verifies with
  ``jwt.decode``, the handler refusing anonymous users;
* ``JWTAuthMiddleware``: this library; the handler reads ``request.state.user_id``. It
  remembers tokens that verified (``JWT_VERIFIED_CACHE_SIZE``), as a client sends the same
  token on every request; the ``cache off`` row shows the cost of a token seen for the
  first time (every request verified in full, like the alternatives).

The apps are called in-process as ASGI apps with a prepared scope and no-op ``receive`` and
``send``, so no client, socket or server takes part and framework and authentication costs
dominate. Handlers and dependencies are ``async`` so that none of them goes through the
thread pool. Each batch runs thousands of requests with the garbage collector paused; the
variants take turns batch by batch (in a rotating order, to spread drift evenly), and the
best batch of each counts. Tokens are HS256, minted with PyJWT.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at
# runtime, and these handlers refer to names local to the functions that build the apps.

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from jwt_middleware import JWTAuthMiddleware, JWTSettings, StaticKeys, TokenVerifier
from jwt_middleware.issuers import IssuerPolicy, Issuers
from jwt_middleware.types import BoundKey

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
ALGORITHMS = ["HS256"]
ITEM = {"id": 1, "name": "widget", "price": 9.5}


# --- the apps ---------------------------------------------------------------------------------


def no_auth() -> ASGIApp:
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, Any]:
        return {**ITEM, "owner": "nobody"}  # the same shape as the other variants answer

    return app


def http_bearer_dependency() -> ASGIApp:
    app = FastAPI()
    bearer = HTTPBearer()

    async def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    ) -> str:
        try:
            claims = jwt.decode(credentials.credentials, SECRET, algorithms=ALGORITHMS)
        except jwt.PyJWTError:
            raise HTTPException(
                status_code=401,
                detail="Invalid token",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        subject: str = claims["sub"]
        return subject

    @app.get("/items")
    async def items(user_id: Annotated[str, Depends(current_user)]) -> dict[str, Any]:
        return {**ITEM, "owner": user_id}

    return app


class PyJWTBackend(AuthenticationBackend):
    """The backend people write for Starlette's AuthenticationMiddleware."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = jwt.decode(token, SECRET, algorithms=ALGORITHMS)
        except jwt.PyJWTError:
            raise AuthenticationError("Invalid token") from None
        return AuthCredentials(["authenticated"]), SimpleUser(claims["sub"])


def starlette_authentication_middleware() -> ASGIApp:
    app = FastAPI()
    app.add_middleware(AuthenticationMiddleware, backend=PyJWTBackend())

    @app.get("/items")
    async def items(request: Request) -> dict[str, Any]:
        if not request.user.is_authenticated:
            raise HTTPException(
                status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"}
            )
        return {**ITEM, "owner": request.user.username}

    return app


def jwt_auth_middleware(settings: JWTSettings) -> ASGIApp:
    app = FastAPI()
    app.add_middleware(JWTAuthMiddleware, settings=settings)

    @app.get("/items")
    async def items(request: Request) -> dict[str, Any]:
        return {**ITEM, "owner": request.state.user_id}

    return app


async def starlette_items(request: Request) -> JSONResponse:
    user_id = request.scope.get("state", {}).get("user_id")
    return JSONResponse(ITEM if user_id is None else {**ITEM, "owner": user_id})


def plain_starlette() -> ASGIApp:
    return Starlette(routes=[Route("/items", starlette_items)])


def starlette_with_jwt_auth_middleware(settings: JWTSettings) -> ASGIApp:
    app = Starlette(routes=[Route("/items", starlette_items)])
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    return app


# --- driving them -----------------------------------------------------------------------------


def scope_for(token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode("ascii")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items",
        "raw_path": b"/items",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def discard(message: Message) -> None:
    return None


async def answer(app: ASGIApp, template: dict[str, Any]) -> tuple[int, bytes]:
    """One request, keeping the status and body: to check a variant before timing it."""
    sent: list[Message] = []

    async def keep(message: Message) -> None:
        sent.append(message)

    await app({**template, "state": {}}, receive, keep)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def batch(app: ASGIApp, template: dict[str, Any], requests: int) -> int:
    """Run ``requests`` requests; return the elapsed nanoseconds."""
    start = time.perf_counter_ns()
    for _ in range(requests):
        # A fresh scope per request, as a server makes one; middleware writes into it.
        await app({**template, "state": {}}, receive, discard)
    return time.perf_counter_ns() - start


@dataclass
class Variant:
    name: str
    app: ASGIApp
    template: dict[str, Any]
    expect_status: int
    best_ns: float = float("inf")


def measure(
    loop: asyncio.AbstractEventLoop, variants: list[Variant], requests: int, repeats: int
) -> None:
    run: Callable[[Awaitable[int]], int] = loop.run_until_complete
    for variant in variants:
        status, body = loop.run_until_complete(answer(variant.app, variant.template))
        if status != variant.expect_status:
            raise SystemExit(f"{variant.name}: expected {variant.expect_status}, got {status}")
        if status == 200 and b"user-1" not in body and "no auth" not in variant.name:
            raise SystemExit(f"{variant.name}: the handler did not see the user: {body!r}")
        run(batch(variant.app, variant.template, requests // 10))  # warm-up
    for round_number in range(repeats):
        shift = round_number % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            gc.collect()
            gc.disable()
            try:
                elapsed = run(batch(variant.app, variant.template, requests))
            finally:
                gc.enable()
            variant.best_ns = min(variant.best_ns, elapsed / requests)


def table(title: str, variants: list[Variant], baseline: Variant) -> None:
    base_us = baseline.best_ns / 1000
    print(f"\n{title}")
    print(f"{'variant':<40} {'us/request':>11} {'x no-auth':>10} {'overhead us':>12}")
    print("-" * 76)
    for variant in variants:
        us = variant.best_ns / 1000
        print(f"{variant.name:<40} {us:>11.1f} {us / base_us:>10.2f} {us - base_us:>+12.1f}")


def verdict(ours: Variant, others: list[Variant], baseline: Variant) -> None:
    ours_overhead = (ours.best_ns - baseline.best_ns) / 1000
    for other in others:
        overhead = (other.best_ns - baseline.best_ns) / 1000
        relation = "less" if ours.best_ns < other.best_ns else "MORE"
        print(
            f"  {ours.name} costs {relation} than {other.name}: "
            f"{ours.best_ns / 1000:.1f} vs {other.best_ns / 1000:.1f} us/request "
            f"(overhead {ours_overhead:+.1f} vs {overhead:+.1f} us)"
        )


def verification_alone(settings: JWTSettings, token: str, calls: int, repeats: int) -> None:
    """The token check by itself, with no framework around it, to show where the cost is."""
    verifier = TokenVerifier(settings)
    uncached = TokenVerifier(settings.model_copy(update={"verified_cache_size": 0}))
    checks: list[tuple[str, Callable[[], object]]] = [
        ("jwt.decode", lambda: jwt.decode(token, SECRET, algorithms=ALGORITHMS)),
        ("jwt.get_unverified_header", lambda: jwt.get_unverified_header(token)),
        ("TokenVerifier.verify", lambda: verifier.verify(token)),
        ("TokenVerifier.verify, cache off", lambda: uncached.verify(token)),
    ]
    checks += issuer_checks(calls)
    print("\nVerification alone (no framework)")
    print(f"{'call':<40} {'us/call':>11}")
    print("-" * 52)
    for name, check in checks:
        best = float("inf")
        for _ in range(repeats):
            gc.disable()
            try:
                start = time.perf_counter_ns()
                for _ in range(calls):
                    check()
                best = min(best, (time.perf_counter_ns() - start) / calls)
            finally:
                gc.enable()
        print(f"{name:<40} {best / 1000:>11.1f}")


def issuer_checks(calls: int) -> list[tuple[str, Callable[[], object]]]:
    """First-sight RS256 verification with one issuer, and with three whose keys all share
    one kid (the token comes from the third): the cold-path cost of several issuers."""
    names = ["https://a.example", "https://b.example", "https://c.example"]
    keys = {name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in names}
    now = int(time.time())

    def token_of(issuer: str) -> str:
        claims = {"sub": "user-1", "iss": issuer, "iat": now, "exp": now + 3600}
        return jwt.encode(claims, keys[issuer], "RS256", headers={"kid": "k1"})

    def verifier_for(issuers: list[str]) -> TokenVerifier:
        settings = JWTSettings(
            issuer=issuers, jwks_url="https://unused.example/jwks", verified_cache_size=0
        )
        policies = [
            IssuerPolicy(
                name,
                None,
                frozenset({"RS256"}),
                StaticKeys(named=[BoundKey("RS256", keys[name].public_key(), "k1")]),
            )
            for name in issuers
        ]
        return TokenVerifier(settings, issuers=Issuers(policies))

    one, three = verifier_for(names[2:]), verifier_for(names)
    token = token_of(names[2])
    public = keys[names[2]].public_key()
    return [
        ("jwt.decode, RS256", lambda: jwt.decode(token, public, algorithms=["RS256"])),
        ("TokenVerifier, RS256, one issuer", lambda: one.verify(token)),
        ("TokenVerifier, RS256, third of three", lambda: three.verify(token)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per batch")
    parser.add_argument("--repeats", type=int, default=7, help="batches per variant")
    args = parser.parse_args()

    settings = JWTSettings(secret=SECRET, _env_file=None)  # ignore any .env file
    uncached = JWTSettings(secret=SECRET, verified_cache_size=0, _env_file=None)
    now = int(time.time())
    token = jwt.encode({"sub": "user-1", "iat": now, "exp": now + 3600}, SECRET, "HS256")
    valid, missing = scope_for(token), scope_for(None)

    def with_auth(template: dict[str, Any], status: int) -> list[Variant]:
        return [
            Variant(
                "(b) HTTPBearer dependency + jwt.decode",
                http_bearer_dependency(),
                template,
                status,
            ),
            Variant(
                "(c) AuthenticationMiddleware + jwt.decode",
                starlette_authentication_middleware(),
                template,
                status,
            ),
            Variant("(d) JWTAuthMiddleware", jwt_auth_middleware(settings), template, status),
            Variant(
                "(e) JWTAuthMiddleware, cache off",
                jwt_auth_middleware(uncached),
                template,
                status,
            ),
        ]

    baseline = Variant("(a) no auth", no_auth(), valid, 200)
    with_token = [baseline, *with_auth(valid, 200)]
    without_token = [baseline, *with_auth(missing, 401)]
    starlette = [
        Variant("plain Starlette, no auth", plain_starlette(), valid, 200),
        Variant(
            "plain Starlette + JWTAuthMiddleware",
            starlette_with_jwt_auth_middleware(settings),
            valid,
            200,
        ),
        Variant(
            "plain Starlette + JWTAuthMiddleware, 401",
            starlette_with_jwt_auth_middleware(settings),
            missing,
            401,
        ),
    ]

    started = time.perf_counter()
    loop = asyncio.new_event_loop()
    try:
        measure(loop, with_token + without_token[1:] + starlette, args.requests, args.repeats)
    finally:
        loop.close()

    print(
        f"best of {args.repeats} batches of {args.requests} in-process requests; "
        "overhead is against the no-auth app answering 200"
    )
    table("FastAPI, valid HS256 token (200)", with_token, baseline)
    table("FastAPI, no token (401; the no-auth row is the 200 baseline)", without_token, baseline)
    table("Starlette without FastAPI", starlette, starlette[0])

    verification_alone(settings, token, args.requests, args.repeats)

    print("\nVerdict, valid token:")
    verdict(with_token[3], with_token[1:3], baseline)
    verdict(with_token[4], with_token[1:3], baseline)
    print("Verdict, no token:")
    verdict(without_token[3], without_token[1:3], baseline)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
