"""What handlers need from the running app, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Engine

from jwt_middleware import JWTSettings

from .security import Passwords
from .sessions import Sessions
from .settings import DemoSettings

__all__ = ["DemoContext", "get_context"]


@dataclass(frozen=True, slots=True)
class DemoContext:
    settings: DemoSettings
    jwt_settings: JWTSettings
    engine: Engine
    passwords: Passwords
    sessions: Sessions
    #: The JWKS document of the public keys, or ``None`` when tokens are signed with a secret.
    jwks: dict[str, list[dict[str, Any]]] | None
    #: The discovery metadata, or ``None`` without an issuer URL or published keys.
    metadata: dict[str, Any] | None


def get_context(request: Request) -> DemoContext:
    context: DemoContext = request.app.state.demo
    return context
