"""What handlers need from the running app, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from jwt_middleware import JWTSettings

from .security import Passwords
from .settings import DemoSettings

__all__ = ["DemoContext", "get_context"]


@dataclass(frozen=True, slots=True)
class DemoContext:
    settings: DemoSettings
    jwt_settings: JWTSettings
    engine: Engine
    passwords: Passwords


def get_context(request: Request) -> DemoContext:
    context: DemoContext = request.app.state.demo
    return context
