"""One answer shape everywhere: an authentication error raised inside a handler or a
dependency (``CurrentUserId`` on a public route, a token that outlived its account) gets the
same status, realm, RFC 6750 challenge, ``Cache-Control`` and body as the middleware's own.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from jwt_middleware import (
    AuthenticationError,
    InsufficientScopeError,
    InvalidTokenError,
    JWTAuthMiddleware,
    JWTSettings,
    TokenExpiredError,
    authentication_error_handler,
    current_claims,
    current_user_id,
)
from jwt_middleware.fastapi import CurrentClaims, CurrentUserId
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import SECRET, bearer, mint_token

REALM = "orders"
PUBLIC = ["/whoami", "/claims", "/invalid", "/expired", "/scope", "/state", "/streamed"]


def _raiser(error: AuthenticationError) -> Any:
    def handler() -> None:
        raise error

    return handler


def fastapi_app(*, with_handler: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    def whoami(user_id: CurrentUserId) -> dict[str, str]:
        return {"user_id": user_id}

    @app.get("/claims")
    def claims(claims: CurrentClaims) -> dict[str, Any]:
        return dict(claims)

    app.add_api_route("/invalid", _raiser(InvalidTokenError()))
    app.add_api_route("/expired", _raiser(TokenExpiredError()))
    app.add_api_route("/scope", _raiser(InsufficientScopeError()))

    @app.get("/protected")
    def protected() -> dict[str, str]:
        return {}

    if with_handler:
        app.add_exception_handler(AuthenticationError, authentication_error_handler)
    app.add_middleware(
        JWTAuthMiddleware, public=PUBLIC, settings=JWTSettings(secret=SECRET, realm=REALM)
    )
    return app


def starlette_app(*, with_handler: bool) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"user_id": current_user_id(request)})

    async def claims(request: Request) -> JSONResponse:
        return JSONResponse(dict(current_claims(request)))

    def raising(error: AuthenticationError) -> Any:
        async def handler(request: Request) -> Response:
            raise error

        return handler

    async def protected(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/claims", claims),
            Route("/invalid", raising(InvalidTokenError())),
            Route("/expired", raising(TokenExpiredError())),
            Route("/scope", raising(InsufficientScopeError())),
            Route("/protected", protected),
        ],
        exception_handlers=(
            {AuthenticationError: authentication_error_handler} if with_handler else {}
        ),
    )
    app.add_middleware(
        JWTAuthMiddleware, public=PUBLIC, settings=JWTSettings(secret=SECRET, realm=REALM)
    )
    return app


APPS = [
    pytest.param(fastapi_app, False, id="fastapi"),
    pytest.param(fastapi_app, True, id="fastapi-with-handler"),
    pytest.param(starlette_app, False, id="starlette"),
    pytest.param(starlette_app, True, id="starlette-with-handler"),
]


def _shape(reply: Any) -> tuple[int, str | None, str | None, Any]:
    return (
        reply.status_code,
        reply.headers.get("www-authenticate"),
        reply.headers.get("cache-control"),
        reply.json(),
    )


@pytest.mark.parametrize(("make_app", "with_handler"), APPS)
@pytest.mark.parametrize("path", ["/whoami", "/claims"])
def test_no_user_on_a_public_route_is_the_middlewares_own_401(
    make_app: Any, with_handler: bool, path: str
) -> None:
    client = TestClient(make_app(with_handler=with_handler))
    own = client.get("/protected")  # refused by the middleware itself
    assert own.status_code == 401
    assert own.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert _shape(client.get(path)) == _shape(own)


@pytest.mark.parametrize(("make_app", "with_handler"), APPS)
@pytest.mark.parametrize(
    ("path", "status", "challenge", "detail"),
    [
        pytest.param(
            "/invalid",
            401,
            'error="invalid_token", error_description="The access token is invalid."',
            "The access token is invalid.",
            id="invalid",
        ),
        pytest.param(
            "/expired",
            401,
            'error="invalid_token", error_description="The access token expired."',
            "The access token expired.",
            id="expired",
        ),
        pytest.param(
            "/scope",
            403,
            'error="insufficient_scope", '
            'error_description="The access token lacks the required scope."',
            "The access token lacks the required scope.",
            id="insufficient-scope",
        ),
    ],
)
def test_errors_raised_in_handlers_get_the_challenge(
    make_app: Any, with_handler: bool, path: str, status: int, challenge: str, detail: str
) -> None:
    client = TestClient(make_app(with_handler=with_handler))
    reply = client.get(path, headers=bearer(mint_token()))
    assert _shape(reply) == (
        status,
        f'Bearer realm="{REALM}", {challenge}',
        "no-store",
        {"detail": detail},
    )


@pytest.mark.parametrize(("make_app", "with_handler"), APPS)
def test_the_user_is_there_with_a_token(make_app: Any, with_handler: bool) -> None:
    client = TestClient(make_app(with_handler=with_handler))
    reply = client.get("/whoami", headers=bearer(mint_token("alice")))
    assert reply.json() == {"user_id": "alice"}


def test_state_claims_is_none_on_a_public_path_without_a_token(settings: JWTSettings) -> None:
    async def state(request: Request) -> JSONResponse:
        return JSONResponse({"user_id": request.state.user_id, "claims": request.state.claims})

    app = Starlette(routes=[Route("/state", state)])
    app.add_middleware(JWTAuthMiddleware, public=["/state"], settings=settings)
    client = TestClient(app)
    assert client.get("/state").json() == {"user_id": None, "claims": None}
    bad = client.get("/state", headers={"Authorization": "Bearer not.a.token"})
    assert bad.json() == {"user_id": None, "claims": None}
    good = client.get("/state", headers=bearer(mint_token("bo")))
    assert good.json()["user_id"] == "bo"
    assert good.json()["claims"]["sub"] == "bo"


def test_an_error_after_the_response_started_is_not_answered_twice(
    settings: JWTSettings,
) -> None:
    async def chunks() -> Any:
        yield b"partial"
        raise InvalidTokenError

    async def streamed(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks())

    app = JWTAuthMiddleware(Starlette(routes=[Route("/streamed", streamed)]), settings=settings)
    token = mint_token()
    with pytest.raises(InvalidTokenError):
        call(app, http_scope("/streamed", headers=scope_headers(bearer(token))))


@pytest.mark.parametrize("accept_first", [False, True], ids=["before-accept", "after-accept"])
def test_an_error_in_a_websocket_handler_closes_with_policy_violation(
    settings: JWTSettings, accept_first: bool
) -> None:
    async def socket(websocket: WebSocket) -> None:
        if accept_first:
            await websocket.accept()
        current_user_id(websocket)  # public route, no token: MissingTokenError

    app = Starlette(routes=[WebSocketRoute("/ws", socket)])
    app.add_middleware(JWTAuthMiddleware, public=["/ws"], settings=settings)
    client = TestClient(app)
    if accept_first:
        with (
            client.websocket_connect("/ws") as connection,
            pytest.raises(WebSocketDisconnect) as info,
        ):
            connection.receive_text()
        assert info.value.code == 1008
    else:
        with pytest.raises(WebSocketDenialResponse) as denial:
            client.websocket_connect("/ws").__enter__()
        assert denial.value.status_code == 401
