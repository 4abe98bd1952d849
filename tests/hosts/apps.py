"""The same small API in each framework, behind the middleware: ``/health`` public,
``/private`` not, both answering ``{"user_id": ...}`` read where that framework's handlers
read the ASGI scope."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from litestar import Litestar, Request, get
from quart import Quart
from quart import request as quart_request
from starlette.types import ASGIApp

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.helpers import SECRET

PUBLIC = ["/health"]


def guarded(app: Any) -> JWTAuthMiddleware:
    """``app`` behind the middleware, ``/health`` public."""
    asgi_app: ASGIApp = app
    return JWTAuthMiddleware(asgi_app, settings=JWTSettings(secret=SECRET), public=PUBLIC)


@get(["/health", "/private"], sync_to_thread=False)
def _litestar_me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"user_id": request.scope["state"].get("user_id")}


def litestar_app() -> Litestar:
    # Litestar configures the root logger at start-up by default (INFO, its own handler),
    # which would outlive the test: the logging is the test run's.
    return Litestar(route_handlers=[_litestar_me], logging_config=None)


def quart_app() -> Quart:
    app = Quart(__name__)

    async def me() -> dict[str, Any]:
        state: dict[str, Any] = quart_request.scope.get("state", {})
        return {"user_id": state.get("user_id")}

    app.add_url_rule("/health", "health", me)
    app.add_url_rule("/private", "private", me)
    return app


def django_app() -> Any:
    """Django's ASGI handler for :mod:`tests.hosts.django_project`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.hosts.django_project.settings")
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


#: Each framework: how to build its app, and whether it runs the ASGI lifespan.
FRAMEWORKS: dict[str, tuple[Callable[[], Any], bool]] = {
    "litestar": (litestar_app, True),
    "quart": (quart_app, True),
    "django": (django_app, False),  # Django's handler refuses lifespan scopes
}
