"""A service that only verifies the demo's tokens: no private key, no secret, a JWKS URL.

Configured from the environment alone, as a separate deployment would be::

    JWT_ALGORITHM=RS256 JWT_JWKS_URL=http://issuer/.well-known/jwks.json \
        uvicorn tests.scale.verifier_app:app

The keys are fetched at start-up (so the first requests do not wait) and refreshed by the
library as they age; a token naming a key the issuer does not publish gets a 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_middleware import JWTAuthMiddleware, JWTSettings, TokenVerifier, current_user_id

settings = JWTSettings()
verifier = TokenVerifier(settings)  # keys from JWT_JWKS_URL, by the settings alone


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"user_id": current_user_id(request)})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    await verifier.prefetch()
    try:
        yield
    finally:
        await verifier.aclose()


app = Starlette(
    routes=[Route("/health", health), Route("/whoami", whoami)],
    middleware=[
        Middleware(JWTAuthMiddleware, public=["GET /health"], settings=settings, verifier=verifier)
    ],
    lifespan=lifespan,
)
