"""DPoP through real servers (uvicorn, hypercorn) and a real HTTP client: the path a proof's
``htu`` names is the one the server hands the app as ``raw_path``, percent-encodings
included, and the ``DPoP`` header arrives as the client sent it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from jwt_middleware import JWTSettings
from tests.dpop.client import DPoPClient
from tests.dpop.proofs import DPOP_SETTINGS, bound_token
from tests.helpers import build_app
from tests.servers import free_port, serve, serve_hypercorn


class _BuiltLater:
    """An app built once the server's URL (the DPoP base URL) is known; the lifespan before
    that is answered here, and the middleware starts at its first request."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
            return
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


#: The server's base URL, and the app it serves once built.
_Served = tuple[str, _BuiltLater]


@contextmanager
def _served(start: Callable[[ASGIApp], AbstractContextManager[str]]) -> Iterator[_Served]:
    later = _BuiltLater()
    with start(later) as base:
        yield base, later


def _uvicorn() -> AbstractContextManager[_Served]:
    return _served(lambda app: serve(app, port=free_port()))


def _hypercorn() -> AbstractContextManager[_Served]:
    return _served(serve_hypercorn)


@pytest.fixture(scope="module")
def client() -> Iterator[DPoPClient]:
    with DPoPClient() as running:
        yield running


@pytest.mark.parametrize("server", [_uvicorn, _hypercorn], ids=["uvicorn", "hypercorn"])
@pytest.mark.parametrize("path", ["/private", "/posts/a%20b", "/posts/caf%C3%A9/x"])
def test_a_real_client_passes_through_a_real_server(
    client: DPoPClient,
    server: Callable[[], AbstractContextManager[_Served]],
    path: str,
) -> None:
    with server() as (base, later):
        later.app = build_app(JWTSettings(**{**DPOP_SETTINGS, "dpop_base_url": base}))
        key = client.key()
        token = bound_token(key.jkt)
        proof = key.proof("GET", base + path + "?page=1", token=token)
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
        answer = httpx.get(base + path + "?page=1", headers=headers, timeout=10)
        assert (answer.status_code, answer.json()["user_id"]) == (200, "user-1")
        replayed = httpx.get(base + path + "?page=1", headers=headers, timeout=10)
        assert replayed.status_code == 401
        elsewhere = key.proof("GET", base + "/posts/other", token=token)
        moved = httpx.get(base + path, headers={**headers, "DPoP": elsewhere}, timeout=10)
        assert moved.status_code == 401
        assert moved.headers["www-authenticate"].startswith(
            'DPoP realm="api", error="invalid_dpop_proof"'
        )
