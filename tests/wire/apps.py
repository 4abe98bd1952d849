"""The apps the wire tests serve, as objects and as factories a child process imports.

granian runs its own processes, so it builds its app from an import string
(``tests.wire.apps:protected_app``) in a child that sees no JWT_* variable and no ``.env``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from jwt_middleware import JWTSettings
from tests.helpers import SECRET, build_app, build_files_app, cookie_settings
from tests.public_paths import PUBLIC


async def echo_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """An app without the middleware that answers with what the server put in the scope."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    response = JSONResponse(
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode("latin-1"),
        }
    )
    await response(scope, receive, send)


def protected_app() -> Starlette:
    """:func:`tests.helpers.build_app` with :data:`tests.public_paths.PUBLIC`."""
    return build_app(JWTSettings(secret=SECRET), public=PUBLIC)


def environment_app() -> Starlette:
    """:func:`tests.helpers.build_app` configured by the ``JWT_*`` variables the child was
    given, with a public rule that matches no route, so that it warns at start-up."""
    return build_app(JWTSettings(), public=["/health", "/nowhere"])


def echo_app() -> ASGIApp:
    return echo_scope


def files_app() -> Starlette:
    """:func:`tests.helpers.build_files_app`."""
    return build_files_app(JWTSettings(secret=SECRET))


def cookie_app() -> Starlette:
    """:func:`tests.helpers.build_app` reading the token from a cookie as well
    (:func:`tests.helpers.cookie_settings`)."""
    return build_app(cookie_settings())
