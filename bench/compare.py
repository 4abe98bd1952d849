"""What JWT authentication costs, beside the app without it, the best alternative and the
physical floor, as ratios measured in one run.

    .venv/bin/python bench/compare.py [--iterations 3000] [--repeats 7] [--no-wire]
    .venv/bin/python bench/compare.py --only dpop       # one section (repeat --only for more)

Every figure is printed beside the figure it is compared with, both measured in the same
contest (:mod:`bench.timing`: cases take turns, the best batch counts), so the ratios hold on
a noisy machine even when the absolute figures move. The sections:

* **Requests in-process**: FastAPI apps (:mod:`bench.apps`) called as ASGI apps with a
  prepared scope, so no client or socket takes part: the per-request cost of each form of
  this library beside the no-auth app and the usual alternatives.
* **Verification**: :class:`~jwt_middleware.TokenVerifier` on tokens it has never seen,
  beside the stdlib floor (:mod:`bench.floors`) and PyJWT's ``jwt.decode``; asymmetric
  tokens beside the raw ``cryptography`` verify plus that floor; 9 KB tokens beside the
  floor on the same tokens.
* **Opaque tokens**: a reused opaque token whose introspection answer is remembered,
  beside a reused JWT through the same app (an endpoint in memory, asked once).
* **Forged tokens** of three sizes, beside the floor's cost to refuse them (it checks the
  signature before it decodes anything), through the verifier and through the middleware.
* **Cache**: what a miss costs when the working set is larger than the cache, against what
  a hit saves; the memory the cache holds with 9 KB tokens, the tokens it keeps as keys
  included, measured in a fresh process, and its own estimate of it.
* **DPoP**: a reused DPoP-bound token with a fresh ES256 proof per request, beside the
  token's stdlib floor plus the proof's (:func:`bench.floors.dpop_floor`), through the
  authenticator and through the middleware.
* **Rules**: one lookup among 10 and among 1,000 method and regex rules.
* **Over the wire**: requests/s over uvicorn and granian with wrk (``bench/wire.py``).

The revocation rows need the Redis server of ``REDIS_URL`` (default
``redis://127.0.0.1:6379/0``); without one they say so instead of a figure.
"""

# No ``from __future__ import annotations`` needed; FastAPI apps live in bench.apps.

import argparse
import asyncio
import gc
import json
import os
import secrets
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bench import apps
from bench.chart import write_chart
from bench.floors import Refused, dpop_floor, hs256_floor, signature_floor
from bench.table import Row, print_table
from bench.timing import Case, answer, asgi_batch, call_batch, contest, cycle_batch
from jwt_middleware import InvalidTokenError, JWTSettings, TokenVerifier
from jwt_middleware.access.policy import AccessPolicy
from jwt_middleware.algorithms import signature_check
from jwt_middleware.errors import InvalidDPoPProofError
from jwt_middleware.keys.jwk import jwk_thumbprint
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.verification.dpop import token_hash
from jwt_middleware.verification.dpop_authenticator import DPoPAuthenticator

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_BYTES = apps.SECRET.encode()


# --- tokens -----------------------------------------------------------------------------------


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "user-1",
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_urlsafe(12),
    } | extra


def hs256(**extra: Any) -> str:
    return jwt.encode(claims(**extra), apps.SECRET, "HS256")


def distinct_hs256(count: int) -> list[str]:
    """``count`` different valid tokens (each its own ``jti``)."""
    return [hs256() for _ in range(count)]


def padded(size: int) -> dict[str, Any]:
    """Claims whose JSON is about ``size`` bytes: groups, as an identity provider sends."""
    groups: list[str] = []
    while len(str(groups)) < size - 120:
        groups.append(f"group-{len(groups):04d}-of-the-organisation")
    return {"groups": groups}


def forged(token: str) -> str:
    """``token`` with another signature: what an attacker without the key sends."""
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.{jwt.encode({'x': 1}, 'not-the-key-' * 4, 'HS256').split('.')[2]}"


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


# --- requests in-process ----------------------------------------------------------------------


