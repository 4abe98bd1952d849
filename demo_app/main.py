"""The ASGI entry point, ``demo_app.main:app``, configured from the environment.

Importing this module reads ``JWT_SECRET`` and the other settings; to build an app from
explicit settings (tests, embedding) use :func:`demo_app.app.create_app` instead.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["app"]

app = create_app()
