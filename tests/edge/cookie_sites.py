"""The two sites of the cookie browser tests: the app (a login that sets the token's
cookie, notes to read and to add, a WebSocket), with a record of what reached it and what
it answered; and another origin's page that tries to use the app's cookie.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from jwt_middleware import JWTAuthMiddleware, JWTSettings, create_jwt_token
from tests.helpers import TOKEN_COOKIE

APP_PAGE = "<!doctype html><title>notes</title><p>The app's own page.</p>"


@dataclass
class Visit:
    """One request as the app's server saw it, and the status it answered (a WebSocket
    handshake accepted is 101)."""

    method: str
    path: str
    had_cookie: bool
    fetch_site: str | None
    status: int | None = None


@dataclass
class Record:
    """What reached the app, and the notes its handler added (its state)."""

    visits: list[Visit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to(self, method: str, path: str) -> list[Visit]:
        return [visit for visit in self.visits if (visit.method, visit.path) == (method, path)]


def app_site(settings: JWTSettings, record: Record) -> ASGIApp:
    """The app: ``POST /login`` (public) sets the token's cookie, ``__Host-``, ``HttpOnly``,
    ``Secure`` and ``SameSite=Lax``; ``/notes`` reads (GET) or adds (POST) a note; ``/ws``
    says who is there. Wrapped in a recorder of every request and answer."""

    async def page(request: Request) -> Response:
        return HTMLResponse(APP_PAGE)

    async def login(request: Request) -> Response:
        response = JSONResponse({"user": "alice"})
        token = create_jwt_token("alice", settings=settings)
        response.set_cookie(
            TOKEN_COOKIE, token, path="/", secure=True, httponly=True, samesite="lax"
        )
        return response

    async def notes(request: Request) -> Response:
        if request.method == "POST":
            record.notes.append((await request.body()).decode())
        return JSONResponse({"user": request.state.user_id, "notes": record.notes})

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.state.user_id})
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/login", login, methods=["POST"]),
            Route("/notes", notes, methods=["GET", "POST"]),
            WebSocketRoute("/ws", socket),
        ]
    )
    app.add_middleware(JWTAuthMiddleware, settings=settings, public=["/", "POST /login"])
    return recorded(app, record)


def recorded(app: ASGIApp, record: Record, *, cookie_name: str = TOKEN_COOKIE) -> ASGIApp:
    """``app``, with every request it gets and the status it answers written to ``record``
    (whether the cookie ``cookie_name`` came, and ``Sec-Fetch-Site``)."""

    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        visit = Visit(
            method=scope.get("method", "WEBSOCKET"),
            path=scope["path"],
            had_cookie=cookie_name.encode() in headers.get(b"cookie", b""),
            fetch_site=headers[b"sec-fetch-site"].decode()
            if b"sec-fetch-site" in headers
            else None,
        )
        record.visits.append(visit)

        async def recording_send(message: Message) -> None:
            if visit.status is None:
                if message["type"] in ("http.response.start", "websocket.http.response.start"):
                    visit.status = message["status"]
                elif message["type"] == "websocket.accept":
                    visit.status = 101
                elif message["type"] == "websocket.close":
                    visit.status = 403  # refused before accept: the server answers 403
            await send(message)

        await app(scope, receive, recording_send)

    return recorder


def other_site() -> Starlette:
    """Another origin: ``/?target=<app URL>`` is a page with a form that posts a note to
    the app (submitted by the test)."""

    async def page(request: Request) -> Response:
        target = html.escape(request.query_params["target"], quote=True)
        return HTMLResponse(
            "<!doctype html><title>other site</title>"
            f'<form id="forged" method="post" action="{target}/notes" '
            'enctype="text/plain"><input name="note" value="forged"></form>'
        )

    return Starlette(routes=[Route("/", page)])