def requests_section(loop: asyncio.AbstractEventLoop, iterations: int, repeats: int) -> list[Row]:
    token = hs256(scope="items:read")
    valid, missing = [scope_for(token)], [scope_for(None)]
    first_sight = [scope_for(t) for t in distinct_hs256(2 * apps.settings().verified_cache_size)]
    memory = InMemoryRevocationStore()
    variants: list[tuple[str, Any, list[dict[str, Any]], int]] = [
        ("no auth", apps.no_auth(), valid, 200),
        ("request.state", apps.jwt_auth_middleware(), valid, 200),
        ("CurrentUserId", apps.jwt_auth_middleware_annotated(), valid, 200),
        ("empty dependency", apps.empty_dependency(), valid, 200),
        (
            "scope rule",
            apps.jwt_auth_middleware(scopes={"GET /items": ["items:read"]}),
            valid,
            200,
        ),
        ("first sight", apps.jwt_auth_middleware(), first_sight, 200),
        ("floor first sight", apps.floor_middleware(), first_sight, 200),
        ("HTTPBearer", apps.http_bearer_dependency(), valid, 200),
        ("AuthenticationMiddleware", apps.starlette_authentication_middleware(), valid, 200),
        ("no token", apps.jwt_auth_middleware(), missing, 401),
        ("memory revocation", apps.jwt_auth_middleware(is_revoked=memory.is_revoked), valid, 200),
    ]
    redis_stores = redis_revocation_stores(loop)
    for name, store in redis_stores.items():
        variants.append((name, apps.jwt_auth_middleware(is_revoked=store.is_revoked), valid, 200))
    cases: dict[str, Case] = {}
    for name, app, scopes, status in variants:
        got, body = loop.run_until_complete(answer(app, scopes[0]))
        anonymous = name in ("no auth", "empty dependency", "floor first sight")
        if got != status or (status == 200 and not anonymous and b"user-1" not in body):
            raise SystemExit(f"{name}: expected {status} with the user, got {got}: {body!r}")
        cases[name] = Case(name, asgi_batch(loop, app, scopes))
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    for store in redis_stores.values():
        loop.run_until_complete(store.aclose())

    def us(name: str) -> float | None:
        case = cases.get(name)
        return case.us if case is not None else None

    def us_or_zero(name: str) -> float:
        return us(name) or 0.0

    section = "Requests in-process (FastAPI, HS256), us per request"
    base, state = us("no auth"), us("request.state")
    rows = [
        Row(section, "reused token, request.state", state, "no-auth app", base),
        Row(
            section,
            "reused token, user_id: CurrentUserId",
            us("CurrentUserId"),
            "request.state",
            state,
            compare="diff",
            goal=2.0,
        ),
        Row(
            section,
            "no auth + one empty async dependency",
            us("empty dependency"),
            "no-auth app",
            base,
            compare="diff",
            note="FastAPI's own cost of any dependency",
        ),
        Row(
            section,
            "reused token, user_id: CurrentUserId",
            us("CurrentUserId"),
            "request.state + empty dependency",
            None
            if state is None or base is None
            else state + us_or_zero("empty dependency") - base,
            compare="diff",
            note="what the annotation adds beyond FastAPI's dependency cost",
        ),
        Row(
            section,
            "reused token + scope check (scopes= rule)",
            us("scope rule"),
            "request.state",
            state,
            compare="diff",
            goal=3.0,
        ),
        Row(section, "first-sight token (cache miss)", us("first sight"), "no-auth app", base),
        Row(
            section,
            "first-sight token (cache miss)",
            us("first sight"),
            "stdlib floor as a middleware",
            us("floor first sight"),
            note="the floor verifies every token and does nothing else",
        ),
        Row(
            section,
            "first-sight token (cache miss)",
            us("first sight"),
            "AuthenticationMiddleware",
            us("AuthenticationMiddleware"),
            note="the best peer; it verifies every request",
        ),
        Row(section, "peer: HTTPBearer + jwt.decode", us("HTTPBearer"), "no-auth app", base),
        Row(
            section,
            "peer: AuthenticationMiddleware + jwt.decode",
            us("AuthenticationMiddleware"),
            "no-auth app",
            base,
        ),
        Row(section, "no token (401)", us("no token"), "no-auth app", base),
        Row(
            section,
            "revocation, InMemoryRevocationStore",
            us("memory revocation"),
            "no revocation check",
            state,
        ),
    ]
    if redis_stores:
        rows += [
            Row(
                section,
                "revocation, RedisRevocationStore (local view)",
                us("redis local view"),
                "no revocation check",
                state,
                goal=1.2,
            ),
            Row(
                section,
                "revocation, RedisRevocationStore (EXISTS per request)",
                us("redis exists"),
                "no revocation check",
                state,
            ),
        ]
    else:
        rows.append(
            Row(
                section,
                "revocation, RedisRevocationStore",
                None,
                "no Redis at",
                None,
                note=REDIS_URL,
            )
        )
    return rows


def cookie_section(loop: asyncio.AbstractEventLoop, iterations: int, repeats: int) -> list[Row]:
    """A reused token from the cookie ``cookie_name=`` names, beside the same token in the
    ``Authorization`` header of the same middleware; and that header beside a middleware
    without ``cookie_name=``, which is what naming a cookie costs an API client. The
    ``Cookie`` header is a browser's: the token's cookie among others, the CSRF cookie
    included, sent in both requests; a ``GET``, so no CSRF check runs.

    The middleware stands in front of the least ASGI app (:func:`apps.bare_jwt_auth_middleware`):
    the goal is a microsecond, and two whole FastAPI requests differ by more than that from
    one run to the next. In front of FastAPI, a request with cookies also costs FastAPI
    about 5 us to parse them for its dependencies, whoever reads the token from where.

    Likewise what ``JWT_DPOP_ENABLED`` and ``JWT_MTLS_ENABLED`` cost a plain bearer token in
    the header, which their authenticators, in front of the bearer one, must leave to it."""
    token = hs256(scope="items:read")
    with_cookie = apps.bare_jwt_auth_middleware(cookie_name="__Host-access")
    without = apps.bare_jwt_auth_middleware()
    with_dpop = apps.bare_jwt_auth_middleware(
        apps.settings(dpop_enabled=True, dpop_base_url=DPOP_BASE_URL)
    )
    with_mtls = apps.bare_jwt_auth_middleware(apps.settings(mtls_enabled=True))
    cookies = (
        b"cookie",
        b"_ga=GA1.1.1234567890.1700000000; theme=dark; __Host-access="
        + token.encode("ascii")
        + b"; __Host-csrf=Vb2cT4x0Zr9Qm1kP7sN3wD6yH8jL5fA2",
    )
    by_cookie = scope_for(None)
    by_cookie["headers"].append(cookies)
    by_header = scope_for(token)
    by_header["headers"].append(cookies)
    variants = {
        "cookie": (with_cookie, by_cookie),
        "header": (with_cookie, by_header),
        "header, no cookies": (with_cookie, scope_for(token)),
        "header, no cookie_name": (without, scope_for(token)),
        "header, DPoP on": (with_dpop, scope_for(token)),
        "header, mTLS on": (with_mtls, scope_for(token)),
    }
    cases: dict[str, Case] = {}
    for name, (app, scope) in variants.items():
        got, body = loop.run_until_complete(answer(app, scope))
        if got != 200 or b"user-1" not in body:
            raise SystemExit(f"{name}: expected 200 with the user, got {got}: {body!r}")
        cases[name] = Case(name, asgi_batch(loop, app, [scope]))
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    section = "Where the token is read, the middleware alone (no app behind it), us per request"
    return [
        Row(
            section,
            "reused token from a cookie",
            cases["cookie"].us,
            "the header, same cookies",
            cases["header"].us,
            compare="diff",
            goal=1.0,
            note="cookie_name= set; the same browser Cookie header of four cookies in both",
        ),
        Row(
            section,
            "reused token from the header, cookie_name= set",
            cases["header, no cookies"].us,
            "without cookie_name=",
            cases["header, no cookie_name"].us,
            compare="diff",
            note="what naming a cookie costs a client that sends the header",
        ),
        *(
            Row(
                section,
                f"reused bearer token, JWT_{name}_ENABLED=true",
                cases[f"header, {label} on"].us,
                "without",
                cases["header, no cookie_name"].us,
                compare="diff",
                note=f"what turning {label} on costs a request that does not use it",
            )
            for name, label in (("DPOP", "DPoP"), ("MTLS", "mTLS"))
        ),
    ]


def telemetry_section(loop: asyncio.AbstractEventLoop, iterations: int, repeats: int) -> list[Row]:
    """A reused token through an app whose middleware reports through the OpenTelemetry
    API with no SDK configured (the case of every app that has the API installed, as
    FastAPI brings it, and sets no provider), beside the same app with
    ``JWT_TELEMETRY=false``, which builds no instrument: what the ``add`` on the API's no-op
    counter costs each request."""
    section = "Requests in-process (FastAPI, HS256), us per request"
    try:
        from opentelemetry import trace
    except ImportError:
        return [Row(section, "reused token, OpenTelemetry API", None, "not installed", None)]
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        raise SystemExit("an OpenTelemetry SDK is configured: this row is about the API alone")
    token = hs256(scope="items:read")
    scope = scope_for(token)
    variants = {
        "api": apps.jwt_auth_middleware(),
        "off": apps.jwt_auth_middleware(apps.settings(telemetry=False)),
    }
    cases: dict[str, Case] = {}
    for name, app in variants.items():
        got, body = loop.run_until_complete(answer(app, scope))
        if got != 200 or b"user-1" not in body:
            raise SystemExit(f"telemetry {name}: expected 200 with the user, got {got}: {body!r}")
        cases[name] = Case(name, asgi_batch(loop, app, [scope]))
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    return [
        Row(
            section,
            "reused token, OpenTelemetry API, no SDK",
            cases["api"].us,
            "JWT_TELEMETRY=false",
            cases["off"].us,
            goal=1.05,
            note="one add on the API's no-op counter; below the noise",
        )
    ]


