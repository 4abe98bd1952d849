"""Error answers: validation errors without the rejected input, and 401s in RFC 6750 form.

FastAPI's default 422 body repeats each rejected value, which would send a too-short
password straight back; this one keeps only where the problem is and what it is.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from jwt_middleware import AuthenticationError, challenge_response

from .context import get_context

__all__ = ["install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(AuthenticationError, _authentication_error)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


async def _authentication_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthenticationError)
    return challenge_response(exc, realm=get_context(request).jwt_settings.realm)
