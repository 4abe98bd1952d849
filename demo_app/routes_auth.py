"""``/auth``: register, log in (JSON or the OAuth2 password form), and who am I.

Emails are compared lower-cased. A wrong password and an unknown email get the same 401,
after the same amount of hashing work (see :class:`~demo_app.security.Passwords`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from jwt_middleware import create_jwt_token

from .context import DemoContext
from .dependencies import ContextDep, CurrentUser, SessionDep
from .models import User
from .schemas import (
    LoginRequest,
    RegisterRequest,
    TokenOut,
    UserOut,
    is_encodable,
    normalise_email,
)
from .settings import PASSWORD_MAX_LENGTH

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])

_BAD_CREDENTIALS = "Incorrect email or password."
_CREDENTIALS_401: dict[int | str, dict[str, Any]] = {
    401: {"description": "Incorrect email or password (the same answer for both)."}
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The email is already registered."}},
)
def register(body: RegisterRequest, context: ContextDep, session: SessionDep) -> UserOut:
    """Create an account. The password is stored only as an argon2id hash."""
    minimum = context.settings.password_min_length
    if len(body.password) < minimum:
        raise RequestValidationError(
            [
                {
                    "type": "string_too_short",
                    "loc": ("body", "password"),
                    "msg": f"String should have at least {minimum} characters",
                }
            ]
        )
    user = User(email=body.email, password_hash=context.passwords.hash(body.password))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        # The unique index decides, so two concurrent registrations cannot both win.
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, "Email already registered.") from None
    session.refresh(user)
    return UserOut.model_validate(user)


@router.post("/login", responses=_CREDENTIALS_401)
def login(
    body: LoginRequest, context: ContextDep, session: SessionDep, response: Response
) -> TokenOut:
    """Exchange email and password for a bearer token."""
    user = _authenticate(context, session, body.email, body.password)
    return _token_for(user, context, response)


@router.post("/token", responses=_CREDENTIALS_401)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    context: ContextDep,
    session: SessionDep,
    response: Response,
) -> TokenOut:
    """The same login as an OAuth2 password grant (``username`` is the email).

    This is the ``tokenUrl`` Swagger UI's *Authorize* button posts to.
    """
    user = _authenticate(context, session, form.username, form.password)
    return _token_for(user, context, response)


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    """The account the bearer token belongs to."""
    return UserOut.model_validate(user)


def _authenticate(context: DemoContext, session: Session, email: str, password: str) -> User:
    """The user with this email and password, or the one 401 for every kind of miss."""
    if len(password) > PASSWORD_MAX_LENGTH or not is_encodable(password):
        password = ""  # cannot match; still costs one verification like any other miss
    address = _normalise_email(email)
    user = None
    if address is not None:
        user = session.exec(select(User).where(User.email == address)).first()
    matched, new_hash = context.passwords.verify(
        password, user.password_hash if user is not None else None
    )
    if user is None or not matched:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            _BAD_CREDENTIALS,
            headers={"WWW-Authenticate": f'Bearer realm="{context.jwt_settings.realm}"'},
        )
    if new_hash is not None:
        user.password_hash = new_hash
        session.add(user)
        session.commit()
        session.refresh(user)
    return user


def _normalise_email(text: str) -> str | None:
    """The stored form of an email address, or ``None`` if it cannot be one."""
    try:
        return normalise_email(text)
    except ValueError:
        return None


def _token_for(user: User, context: DemoContext, response: Response) -> TokenOut:
    assert user.id is not None
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 section 5.1
    settings = context.jwt_settings
    return TokenOut(
        access_token=create_jwt_token(user.id, user.email, settings=settings),
        expires_in=settings.expiry_seconds,
        user=UserOut.model_validate(user),
    )
