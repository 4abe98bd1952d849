"""How ``python -m demo_app`` logs: one format for uvicorn, ``jwt_middleware`` and the demo.

Every line carries its time, level and logger name, whoever wrote it, so a warning from the
library can be told from the server's and placed in time::

    2026-11-25 20:29:55,101 INFO uvicorn.error: Uvicorn running on http://127.0.0.1:8000 ...
    2026-11-25 20:29:55,102 WARNING demo_app.health: Redis at cache:6379 (REDIS_URL) ...

There is no access log. Uvicorn's would write each request's path and query string, and
the client address that ``X-Forwarded-For`` may set: request-controlled text, and query
strings can carry tokens. The demo logs nothing a request controls.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["LOG_FORMAT", "log_config"]

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config() -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dictionary, for ``uvicorn.Config(log_config=...)``.

    One handler on stderr, on the root logger: uvicorn's loggers, ``jwt_middleware`` and
    ``demo_app`` log at INFO and propagate to it; anything else at WARNING. Uvicorn's own
    handlers are not configured, so nothing is written twice or in its default format.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "jwt_middleware": {"level": "INFO"},
            "demo_app": {"level": "INFO"},
        },
    }
