"""Typed claims and the app's user in FastAPI: ``ClaimsOf[Model]`` validates the verified
claims once per verified token, ``user_dependency`` loads the user once per request, and
what does not fit is answered with the middleware's own 401, never a 422 or a 500, with a
log line that names the model's fields, never a claim's value or a key the token chose."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from pydantic import ConfigDict as ModelConfig
from starlette.testclient import TestClient

from jwt_middleware import Claims, JWTAuthMiddleware, JWTSettings
from jwt_middleware.fastapi import ClaimsOf, user_dependency
from tests.helpers import SECRET, bearer, mint_token


class TenantClaims(BaseModel):
    sub: str
    tenant: str
    roles: list[str] = []


class StrictClaims(BaseModel):
    model_config = ModelConfig(extra="forbid")

    sub: str
    iat: int
    exp: int


class User(BaseModel):
    id: str
    name: str


USERS = {"alice": User(id="alice", name="Alice")}


class Loader:
    """The app's user loader, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, claims: Claims) -> User | None:
        self.calls += 1
        return USERS.get(str(claims["sub"]))


#: One entry per ``Counted`` made.
MADE: list[int] = []


class Counted(BaseModel):
    sub: str

    def model_post_init(self, context: Any, /) -> None:
        MADE.append(1)


LOADER = Loader()
CurrentUser = Annotated[User, Depends(user_dependency(LOADER))]


def _app(validations: list[str]) -> FastAPI:
    async def audited(claims: ClaimsOf[TenantClaims], user: CurrentUser) -> None:
        validations.append(claims.tenant)

    app = FastAPI()

    @app.get("/tenant")
    async def tenant(claims: ClaimsOf[TenantClaims]) -> dict[str, Any]:
        return {"tenant": claims.tenant, "roles": claims.roles, "model": type(claims).__name__}

    @app.get("/strict")
    async def strict(claims: ClaimsOf[StrictClaims]) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/me", dependencies=[Depends(audited)])
    async def me(user: CurrentUser, again: CurrentUser) -> dict[str, Any]:
        return {"name": user.name, "same": user is again}

    app.add_middleware(JWTAuthMiddleware, settings=JWTSettings(secret=SECRET))
    return app


@pytest.mark.parametrize(
    ("path", "claims", "status", "body"),
    [
        pytest.param(
            "/tenant",
            {"tenant": "acme", "roles": ["admin"]},
            200,
            {"tenant": "acme", "roles": ["admin"], "model": "TenantClaims"},
            id="fits",
        ),
        pytest.param("/tenant", {}, 401, None, id="missing-field"),
        pytest.param("/tenant", {"tenant": ["a"]}, 401, None, id="wrong-type"),
        pytest.param("/strict", {}, 200, {"sub": "alice"}, id="strict-fits"),
        pytest.param("/strict", {"extra": 1}, 401, None, id="strict-extra-claim"),
        pytest.param("/me", {"tenant": "acme"}, 200, {"name": "Alice", "same": True}, id="user"),
    ],
)
def test_claims_fit_the_model_or_the_token_is_refused(
    path: str, claims: dict[str, Any], status: int, body: dict[str, Any] | None
) -> None:
    with TestClient(_app([])) as client:
        answer = client.get(path, headers=bearer(mint_token("alice", **claims)))
    assert answer.status_code == status
    if body is not None:
        assert answer.json() == body
    else:
        assert answer.headers["www-authenticate"].startswith(
            'Bearer realm="api", error="invalid_token"'
        )
        assert answer.json() == {"detail": "The access token is invalid."}


def test_a_user_the_loader_does_not_know_is_refused() -> None:
    with TestClient(_app([])) as client:
        answer = client.get("/me", headers=bearer(mint_token("mallory", tenant="acme")))
    assert answer.status_code == 401
    assert "invalid_token" in answer.headers["www-authenticate"]


def test_no_token_on_a_typed_route_is_a_401_not_a_422() -> None:
    app = _app([])
    with TestClient(app) as client:
        answer = client.get("/tenant")
    assert answer.status_code == 401


def test_a_model_is_validated_once_per_verified_token() -> None:
    """The verified cache hands every request the same claims object: the model made
    from it is made once, and each request gets that same instance."""
    MADE.clear()
    app = FastAPI()
    seen: list[int] = []

    @app.get("/counted")
    async def counted(claims: ClaimsOf[Counted]) -> None:
        seen.append(id(claims))

    app.add_middleware(JWTAuthMiddleware, settings=JWTSettings(secret=SECRET))
    token, other = mint_token("alice"), mint_token("bob")
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/counted", headers=bearer(token)).status_code == 200
        assert client.get("/counted", headers=bearer(other)).status_code == 200
    assert len(MADE) == 2
    assert len(set(seen[:5])) == 1
    assert seen[5] != seen[0]


def test_the_user_is_loaded_once_per_request() -> None:
    validations: list[str] = []
    LOADER.calls = 0
    with TestClient(_app(validations)) as client:
        for _ in range(3):
            answer = client.get("/me", headers=bearer(mint_token("alice", tenant="acme")))
            assert answer.json() == {"name": "Alice", "same": True}
    assert LOADER.calls == 3  # the handler and its dependency asked twice per request
    assert validations == ["acme"] * 3


@pytest.mark.parametrize(
    ("path", "claims", "line"),
    [
        pytest.param(
            "/tenant",
            {"tenant": ["x"]},
            "claims do not fit TenantClaims: string_type at tenant",
            id="wrong-type",
        ),
        pytest.param(
            "/tenant", {}, "claims do not fit TenantClaims: missing at tenant", id="missing"
        ),
        pytest.param(
            "/strict",
            {"secret-looking-key": "hunter2"},
            "claims do not fit StrictClaims: extra_forbidden at <key>",
            id="extra-key-not-named",
        ),
    ],
)
def test_the_log_names_fields_never_values_or_chosen_keys(
    caplog: pytest.LogCaptureFixture, path: str, claims: dict[str, Any], line: str
) -> None:
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with TestClient(_app([])) as client:
        client.get(path, headers=bearer(mint_token("alice", **claims)))
    lines = [record.getMessage() for record in caplog.records]
    assert line in lines
    assert "refused: reason=claims_model" in lines
    assert not any("hunter2" in text or "secret-looking-key" in text for text in lines)


def test_an_unknown_user_is_logged_by_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with TestClient(_app([])) as client:
        client.get("/me", headers=bearer(mint_token("mallory", tenant="acme")))
    assert "refused: reason=user_unknown" in [r.getMessage() for r in caplog.records]


def test_type_checkers_see_the_model() -> None:
    """``ClaimsOf[M]`` is ``Annotated[M, Depends(...)]`` at run time, and ``M`` to mypy
    (this file is checked by mypy --strict: ``claims.tenant`` above would not pass)."""
    alias: Any = ClaimsOf[TenantClaims]
    other: Any = ClaimsOf[StrictClaims]
    again: Any = ClaimsOf[TenantClaims]
    assert alias.__origin__ is TenantClaims
    assert other.__origin__ is StrictClaims
    # One dependency per model: FastAPI's per-request cache shares it.
    assert alias.__metadata__[0].dependency is again.__metadata__[0].dependency
