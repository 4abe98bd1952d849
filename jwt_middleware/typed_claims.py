"""Verified claims as a Pydantic model, and the app's own user, each made once.

:func:`claims_as` validates a request's verified claims into a model the app declares.
The validation is remembered with the claims: a token answered from the verified cache
hands every request the same claims object, so a model is validated once per verified
token, not once per request. :func:`user_of` runs the app's user loader at most once per
request. Both answer what does not fit with the middleware's own 401 ``invalid_token``
(an :class:`~jwt_middleware.errors.InvalidTokenError` the middleware answers), never a
422 or a 500: a token that verifies but does not carry what the app needs is a token this
app does not accept. The log says why, by the model's field names and Pydantic's error
types, never by a claim's value or a key the token chose.

:mod:`jwt_middleware.fastapi` turns both into dependencies (``ClaimsOf[Model]``,
:func:`~jwt_middleware.fastapi.user_dependency`); Starlette handlers call them directly.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from .errors import InvalidTokenError
from .refusals import Reason, refusals_logged
from .types import Claims
from .user import current_claims

__all__ = ["claims_as", "user_of"]

M = TypeVar("M", bound=BaseModel)
U = TypeVar("U")

#: Tokens whose models are remembered; the verified cache holds 4,096 by default.
_REMEMBERED: Final = 4096
_USERS_KEY: Final = "jwt_middleware.users"

logger = logging.getLogger("jwt_middleware.refusals")


class _ModelCache:
    """The models made of recent claims objects, by the object's identity.

    Each entry holds the claims object itself, so its ``id`` cannot be reused by another
    while the entry lives; bounded, least recently used first out."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, type[BaseModel]], tuple[Claims, BaseModel]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, claims: Claims, model: type[M]) -> M | None:
        key = (id(claims), model)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not claims:
                return None
            self._entries.move_to_end(key)
        found = entry[1]
        assert isinstance(found, model)
        return found

    def put(self, claims: Claims, value: BaseModel) -> None:
        with self._lock:
            self._entries[(id(claims), type(value))] = (claims, value)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_models = _ModelCache(_REMEMBERED)


def claims_as(connection: HTTPConnection, model: type[M]) -> M:
    """The request's verified claims as ``model``; 401 when there are none (like
    :func:`~jwt_middleware.user.current_claims`) or when they do not fit the model."""
    claims = current_claims(connection)
    found = _models.get(claims, model)
    if found is not None:
        return found
    try:
        value = model.model_validate(dict(claims))
    except ValidationError as exc:
        _log_mismatch(model, exc)
        raise InvalidTokenError(reason=Reason.CLAIMS_MODEL) from None
    _models.put(claims, value)
    return value


async def user_of(
    connection: HTTPConnection, load_user: Callable[[Claims], Awaitable[U | None]]
) -> U:
    """The app's user for the request's verified claims, loaded by ``load_user`` at most
    once per request (whatever asks for it again gets the same object); ``None`` from the
    loader (a token that outlived its account) is answered with 401."""
    claims = current_claims(connection)
    loaded: dict[Any, Any] = connection.scope.setdefault("state", {}).setdefault(_USERS_KEY, {})
    if load_user in loaded:
        user = loaded[load_user]
    else:
        user = loaded[load_user] = await load_user(claims)
    if user is None:
        raise InvalidTokenError(reason=Reason.USER_UNKNOWN)
    result: U = user
    return result


def _log_mismatch(model: type[BaseModel], error: ValidationError) -> None:
    """One line: the model, and each problem as its field and Pydantic's error type.

    A location is named only by the model's own field names: a key the token chose (an
    extra claim under ``extra="forbid"``, a key of a ``dict`` field) is written ``<key>``.
    """
    if not refusals_logged():
        return
    problems = sorted(
        {
            f"{problem['type']} at {_field_of(problem['loc'], model)}"
            for problem in error.errors(include_url=False, include_input=False)
        }
    )
    logger.info("claims do not fit %s: %s", model.__qualname__, "; ".join(problems))


def _field_of(location: tuple[int | str, ...], model: type[BaseModel]) -> str:
    """The model field a problem is at, or ``<key>`` for a key the token chose."""
    if location and isinstance(location[0], str) and location[0] in model.model_fields:
        return location[0]
    return "<key>"
