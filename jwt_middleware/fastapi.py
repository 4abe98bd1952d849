"""FastAPI: the verified identity for handlers, route-level scopes, and the OpenAPI document.

``def handler(user_id: CurrentUserId)`` reads ``request.state.user_id``; the token is not
verified a second time, and the dependencies are ``async``, so they cost what reading the
state costs (no thread-pool hop). ``claims: ClaimsOf[MyClaims]`` hands a handler the
verified claims as a Pydantic model, validated once per verified token, and
:func:`user_dependency` the app's own user, loaded once per request (see
:mod:`jwt_middleware.typed_claims`). ``RequireScopes`` declares on a route what its token must
have; :func:`document_security` writes the middleware's policy into the OpenAPI document.
Needs the ``fastapi`` extra.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from .access.policy import (
    REQUIREMENT_ATTRIBUTE,
    Access,
    AccessPolicy,
    Requirement,
    check_connection,
)
from .access.routes import decision_for
from .errors import MissingTokenError
from .report import policy_of
from .typed_claims import claims_as, user_of
from .types import Claims

__all__ = [
    "ClaimsOf",
    "CurrentClaims",
    "CurrentUserId",
    "RequireScopes",
    "document_security",
    "user_dependency",
]

M = TypeVar("M", bound=BaseModel)
U = TypeVar("U")

_OPERATIONS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})
_DETAIL_SCHEMA: Final = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
    }
}


async def current_user_id(connection: HTTPConnection) -> str:
    """The verified ``sub`` (see :func:`jwt_middleware.user.current_user_id`)."""
    user_id = connection.scope.get("state", {}).get("user_id")
    if not isinstance(user_id, str):
        raise MissingTokenError
    return user_id


async def current_claims(connection: HTTPConnection) -> Claims:
    """All verified claims; 401 like :func:`current_user_id`."""
    claims: Claims | None = connection.scope.get("state", {}).get("claims")
    if claims is None:
        raise MissingTokenError
    return claims


CurrentUserId = Annotated[str, Depends(current_user_id)]
CurrentClaims = Annotated[Claims, Depends(current_claims)]


@cache
def _claims_dependency(model: type[M]) -> Callable[[HTTPConnection], Awaitable[M]]:
    """One dependency per model, so FastAPI's per-request cache shares it between the
    handler and its other dependencies."""

    async def claims_of(connection: HTTPConnection) -> M:
        return claims_as(connection, model)

    return claims_of


if TYPE_CHECKING:
    #: ``claims: ClaimsOf[MyClaims]``: the verified claims as ``MyClaims`` (a Pydantic
    #: model), validated once per verified token; claims that do not fit are answered 401.
    ClaimsOf = Annotated[M, "the verified claims"]
else:

    class ClaimsOf:
        """``claims: ClaimsOf[MyClaims]``: the verified claims as ``MyClaims`` (a Pydantic
        model), validated once per verified token; claims that do not fit are answered
        401 ``invalid_token``, with the reason in the log (see
        :func:`jwt_middleware.typed_claims.claims_as`). Type checkers see ``MyClaims``."""

        def __class_getitem__(cls, model: type[BaseModel]) -> Any:
            return Annotated[model, Depends(_claims_dependency(model))]


def user_dependency(
    load_user: Callable[[Claims], Awaitable[U | None]],
) -> Callable[[HTTPConnection], Awaitable[U]]:
    """A dependency that hands a handler the app's user for the verified claims::

        async def load_user(claims: Claims) -> User | None: ...

        CurrentUser = Annotated[User, Depends(user_dependency(load_user))]

    ``load_user`` runs at most once per request, however many dependencies ask; ``None``
    (a token that outlived its account) is answered 401 (see
    :func:`jwt_middleware.typed_claims.user_of`)."""

    async def current_user(connection: HTTPConnection) -> U:
        return await user_of(connection, load_user)

    return current_user


class RequireScopes:
    """A route's requirement, as a FastAPI dependency::

        @app.post("/todos", dependencies=[Depends(RequireScopes("todos:write"))])

    The middleware reads it from the app's routes at start-up and answers a token without
    the scopes with 403 ``insufficient_scope`` before the handler runs, as for a
    ``scopes=`` rule; the dependency checks again when the route runs. ``acr_values`` and
    ``max_age`` ask for step-up authentication (RFC 9470).
    """

    def __init__(
        self, *scopes: str, acr_values: Iterable[str] | None = None, max_age: int | None = None
    ) -> None:
        self.requirement = Requirement(
            frozenset(scopes), tuple(acr_values) if acr_values is not None else None, max_age
        )
        setattr(self, REQUIREMENT_ATTRIBUTE, self.requirement)

    async def __call__(self, connection: HTTPConnection) -> None:
        check_connection(connection, self.requirement)

    def __repr__(self) -> str:
        return f"RequireScopes({', '.join(sorted(self.requirement.scopes))})"


def document_security(
    app: FastAPI,
    *,
    oauth2_flows: dict[str, dict[str, Any]] | None = None,
    descriptions: dict[str, str] | None = None,
) -> None:
    """Write the middleware's policy into ``app``'s OpenAPI document.

    Each operation gets the security its requests really need, taken from the same policy
    that answers them (the middleware's ``public``/``optional``/``scopes`` rules and the
    routes' own declarations): none for public ones, "anonymous or a token" for optional
    ones, a bearer token with its scopes otherwise, with the 401 (and 403) it may answer.
    The security schemes are a bearer token, and an OAuth 2.0 scheme when ``oauth2_flows``
    are given (an OpenAPI ``flows`` object, without ``scopes``, which are filled in from the
    policy), so that Swagger UI's *Authorize* button works. ``descriptions`` describe scopes.
    """
    scheme_names = ["BearerToken", *(["OAuth2"] if oauth2_flows else [])]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            policy = policy_of(app)
            _add_schemes(schema, policy, oauth2_flows, descriptions or {})
            for path, item in schema.get("paths", {}).items():
                for method, operation in item.items():
                    if method in _OPERATIONS:
                        _secure(operation, policy, method.upper(), path, scheme_names)
            app.openapi_schema = schema
        return app.openapi_schema

    # FastAPI's documented way to customise the schema is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]


def _add_schemes(
    schema: dict[str, Any],
    policy: AccessPolicy,
    flows: dict[str, dict[str, Any]] | None,
    descriptions: dict[str, str],
) -> None:
    schemes: dict[str, Any] = {
        "BearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    if flows:
        scopes = {scope: descriptions.get(scope, "") for scope in policy.scopes_supported}
        schemes["OAuth2"] = {
            "type": "oauth2",
            "flows": {name: {**flow, "scopes": scopes} for name, flow in flows.items()},
        }
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)


def _secure(
    operation: dict[str, Any],
    policy: AccessPolicy,
    method: str,
    path: str,
    schemes: list[str],
) -> None:
    decision = decision_for(policy, method, path)
    if decision.access is Access.PUBLIC:
        operation.pop("security", None)
        return
    scopes = sorted(decision.requirement.scopes)
    security: list[dict[str, list[str]]] = [{name: scopes} for name in schemes]
    if decision.access is Access.OPTIONAL:
        security.insert(0, {})  # anonymous is fine too
    operation["security"] = security
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "401",
        {"description": "Missing, invalid or expired bearer token.", "content": _DETAIL_SCHEMA},
    )
    if scopes:
        responses.setdefault(
            "403",
            {
                "description": "The token lacks a scope: " + ", ".join(scopes) + ".",
                "content": _DETAIL_SCHEMA,
            },
        )
