"""Readiness for orchestrators: whether this instance can verify tokens yet.

A Kubernetes readiness probe should keep traffic away from an instance until start-up has
finished and every key source holds usable keys (a JWKS fetched and not older than
``JWT_JWKS_MAX_STALE_SECONDS``); liveness is another question (is the process stuck?) that
the app answers itself, since restarting a process because its provider is down helps
nobody. :attr:`jwt_middleware.middleware.JWTAuthMiddleware.ready`
tells the app in code; with ``readiness_path=`` the middleware answers a probe itself, with
:class:`ReadinessEndpoint`: ``200`` or ``503`` and a fixed tiny body, never key material,
before any policy or token (a probe carries none).

An instance whose start-up prefetch failed gets no traffic, so no request would ever fetch
its keys again: a probe that finds it not ready retries the fetch, at most once every
``JWT_JWKS_MIN_REFETCH_SECONDS`` whoever asks, so the path cannot be used to hammer the
provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

from starlette.types import Receive, Scope, Send

from ..errors import ConfigurationError
from ..verification.authenticator import Authenticator

__all__ = ["ReadinessEndpoint", "ReportsReadiness", "authenticators_ready"]

_READY: Final = b"ready"
_NOT_READY: Final = b"not ready"
_NOT_ALLOWED: Final = b"method not allowed"
_HEADERS: Final = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"cache-control", b"no-store"),
]


@runtime_checkable
class ReportsReadiness(Protocol):
    """An authenticator that can tell whether it can verify yet (its keys are loaded).

    Optional: an authenticator without ``ready`` (one that needs nothing loaded) counts as
    ready. :class:`~jwt_middleware.verification.bearer.BearerAuthenticator` has it.
    """

    @property
    def ready(self) -> bool: ...


def authenticators_ready(authenticators: Sequence[Authenticator]) -> bool:
    """Whether every authenticator that reports readiness is ready."""
    return all(
        authenticator.ready
        for authenticator in authenticators
        if isinstance(authenticator, ReportsReadiness)
    )


class ReadinessEndpoint:
    """Answers a readiness probe at ``path`` (``None``: :attr:`ready` only): ``GET`` or
    ``HEAD``, ``200 ready`` or ``503 not ready``; ``405`` to other methods.

    ``started`` says whether the middleware's start-up has finished. ``retry_seconds`` is
    the least time between two fetches a probe may start.
    """

    __slots__ = ("_authenticators", "_clock", "_retried_at", "_retry_seconds", "_started", "path")

    def __init__(
        self,
        path: str | None,
        *,
        authenticators: Sequence[Authenticator],
        started: Callable[[], bool],
        retry_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if path is not None and not _plain_path(path):
            raise ConfigurationError("readiness_path must be an absolute path such as /readyz")
        self.path = path
        self._authenticators = tuple(authenticators)
        self._started = started
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._retried_at: float | None = None

    @property
    def ready(self) -> bool:
        """Start-up has finished and every authenticator can verify."""
        return self._started() and authenticators_ready(self._authenticators)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # A probe is an HTTP request; a WebSocket handshake here is refused (ASGI: a
            # close before accept).
            await send({"type": "websocket.close", "code": 1008})
            return
        method = scope.get("method")
        if method != "GET" and method != "HEAD":
            await _answer(send, 405, _NOT_ALLOWED, head=False, allow=True)
            return
        ready = self.ready
        if not ready and self._started() and self._may_retry():
            for authenticator in self._authenticators:
                if isinstance(authenticator, ReportsReadiness) and not authenticator.ready:
                    await authenticator.prefetch()  # never raises: a failure is logged
            ready = self.ready
        body = _READY if ready else _NOT_READY
        await _answer(send, 200 if ready else 503, body, head=method == "HEAD")

    def _may_retry(self) -> bool:
        now = self._clock()
        if self._retried_at is not None and now - self._retried_at < self._retry_seconds:
            return False
        self._retried_at = now
        return True


def _plain_path(path: object) -> bool:
    """An absolute path the canonical-path check would let through as it is."""
    if not isinstance(path, str) or not path.startswith("/") or "//" in path:
        return False
    return not any(part in (".", "..") for part in path.split("/")) and not (
        set(path) & set("?#%\\")
    )


async def _answer(send: Send, status: int, body: bytes, *, head: bool, allow: bool = False) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    if allow:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
