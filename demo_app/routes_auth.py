"""``/auth``: register, log in (JSON or the OAuth2 password form), refresh, log out, who am I.

Emails are compared lower-cased. A wrong password and an unknown email get the same 401,
after the same amount of hashing work (see :class:`~demo_app.security.Passwords`).

A login answers an access token and a refresh token of a new family (see
:mod:`demo_app.sessions`). ``/auth/refresh`` exchanges a refresh token, once, for a new
pair of the same family; presenting a used one again means two parties hold it, so the
whole family is revoked. ``/auth/logout`` revokes the access token and its family.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from jwt_middleware import (
    Claims,
    InvalidTokenError,
    TokenExpiredError,
    TokenRevokedError,
    create_jwt_token,
    create_refresh_token,
    verify_refresh_token,
)
from jwt_middleware.fastapi import CurrentClaims

from .access import SCOPES
from .context import DemoContext
from .dependencies import ContextDep, CurrentUser, SessionDep, load_user
from .models import User
from .schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenOut,
    UserOut,
    is_encodable,
    normalise_email,
)
from .sessions import SESSION_CLAIM
from .settings import PASSWORD_MAX_LENGTH

__all__ = ["authenticate", "end_sessions", "router", "token_for"]

logger = logging.getLogger("demo_app")

router = APIRouter(prefix="/auth", tags=["auth"])

_BAD_CREDENTIALS = "Incorrect email or password."
_CREDENTIALS_401: dict[int | str, dict[str, Any]] = {
    401: {"description": "Incorrect email or password (the same answer for both)."}
}
_REFRESH_INVALID: Final = "The refresh token is invalid."
_REFRESH_EXPIRED: Final = "The refresh token expired."
_REFRESH_REVOKED: Final = "The refresh token was revoked."
_UNAVAILABLE_503: dict[str, Any] = {
    "description": "The session store (Redis) did not answer; retry after Retry-After."
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
    scopes = _granted_scopes(body.scope)
    user = authenticate(context, session, body.email, body.password)
    return token_for(user, context, response, scopes=scopes)


@router.post("/token", responses=_CREDENTIALS_401)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    context: ContextDep,
    session: SessionDep,
    response: Response,
) -> TokenOut:
    """The same login as an OAuth2 password grant (``username`` is the email).

    This is the ``tokenUrl`` Swagger UI's *Authorize* button posts to; the scopes ticked
    there are the ones granted (all of them when none is).
    """
    scopes = _granted_scopes(" ".join(form.scopes) if form.scopes else None)
    user = authenticate(context, session, form.username, form.password)
    return token_for(user, context, response, scopes=scopes)


@router.post(
    "/refresh",
    responses={
        401: {"description": "Invalid, expired, revoked or already used refresh token."},
        503: _UNAVAILABLE_503,
    },
)
async def refresh(body: RefreshRequest, context: ContextDep, response: Response) -> TokenOut:
    """Exchange a refresh token for a new access and refresh token of the same session.

    Each refresh token works once. Presenting one that was already exchanged revokes its
    whole session, including the tokens the first exchange returned: one of the two
    parties holding it is not the user.
    """
    claims = _verified_refresh_claims(body.refresh_token, context)
    sessions = context.sessions
    family: str = claims["fam"]
    if await sessions.family_revoked(family):
        raise TokenRevokedError(_REFRESH_REVOKED)
    # Everything that can fail comes before the mark: a token used up by a failed
    # request would look stolen when the client retries it.
    user = await run_in_threadpool(_load_user, context, claims["sub"])
    if user is None:
        raise InvalidTokenError(_REFRESH_INVALID)
    if not await sessions.mark_refresh_token_used(claims):
        logger.warning(
            "refresh token presented twice; revoking its session (user %s)", claims["sub"]
        )
        await sessions.revoke_family(family)
        raise TokenRevokedError(_REFRESH_REVOKED)
    granted = _granted_scopes(claims.get("scope") if isinstance(claims.get("scope"), str) else None)
    return token_for(user, context, response, family=family, scopes=granted)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        400: {"description": "The token has neither a jti nor a session, so nothing to revoke."},
        503: _UNAVAILABLE_503,
    },
)
async def logout(
    claims: CurrentClaims, context: ContextDep, body: LogoutRequest | None = None
) -> None:
    """End this session: the access token sent, and every token of its login, stop working.

    A ``refresh_token`` in the body ends its session too, if it is the same user's; one
    that does not verify is ignored (there is nothing left to revoke). Answers 204 only
    once every revocation is recorded in the session store, 503 when it is unreachable.
    """
    families: set[str] = set()
    if body is not None and body.refresh_token is not None:
        other = _refresh_claims_or_none(body.refresh_token, context)
        if other is not None and other["sub"] == claims["sub"]:
            families.add(other["fam"])
    await end_sessions(claims, context, families)


async def end_sessions(claims: Claims, context: DemoContext, others: set[str]) -> None:
    """Revoke the access token of ``claims``, its session and the sessions ``others``
    (families); 400 when there is nothing to revoke (no ``jti``, no session)."""
    families = set(others)
    if isinstance(family := claims.get(SESSION_CLAIM), str) and family:
        families.add(family)
    sessions = context.sessions
    try:
        await sessions.revoke_access_token(claims)
    except ValueError:
        if not families:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "This access token cannot be revoked."
            ) from None
    for family in sorted(families):
        await sessions.revoke_family(family)


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    """The account the bearer token belongs to."""
    return UserOut.model_validate(user)


def authenticate(context: DemoContext, session: Session, email: str, password: str) -> User:
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


def _granted_scopes(requested: str | None) -> str:
    """The scopes a login grants: those asked for (space-separated), or all of them.

    Asking for a scope the demo does not know is a 400 (RFC 6749 section 5.2
    ``invalid_scope``), not silently less than was asked for.
    """
    if requested is None or not requested.strip():
        return " ".join(SCOPES)
    wanted = [scope for scope in requested.split(" ") if scope]
    if any(scope not in SCOPES for scope in wanted):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Unknown scope; the scopes are: " + ", ".join(SCOPES) + ".",
        )
    return " ".join(dict.fromkeys(wanted))


def token_for(
    user: User,
    context: DemoContext,
    response: Response,
    *,
    scopes: str,
    family: str | None = None,
) -> TokenOut:
    """A new access and refresh token for ``user``, in ``family`` or a new one (login).

    Both carry the granted ``scopes``; a refresh keeps them.
    """
    assert user.id is not None
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 section 5.1
    settings = context.jwt_settings
    family = family if family is not None else secrets.token_urlsafe(16)
    return TokenOut(
        access_token=create_jwt_token(
            user.id, user.email, settings=settings, scope=scopes, **{SESSION_CLAIM: family}
        ),
        expires_in=settings.expiry_seconds,
        scope=scopes,
        refresh_token=create_refresh_token(user.id, family=family, settings=settings, scope=scopes),
        user=UserOut.model_validate(user),
    )


def _verified_refresh_claims(token: str, context: DemoContext) -> Claims:
    """The claims of a refresh token we signed and that has not expired, or a 401."""
    try:
        claims = verify_refresh_token(token, settings=context.jwt_settings)
    except TokenExpiredError:
        raise TokenExpiredError(_REFRESH_EXPIRED) from None
    except InvalidTokenError:
        raise InvalidTokenError(_REFRESH_INVALID) from None
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise InvalidTokenError(_REFRESH_INVALID)  # could not be marked used
    return claims


def _refresh_claims_or_none(token: str, context: DemoContext) -> Claims | None:
    try:
        return _verified_refresh_claims(token, context)
    except InvalidTokenError:
        logger.info("logout: refresh token in the body ignored (does not verify)")
        return None


def _load_user(context: DemoContext, user_id: str) -> User | None:
    with Session(context.engine) as session:
        return load_user(session, user_id)
