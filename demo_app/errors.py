"""Error answers: validation errors without the rejected input.

FastAPI's default 422 body repeats each rejected value, which would send a too-short
password straight back; this one keeps only where the problem is and what it is.
Authentication errors raised by handlers need nothing here: the middleware answers them
in the same RFC 6750 form as its own refusals.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

__all__ = ["install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)
