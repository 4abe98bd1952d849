"""Apps for the authorization tests: one route per kind of requirement, every handler
recording that it ran (so a test can prove a refusal came before it)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.access.policy import require_scopes
from jwt_middleware.fastapi import RequireScopes
from tests.helpers import SECRET

#: Paths of the handlers that ran, in order.
ran: list[str] = []

SETTINGS = JWTSettings(secret=SECRET)


async def record(request: Request) -> JSONResponse:
    ran.append(request.url.path)
    return JSONResponse({"user_id": request.state.user_id, "scopes": list(request.auth.scopes)})


@require_scopes("reports:read")
async def reports(request: Request) -> JSONResponse:
    ran.append(request.url.path)
    return JSONResponse({"reports": []})


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user_id": websocket.state.user_id})
    await websocket.close()


STARLETTE_ROUTES = [
    Route("/todos", record, methods=["GET", "POST"]),
    Route("/todos/{todo_id:int}", record, methods=["GET", "PATCH", "DELETE"]),
    Route("/admin/{rest:path}", record, methods=["GET", "POST"]),
    Route("/public/{rest:path}", record),
    Route("/feed", record),
    Route("/reports", reports),
    Route("/payments", record, methods=["POST"]),
    WebSocketRoute("/ws", socket),
]


def starlette_app(settings: JWTSettings = SETTINGS, **options: Any) -> Starlette:
    app = Starlette(routes=STARLETTE_ROUTES)
    app.add_middleware(JWTAuthMiddleware, settings=settings, **options)
    return app


def fastapi_app(settings: JWTSettings = SETTINGS, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/notes")
    async def notes() -> list[str]:
        ran.append("/notes")
        return []

    @app.post("/notes", dependencies=[Depends(RequireScopes("notes:write"))])
    async def add_note() -> dict[str, str]:
        ran.append("/notes POST")
        return {}

    @app.delete("/notes/{note_id}", dependencies=[Depends(RequireScopes("notes:admin"))])
    async def delete_note(note_id: int) -> None:
        ran.append("/notes DELETE")

    app.add_middleware(JWTAuthMiddleware, settings=settings, **options)
    return app