def redis_reachable(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the Redis of ``REDIS_URL`` answers (and the redis package is installed)."""
    try:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError
    except ImportError:
        return False

    async def ping() -> bool:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            await client.ping()
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()
        return True

    return loop.run_until_complete(ping())


def redis_revocation_stores(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """The Redis store in both modes, on a key prefix of this run; empty without Redis."""
    try:
        from jwt_middleware.revocation.redis import RedisRevocationStore
    except ImportError:
        return {}
    prefix = f"jwt-bench:{secrets.token_hex(4)}:"
    if not redis_reachable(loop):
        return {}
    stores = {
        "redis local view": RedisRevocationStore.from_url(
            REDIS_URL, key_prefix=prefix, local_view=True
        ),
        "redis exists": RedisRevocationStore.from_url(
            REDIS_URL, key_prefix=prefix, local_view=False
        ),
    }

    async def current() -> None:
        view = stores["redis local view"]
        await view.start()
        for _ in range(300):
            if view.view_is_current:
                return
            await asyncio.sleep(0.01)
        raise SystemExit("the Redis store's local view did not become current within 3 s")

    loop.run_until_complete(current())
    return stores


# --- verification ---------------------------------------------------------------------------


def refusing(
    verify: Callable[[str], object], errors: tuple[type[Exception], ...]
) -> Callable[[str], None]:
    """``verify`` for tokens it must refuse: the refusal is the expected outcome."""

    def call(token: str) -> None:
        try:
            verify(token)
        except errors:
            return
        raise SystemExit("a forged token was accepted")

    return call


def verification_section(iterations: int, repeats: int) -> list[Row]:
    """HS256 first sight against the floor and PyJWT."""
    token = hs256()
    floor = hs256_floor(SECRET_BYTES)
    settings = apps.settings()
    pool = distinct_hs256(2 * settings.verified_cache_size)
    first_sight = TokenVerifier(settings)
    uncached = TokenVerifier(apps.settings(verified_cache_size=0))
    cases = {
        "floor": Case("floor", call_batch(lambda: floor(token))),
        "ours": Case("ours", cycle_batch(first_sight.verify, pool)),
        "ours, cache off": Case("ours, cache off", call_batch(lambda: uncached.verify(token))),
        "pyjwt": Case(
            "pyjwt", call_batch(lambda: jwt.decode(token, apps.SECRET, algorithms=["HS256"]))
        ),
    }
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    section = "Verification of a token never seen before, us per token"
    stdlib = cases["floor"].us
    return [
        Row(
            section,
            "HS256, TokenVerifier (cache miss)",
            cases["ours"].us,
            "stdlib floor",
            stdlib,
            goal=2.0,
        ),
        Row(
            section,
            "HS256, TokenVerifier, cache off",
            cases["ours, cache off"].us,
            "stdlib floor",
            stdlib,
            goal=2.0,
        ),
        Row(section, "HS256, peer: PyJWT jwt.decode", cases["pyjwt"].us, "stdlib floor", stdlib),
        *large_token_rows(section, iterations, repeats),
        *asymmetric_rows(section, stdlib, iterations, repeats),
    ]


def asymmetric_rows(section: str, stdlib_us: float, iterations: int, repeats: int) -> list[Row]:
    """RS256, ES256 and EdDSA first sight beside the raw verify plus the stdlib floor."""
    private_keys: dict[str, Any] = {
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    rows: list[Row] = []
    for algorithm, private in private_keys.items():
        rows += _asymmetric(section, algorithm, private, stdlib_us, iterations, repeats)
    return rows


def _asymmetric(
    section: str, algorithm: str, private: Any, stdlib_us: float, iterations: int, repeats: int
) -> list[Row]:
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    settings = JWTSettings(
        algorithm=algorithm, public_key=pem, verified_cache_size=64, _env_file=None
    )
    # More distinct tokens than the cache holds: every verification is a first sight.
    headers = {"kid": "key-1"}
    pool = [jwt.encode(claims(), private, algorithm, headers=headers) for _ in range(256)]
    verifier = TokenVerifier(settings)
    uncached = TokenVerifier(settings.model_copy(update={"verified_cache_size": 0}))
    token = pool[0]
    head, payload, signature = token.split(".")
    signing_input = f"{head}.{payload}".encode()
    raw_signature = jwt.utils.base64url_decode(signature)
    raw = signature_check(algorithm, public)
    floor = signature_floor(algorithm, public)
    cases = {
        "ours": Case("ours", cycle_batch(verifier.verify, pool)),
        "ours, cache off": Case("ours, cache off", call_batch(lambda: uncached.verify(token))),
        "raw": Case("raw", call_batch(lambda: raw(signing_input, raw_signature))),
        "floor": Case("floor", call_batch(lambda: floor(token))),
        "pyjwt": Case(
            "pyjwt", call_batch(lambda: jwt.decode(token, public, algorithms=[algorithm]))
        ),
    }
    contest(list(cases.values()), iterations=max(200, iterations // 5), repeats=repeats)
    return [
        Row(
            section,
            f"{algorithm}, TokenVerifier (cache miss)",
            cases["ours"].us,
            f"raw verify {cases['raw'].us:.1f} + stdlib floor",
            cases["raw"].us + stdlib_us,
            goal=1.0,
        ),
        Row(
            section,
            f"{algorithm}, TokenVerifier, cache off",
            cases["ours, cache off"].us,
            "raw verify + stdlib floor",
            cases["raw"].us + stdlib_us,
            goal=1.0,
        ),
        Row(
            section,
            f"{algorithm}, TokenVerifier, cache off",
            cases["ours, cache off"].us,
            f"{algorithm} stdlib floor",
            cases["floor"].us,
            note="the floor with this algorithm's verify in place of the HMAC",
        ),
        Row(
            section,
            f"{algorithm}, peer: PyJWT jwt.decode",
            cases["pyjwt"].us,
            "raw verify + stdlib floor",
            cases["raw"].us + stdlib_us,
        ),
    ]


def forged_section(loop: asyncio.AbstractEventLoop, iterations: int, repeats: int) -> list[Row]:
    """Refusing a token with a bad signature, by the size of its claims: through
    :class:`TokenVerifier` beside the floor's cost to refuse it (its signature check, which
    it makes first), and through the middleware beside a stdlib middleware doing the same
    refusal, each as what the forged token costs over a request without a token.

    ``max_token_bytes`` is raised for this section: the 7 KB case is a 9.4 KB token, which
    the default limit (8 KiB) refuses before its signature, and that would time the length
    check, not the signature check."""
    settings = apps.settings(max_token_bytes=16384)
    verifier = TokenVerifier(settings)
    floor = refusing(hs256_floor(SECRET_BYTES), (Refused,))
    ours = refusing(verifier.verify, (InvalidTokenError,))
    theirs = refusing(lambda t: jwt.decode(t, apps.SECRET, algorithms=["HS256"]), (jwt.PyJWTError,))
    ours_app, floor_app = apps.jwt_auth_middleware(settings), apps.floor_middleware()
    missing = scope_for(None)
    section = "Refusing a forged token (bad signature), us per token"
    rows: list[Row] = []
    for label, size in (("200 B", 200), ("2 KB", 2000), ("7 KB", 7000)):
        token = forged(hs256(**padded(size)))
        forged_scope = scope_for(token)
        for app in (ours_app, floor_app):
            for scope in (forged_scope, missing):
                status, _ = loop.run_until_complete(answer(app, scope))
                if status != 401:
                    raise SystemExit(f"a forged or missing token was answered {status}")
        cases = [
            Case("floor", call_batch(partial(floor, token))),
            Case("ours", call_batch(partial(ours, token))),
            Case("pyjwt", call_batch(partial(theirs, token))),
            Case("ours app", asgi_batch(loop, ours_app, [forged_scope])),
            Case("ours app, no token", asgi_batch(loop, ours_app, [missing])),
            Case("floor app", asgi_batch(loop, floor_app, [forged_scope])),
            Case("floor app, no token", asgi_batch(loop, floor_app, [missing])),
        ]
        contest(cases, iterations=iterations, repeats=repeats)
        us = {case.name: case.us for case in cases}
        rows += [
            Row(
                section,
                f"{label} of claims, TokenVerifier",
                us["ours"],
                "stdlib floor",
                us["floor"],
                goal=1.5,
            ),
            Row(
                section, f"{label} of claims, peer: PyJWT", us["pyjwt"], "stdlib floor", us["floor"]
            ),
            Row(
                section,
                f"{label} of claims, JWTAuthMiddleware",
                us["ours app"] - us["ours app, no token"],
                "stdlib middleware",
                us["floor app"] - us["floor app, no token"],
                goal=1.5,
                note="each over its own answer to a request without a token",
            ),
        ]
    return rows


def large_token_rows(section: str, iterations: int, repeats: int) -> list[Row]:
    """9 KB tokens (hundreds of groups) beside the floor on the same tokens: with the
    cache off, the verification alone; with a cache smaller than the pool, each token a
    miss that also evicts an older 9 KB entry (freeing memory no longer in the CPU's
    caches, which the floor, keeping nothing, never does)."""
    pool = [hs256(**padded(7000)) for _ in range(256)]
    assert 9000 < len(pool[0]) < 10500, len(pool[0])
    verifier = TokenVerifier(apps.settings(max_token_bytes=16384, verified_cache_size=64))
    uncached = TokenVerifier(apps.settings(max_token_bytes=16384, verified_cache_size=0))
    floor = hs256_floor(SECRET_BYTES)
    cases = {
        "floor": Case("floor", cycle_batch(floor, pool)),
        "ours": Case("ours", cycle_batch(verifier.verify, pool)),
        "ours, cache off": Case("ours, cache off", cycle_batch(uncached.verify, pool)),
        "pyjwt": Case(
            "pyjwt",
            cycle_batch(partial(jwt.decode, key=apps.SECRET, algorithms=["HS256"]), pool),
        ),
    }
    contest(list(cases.values()), iterations=max(200, iterations // 5), repeats=repeats)
    label = f"HS256, {len(pool[0]) / 1000:.1f} KB token"
    floor_us = cases["floor"].us
    return [
        Row(
            section,
            f"{label}, TokenVerifier, cache off",
            cases["ours, cache off"].us,
            "stdlib floor",
            floor_us,
            goal=1.3,
        ),
        Row(
            section,
            f"{label}, TokenVerifier (cache miss)",
            cases["ours"].us,
            "stdlib floor",
            floor_us,
            note="each miss also evicts a 9 KB entry",
        ),
        Row(section, f"{label}, peer: PyJWT", cases["pyjwt"].us, "stdlib floor", floor_us),
    ]


# --- cache --------------------------------------------------------------------------------


def cache_section(iterations: int, repeats: int) -> list[Row]:
    size = 1024
    pool = distinct_hs256(4 * size)  # the working set: four times what the cache holds
    cached = TokenVerifier(apps.settings(verified_cache_size=size))
    uncached = TokenVerifier(apps.settings(verified_cache_size=0))
    hit_token = pool[0]
    hits = TokenVerifier(apps.settings(verified_cache_size=size))
    hits.verify(hit_token)
    cases = {
        "miss": Case("miss", cycle_batch(cached.verify, pool)),
        "off": Case("off", cycle_batch(uncached.verify, pool)),
        "hit": Case("hit", call_batch(lambda: hits.verify(hit_token))),
    }
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    miss, off, hit = cases["miss"].us, cases["off"].us, cases["hit"].us
    section = "Verified-token cache"
    rows = [
        Row(
            section,
            "miss, working set 4x the cache",
            miss,
            "cache off",
            off,
            compare="diff",
            goal=off - hit,
            note=f"the goal is what a hit saves: {off - hit:.1f} us",
        ),
        Row(section, "hit", hit, "cache off", off),
    ]
    return rows + memory_rows(section)


def memory_rows(section: str) -> list[Row]:
    """The cache's memory with 9 KB tokens, bounded by bytes (the default) and by entries
    alone (as before the byte bound), each measured in a fresh process (:func:`held`)."""
    default = apps.settings()
    limit = default.verified_cache_bytes / 1024**2
    by_bytes = _held_in_a_fresh_process(default.verified_cache_bytes)
    by_entries = _held_in_a_fresh_process(16 * 1024**3)
    kb = f"{by_bytes['token_characters'] / 1000:.1f} KB"
    return [
        Row(
            section,
            f"memory, {kb} tokens, byte bound (default)",
            by_bytes["held"] / 1024**2,
            "JWT_VERIFIED_CACHE_BYTES",
            limit,
            unit="MiB",
            goal=1.0,
            note=f"{by_bytes['entries']:,.0f} entries",
        ),
        Row(
            section,
            "memory, same tokens, bounded in entries only",
            by_entries["held"] / 1024**2,
            "JWT_VERIFIED_CACHE_BYTES",
            limit,
            unit="MiB",
            note=f"{by_entries['entries']:,.0f} entries",
        ),
        Row(
            section,
            "size estimate, same tokens, entries only",
            by_entries["estimated"] / 1024**2,
            "measured",
            by_entries["held"] / 1024**2,
            unit="MiB",
            goal=1.25,
            note="tests/verification/test_cache.py holds it within 25% both ways",
        ),
    ]


def _held_in_a_fresh_process(max_bytes: int) -> dict[str, float]:
    """:func:`held` run by a new interpreter, so nothing this run allocated before counts."""
    finished = subprocess.run(  # noqa: S603 -- our own interpreter and script
        [sys.executable, str(Path(__file__).resolve()), "--held", str(max_bytes)],
        capture_output=True,
        check=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(finished.stdout)
    return figures


def held(max_bytes: int) -> dict[str, float]:
    """The bytes a verifier's cache holds after 4,200 distinct 9 KB tokens, as
    ``tracemalloc`` counts them, with the tokens it keeps as keys: each token arrives as
    bytes and is decoded in the traced block, as the middleware decodes its header."""
    big = [hs256(**padded(7000)).encode("ascii") for _ in range(4200)]
    verifier = TokenVerifier(apps.settings(verified_cache_bytes=max_bytes, max_token_bytes=16384))
    cache = verifier._cache
    assert cache is not None
    verifier.verify(big[0].decode("ascii"))  # whatever a first verification sets up
    cache.clear()
    with traced() as measure:
        for token in big:
            verifier.verify(token.decode("ascii"))
        allocated = measure()
    return {
        "held": allocated,
        "estimated": cache.size_bytes,
        "entries": len(cache),
        "token_characters": len(big[0]),
    }


@contextmanager
def traced() -> Iterator[Callable[[], float]]:
    """Measure the memory allocated and still held inside the block, in bytes."""
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    try:
        yield lambda: tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


# --- rules --------------------------------------------------------------------------------


def rules_section(iterations: int, repeats: int) -> list[Row]:
    import re

    def policy(count: int, kind: str) -> AccessPolicy:
        if kind == "method":
            public = [f"GET /service-{i}/items/{{id}}" for i in range(count)]
        else:
            public = [re.compile(rf"/service-{i}/items/\d+") for i in range(count)]  # type: ignore[misc]
        return AccessPolicy(public=public)

    section = "Rules: deciding what one request needs, us per lookup (new paths)"
    rows: list[Row] = []
    for kind in ("method", "regex"):
        small, large = policy(10, kind), policy(1000, kind)
        # A new path each time (more than the policy remembers): the index is looked up.
        ids = range(10_000)
        hit_small = [f"/service-9/items/{n}" for n in ids]
        hit_large = [f"/service-999/items/{n}" for n in ids]
        nowhere = [f"/orders/{n}" for n in ids]
        cases = [
            Case("10", cycle_batch(partial(small.decide, "GET"), hit_small)),
            Case("1000", cycle_batch(partial(large.decide, "GET"), hit_large)),
            Case("miss", cycle_batch(partial(large.decide, "GET"), nowhere)),
            Case("again", call_batch(partial(large.decide, "GET", hit_large[0]))),
        ]
        contest(cases, iterations=iterations * 3, repeats=repeats)
        rows += [
            Row(
                section,
                f"1,000 {kind} rules, matching the last",
                cases[1].us,
                f"10 {kind} rules",
                cases[0].us,
                goal=1.5,
            ),
            Row(
                section,
                f"1,000 {kind} rules, matching none",
                cases[2].us,
                f"10 {kind} rules",
                cases[0].us,
                goal=1.5,
            ),
            Row(
                section,
                f"1,000 {kind} rules, a path decided before",
                cases[3].us,
                f"10 {kind} rules, new path",
                cases[0].us,
                note="remembered decisions (at most 4096 paths)",
            ),
        ]
    return rows


# --- opaque tokens ------------------------------------------------------------------------------


def introspection_section(
    loop: asyncio.AbstractEventLoop, iterations: int, repeats: int
) -> list[Row]:
    """A reused opaque token, whose introspection answer is remembered, beside a reused JWT
    through the same app (introspection on), and that JWT beside an app without
    introspection: what the dispatch costs a JWT. The endpoint is in memory (it is asked
    once, before the timing)."""
    import httpx

    from jwt_middleware.verification.bearer import BearerAuthenticator
    from jwt_middleware.verification.introspection import TokenIntrospector

    opaque = secrets.token_urlsafe(32)
    token = hs256(scope="items:read")
    config = apps.settings(
        introspection_url="https://idp.bench/introspect",
        introspection_client_id="bench",
        introspection_client_secret="bench-client-secret-0123456789",
    )
    answer_body = json.dumps(
        {"active": True, "sub": "user-1", "scope": "items:read", "exp": int(time.time()) + 3600}
    ).encode()

    def endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer_body)

    verifier = TokenVerifier(config)
    introspector = TokenIntrospector(
        config,
        policies=verifier.policies,
        client=httpx.AsyncClient(transport=httpx.MockTransport(endpoint)),
    )
    both = apps.jwt_auth_middleware(
        config, authenticators=[BearerAuthenticator(verifier, introspector=introspector)]
    )
    variants = [
        ("reused opaque", both, opaque),
        ("reused JWT", both, token),
        ("reused JWT, no introspection", apps.jwt_auth_middleware(), token),
    ]
    cases: dict[str, Case] = {}
    for name, app, credential in variants:
        got, body = loop.run_until_complete(answer(app, scope_for(credential)))
        if got != 200 or b"user-1" not in body:
            raise SystemExit(f"{name}: expected 200 with the user, got {got}: {body!r}")
        cases[name] = Case(name, asgi_batch(loop, app, [scope_for(credential)]))
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    if introspector.calls != 1:
        raise SystemExit(f"the endpoint was asked {introspector.calls} times, not once")
    section = "Opaque tokens (introspection), us per request"
    return [
        Row(
            section,
            "reused opaque token (introspection cached)",
            cases["reused opaque"].us,
            "reused JWT",
            cases["reused JWT"].us,
            goal=1.05,
        ),
        Row(
            section,
            "reused JWT, introspection on",
            cases["reused JWT"].us,
            "introspection off",
            cases["reused JWT, no introspection"].us,
            goal=1.05,
        ),
    ]


# --- DPoP ----------------------------------------------------------------------------------

DPOP_BASE_URL = "https://api.bench"
#: The longest proof window the settings allow: the proofs are all made before the timing.
DPOP_WINDOW_SECONDS = 600


def dpop_proofs(token: str, key: ec.EllipticCurvePrivateKey, count: int) -> list[str]:
    """``count`` proofs for ``GET /items`` with ``token``, each its own ``jti``, made now
    with PyJWT: a proof is accepted once, so a timed request needs one of its own."""
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    header = {"typ": "dpop+jwt", "jwk": jwk}
    ath = token_hash(token)
    url, now = DPOP_BASE_URL + "/items", int(time.time())
    return [
        jwt.encode(
            {"jti": secrets.token_urlsafe(12), "htm": "GET", "htu": url, "iat": now, "ath": ath},
            key,
            "ES256",
            headers=header,
        )
        for _ in range(count)
    ]


def dpop_scope(token: str, proof: str) -> dict[str, Any]:
    scope = scope_for(None)
    scope["scheme"] = "https"
    scope["headers"] += [
        (b"authorization", f"DPoP {token}".encode("ascii")),
        (b"dpop", proof.encode("ascii")),
    ]
    return scope


def dpop_section(loop: asyncio.AbstractEventLoop, iterations: int, repeats: int) -> list[Row]:
    """A reused DPoP-bound HS256 token with a fresh ES256 proof per request, beside the
    floor: the token's stdlib floor plus :func:`~bench.floors.dpop_floor` (one ES256 verify
    and the claims). Through :class:`DPoPAuthenticator` (the proof checked, the token from
    its cache, the binding, the replay memory of this process) beside the two floors as
    functions; and through the FastAPI app beside the same app behind the floor as a
    middleware, each as what it costs over the app without authentication. Each case keeps
    its own replay memory, so the cases share one list of proofs, each used once by each.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    token = hs256(cnf={"jkt": jwk_thumbprint(jwk)})
    settings = apps.settings(
        dpop_enabled=True, dpop_base_url=DPOP_BASE_URL, dpop_proof_seconds=DPOP_WINDOW_SECONDS
    )
    iterations = max(200, iterations // 3)
    checks = 2  # each case: one proof accepted, then refused as a replay, before timing
    proofs = dpop_proofs(token, key, checks + iterations // 10 + iterations * repeats)
    scopes = [dpop_scope(token, proof) for proof in proofs]
    authenticator = DPoPAuthenticator.from_settings(settings)
    hs256_check = hs256_floor(SECRET_BYTES)
    proof_check = dpop_floor(window_seconds=DPOP_WINDOW_SECONDS)
    url = DPOP_BASE_URL + "/items"

    def floor(proof: str) -> None:
        claims = hs256_check(token)
        proof_check(proof, "GET", url, token, claims["cnf"]["jkt"])

    def ours(scope: dict[str, Any]) -> None:
        authenticator.authenticate_now(dict(scope))

    app = apps.jwt_auth_middleware(settings)
    floor_app = apps.floor_dpop_middleware(DPOP_BASE_URL, window_seconds=DPOP_WINDOW_SECONDS)
    redis_app = None
    fleet_apps: dict[str, Any] = {}
    redis_app = None
    if redis_reachable(loop):
        from jwt_middleware.verification.dpop_replay_redis import RedisProofReplayCache

        shared = RedisProofReplayCache(REDIS_URL, key_prefix=f"jwt-bench:{secrets.token_hex(4)}:")
        redis_app = apps.jwt_auth_middleware(settings, dpop_replay=shared)
        fleet_apps["redis floor app"] = apps.floor_dpop_middleware(
            DPOP_BASE_URL,
            window_seconds=DPOP_WINDOW_SECONDS,
            redis_port=urlsplit(REDIS_URL).port or 6379,
        )
    # Before the timing, each case takes a proof once and refuses it the second time.
    if authenticator.authenticate_now(dict(scopes[0])) is None:
        raise SystemExit("DPoPAuthenticator: a proof with a cached token must be answered now")
    floor(proofs[0])
    for name, replay, refusal in (
        ("DPoPAuthenticator", partial(ours, scopes[0]), InvalidDPoPProofError),
        ("the DPoP floor", partial(floor, proofs[0]), Refused),
    ):
        try:
            replay()
        except refusal:
            continue
        raise SystemExit(f"{name} accepted a proof twice")
    # (The floor's app is the no-auth app, which answers without the user.)
    checked = [("the app", app, b"user-1"), ("the floor app", floor_app, b"")]
    if redis_app is not None:
        checked.append(("the app with replay in Redis", redis_app, b"user-1"))
        checked.append(("the floor app with replay in Redis", fleet_apps["redis floor app"], b""))
    for name, dpop_app, user in checked:
        first = loop.run_until_complete(answer(dpop_app, scopes[1]))
        again = loop.run_until_complete(answer(dpop_app, scopes[1]))
        if first[0] != 200 or user not in first[1] or again[0] != 401:
            raise SystemExit(f"{name}: expected 200 then 401 for a replay, got {first}, {again}")
    timed = scopes[checks:]
    cases = {
        "ours": Case("ours", cycle_batch(ours, timed)),
        "floor": Case("floor", cycle_batch(floor, proofs[checks:])),
        "app": Case("app", asgi_batch(loop, app, timed)),
        "floor app": Case("floor app", asgi_batch(loop, floor_app, timed)),
        "no auth": Case("no auth", asgi_batch(loop, apps.no_auth(), timed)),
    }
    if redis_app is not None:
        cases["redis app"] = Case("redis app", asgi_batch(loop, redis_app, timed))
        floor_fleet = fleet_apps["redis floor app"]
        cases["redis floor app"] = Case("redis floor app", asgi_batch(loop, floor_fleet, timed))
    contest(list(cases.values()), iterations=iterations, repeats=repeats)
    base = cases["no auth"].us
    section = "DPoP (RFC 9449): a reused token, a fresh ES256 proof per request, us per request"
    fleet = cases.get("redis app")
    return [
        Row(
            section,
            "proof + cached token, DPoPAuthenticator",
            cases["ours"].us,
            "stdlib floor: token + proof",
            cases["floor"].us,
            goal=1.3,
            note="replay memory in this process",
        ),
        Row(
            section,
            "reused token + fresh proof, JWTAuthMiddleware",
            cases["app"].us - base,
            "stdlib DPoP middleware",
            cases["floor app"].us - base,
            goal=1.3,
            note=(
                f"each over the no-auth app ({base:.1f} us); whole requests "
                f"{cases['app'].us:.1f} and {cases['floor app'].us:.1f} us"
            ),
        ),
        Row(
            section,
            "the same, replay refused fleet-wide (Redis)",
            None if fleet is None else fleet.us - base,
            "stdlib DPoP middleware",
            cases["floor app"].us - base,
            # No goal beside a floor that has no round trip: no check that refuses every
            # replay across instances can skip it (the next row has the goal).
            note=(
                "no Redis at REDIS_URL"
                if fleet is None
                else "dpop_replay=RedisProofReplayCache: one SET NX on loopback per request"
            ),
        ),
        Row(
            section,
            "the same, beside a floor with the round trip",
            None if fleet is None else fleet.us - base,
            "stdlib DPoP middleware + raw SET NX",
            None if fleet is None else cases["redis floor app"].us - base,
            goal=1.3,
            note="the floor sends the command and reads its reply on a blocking socket",
        ),
    ]


# --- main ---------------------------------------------------------------------------------


#: Each section by the name ``--only`` takes, in the order a whole run goes through them;
#: each is called with an event loop of its own, which some do not need.
SECTIONS: dict[str, Callable[[asyncio.AbstractEventLoop, int, int], list[Row]]] = {
    "requests": requests_section,
    "cookie": cookie_section,
    "telemetry": telemetry_section,
    "verification": lambda loop, iterations, repeats: verification_section(iterations, repeats),
    "forged": forged_section,
    "introspection": introspection_section,
    "dpop": dpop_section,
    "cache": lambda loop, iterations, repeats: cache_section(iterations, repeats),
    "rules": lambda loop, iterations, repeats: rules_section(iterations, repeats),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000, help="iterations per batch")
    parser.add_argument("--repeats", type=int, default=7, help="batches per case")
    parser.add_argument("--no-wire", action="store_true", help="skip the servers and wrk")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument(
        "--only",
        action="append",
        choices=[*SECTIONS, "wire"],
        help="run this section only (repeat for several); no chart is written unless --chart",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=None,
        help="where to write the chart of the ratios (SVG; default docs/performance.svg)",
    )
    parser.add_argument("--held", type=int, help=argparse.SUPPRESS)  # memory_rows' child
    args = parser.parse_args()
    if args.held is not None:
        print(json.dumps(held(args.held)))
        return
    started = time.perf_counter()
    chosen = args.only or [*SECTIONS, *([] if args.no_wire else ["wire"])]
    chart = args.chart
    if chart is None and not args.only:
        chart = Path(__file__).resolve().parents[1] / "docs" / "performance.svg"
    rows: list[Row] = []
    for name, section in SECTIONS.items():
        if name in chosen:
            loop = asyncio.new_event_loop()
            try:
                rows += section(loop, args.iterations, args.repeats)
            finally:
                loop.close()
    if "wire" in chosen:
        from bench import wire

        rows += wire.rows(duration=args.duration)
    print(
        f"best of {args.repeats} batches per case, cases taking turns; every ratio compares "
        "figures of one contest"
    )
    print_table(rows)
    if chart is not None:
        write_chart(
            rows,
            chart,
            title="Each case as a ratio of what it is compared with (bar: ratio; mark: goal)",
        )
    missed = [row for row in rows if row.met is False]
    print(
        f"\n{len(rows)} rows, {len(missed)} missing their goal; "
        f"{time.perf_counter() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
