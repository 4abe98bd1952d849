"""Handler parameters: the app context, a database session, and the current user's row.

Authentication itself is the middleware's job; :data:`CurrentUser` only loads the row of
the user the verified token names, so a token that outlived its account stops working.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from jwt_middleware import InvalidTokenError
from jwt_middleware.fastapi import CurrentUserId

from .context import DemoContext, get_context
from .models import User

__all__ = ["MAX_ID", "ContextDep", "CurrentUser", "SessionDep", "load_user"]

#: Ids are 32-bit on PostgreSQL; anything outside 1..MAX_ID names no row on either backend.
MAX_ID = 2**31 - 1

ContextDep = Annotated[DemoContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with Session(context.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def load_user(session: Session, user_id: str) -> User | None:
    """The user whose id is the token subject ``user_id``, or ``None`` if there is none."""
    return session.get(User, int(user_id)) if _is_row_id(user_id) else None


def get_current_user(user_id: CurrentUserId, session: SessionDep) -> User:
    """The user the token speaks for; an unknown one is an invalid token (401)."""
    user = load_user(session, user_id)
    if user is None:
        raise InvalidTokenError
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def _is_row_id(text: str) -> bool:
    return len(text) <= 10 and text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID
