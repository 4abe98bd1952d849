"""``create_app``: the demo service, wired from its settings.

The middleware stack, outermost first: :class:`~demo_app.body_limit.BodySizeLimit`, then
:class:`~jwt_middleware.JWTAuthMiddleware` with :data:`~demo_app.access.PUBLIC_RULES` and
:data:`~demo_app.access.SCOPE_RULES`, reading the token from the ``Authorization`` header or
the browser sign-in's cookie (:mod:`demo_app.routes_browser`),
asking :class:`~demo_app.sessions.Sessions` whether each token was revoked (logout).
With ``JWT_DPOP_ENABLED``, DPoP-bound tokens are accepted too, before the others, their
proofs remembered in Redis when the sessions are (one use across every instance).
No route has an auth dependency; handlers read the verified ``user_id`` from the state.

Start-up creates the missing tables (the revocations included) and warns once when
``REDIS_URL`` is set but Redis does not answer; ``/health`` keeps reporting it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from jwt_middleware import DPoPAuthenticator, JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.verification.authenticator import Authenticator

from . import routes_auth, routes_browser, routes_keys, routes_todos
from .access import PUBLIC_RULES, SCOPE_RULES
from .body_limit import BodySizeLimit
from .context import DemoContext
from .db import create_db_engine, create_tables
from .errors import install_error_handlers
from .health import install_health, warn_if_redis_unreachable
from .openapi import install_openapi
from .security import Passwords
from .sessions import Sessions
from .settings import DemoSettings

__all__ = ["create_app"]

_DESCRIPTION = """\
A to-do service protected by `jwt_middleware`.

Register with `POST /auth/register`, then press **Authorize** and log in with your email
and password. Every `/todos` call then carries your bearer token.
"""


def create_app(
    settings: DemoSettings | None = None,
    jwt_settings: JWTSettings | None = None,
    *,
    passwords: Passwords | None = None,
) -> FastAPI:
    """Build the app. Settings not given are read from the environment (and ``.env``) now,
    so a missing ``JWT_SECRET`` stops start-up instead of the first request.
    """
    settings = settings if settings is not None else DemoSettings()
    jwt_settings = jwt_settings if jwt_settings is not None else JWTSettings()
    engine = create_db_engine(settings.database_url)
    context = DemoContext(
        settings=settings,
        jwt_settings=jwt_settings,
        engine=engine,
        passwords=passwords if passwords is not None else Passwords(),
        sessions=Sessions.from_settings(settings, jwt_settings, engine=engine),
        jwks=routes_keys.jwks_document(jwt_settings),
        metadata=routes_keys.metadata_document(jwt_settings),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        create_tables(context.engine)
        await warn_if_redis_unreachable(context)
        try:
            yield
        finally:
            # Redis connections belong to this event loop; the next one opens its own.
            await context.sessions.aclose()
            context.engine.dispose()

    # Swagger UI's scripts and styles come from the fastapi-offline package, not a CDN.
    app = FastAPIOffline(
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/static",
        title="jwt-middleware demo",
        version="0.1.0",
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.demo = context
    app.include_router(routes_auth.router)
    app.include_router(routes_todos.router)
    app.include_router(routes_keys.router)
    app.include_router(routes_browser.router)
    install_health(app)
    install_error_handlers(app)
    install_openapi(app, password_min_length=settings.password_min_length)
    authenticators: list[Authenticator] = [
        routes_browser.browser_authenticator(TokenVerifier(jwt_settings))
    ]
    if jwt_settings.dpop_enabled:
        replay = context.sessions.proof_replay
        authenticators.insert(0, DPoPAuthenticator.from_settings(jwt_settings, replay=replay))
    app.add_middleware(
        JWTAuthMiddleware,
        public=PUBLIC_RULES + routes_browser.BROWSER_PUBLIC_RULES,
        scopes=SCOPE_RULES,
        settings=jwt_settings,
        authenticators=authenticators,
        is_revoked=context.sessions.is_revoked,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
