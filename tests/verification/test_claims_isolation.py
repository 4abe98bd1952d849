"""Claims handed to one request can never be changed for another one (issue: the cache
copied claims one level deep, so a nested ``scp`` list was shared between requests).
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.types import FrozenDict, FrozenList, freeze, thaw
from tests.helpers import bearer, mint_token

Mutation = Callable[[Any], object]

MUTATIONS = [
    pytest.param(lambda c: c["scp"].append("admin"), id="append-nested-list"),
    pytest.param(lambda c: c["scp"].extend(["admin"]), id="extend-nested-list"),
    pytest.param(lambda c: c["scp"].insert(0, "admin"), id="insert-nested-list"),
    pytest.param(lambda c: c["scp"].__setitem__(0, "admin"), id="set-list-item"),
    pytest.param(lambda c: c["scp"].__iadd__(["admin"]), id="iadd-nested-list"),
    pytest.param(lambda c: c["scp"].__imul__(2), id="imul-nested-list"),
    pytest.param(lambda c: c["scp"].pop(), id="pop-nested-list"),
    pytest.param(lambda c: c["scp"].remove("read"), id="remove-nested-list"),
    pytest.param(lambda c: c["scp"].clear(), id="clear-nested-list"),
    pytest.param(lambda c: c["scp"].sort(), id="sort-nested-list"),
    pytest.param(lambda c: c["scp"].reverse(), id="reverse-nested-list"),
    pytest.param(lambda c: c["scp"].__delitem__(0), id="del-list-item"),
    pytest.param(lambda c: c["realm_access"]["roles"].append("admin"), id="append-deep-list"),
    pytest.param(lambda c: c["realm_access"].__setitem__("roles", ["admin"]), id="set-deep-key"),
    pytest.param(lambda c: c.__setitem__("sub", "mallory"), id="set-top-key"),
    pytest.param(lambda c: c.__delitem__("email"), id="del-top-key"),
    pytest.param(lambda c: c.update(sub="mallory"), id="update"),
    pytest.param(lambda c: c.setdefault("admin", True), id="setdefault"),
    pytest.param(lambda c: c.pop("email"), id="pop-key"),
    pytest.param(lambda c: c.popitem(), id="popitem"),
    pytest.param(lambda c: c.clear(), id="clear"),
    pytest.param(lambda c: c.__ior__({"sub": "mallory"}), id="ior"),
]

CLAIMS: dict[str, Any] = {
    "scp": ["read"],
    "realm_access": {"roles": ["user"]},
    "email": "a@example.com",
}


def _app(settings: JWTSettings, mutation: Mutation) -> Starlette:
    async def tamper(request: Request) -> JSONResponse:
        try:
            mutation(request.state.claims)
        except TypeError:
            changed = False
        else:
            changed = True
        return JSONResponse({"changed": changed})

    async def look(request: Request) -> JSONResponse:
        return JSONResponse(
            {"claims": thaw(request.state.claims), "scopes": list(request.auth.scopes)}
        )

    @requires("admin")
    async def admin(request: Request) -> JSONResponse:
        return JSONResponse({"admin": True})

    app = Starlette(routes=[Route("/tamper", tamper), Route("/look", look), Route("/admin", admin)])
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    return app


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_handler_cannot_change_what_the_next_request_sees(
    settings: JWTSettings, mutation: Mutation
) -> None:
    client = TestClient(_app(settings, mutation))
    headers = bearer(mint_token("alice", **CLAIMS))
    before = client.get("/look", headers=headers).json()

    assert client.get("/tamper", headers=headers).json() == {"changed": False}

    after = client.get("/look", headers=headers).json()
    assert after == before
    assert after["claims"]["scp"] == ["read"]
    assert after["scopes"] == ["authenticated", "read"]
    assert client.get("/admin", headers=headers).status_code == 403


def test_scopes_a_handler_adds_stay_in_its_own_request(settings: JWTSettings) -> None:
    async def grant(request: Request) -> JSONResponse:
        request.auth.scopes.append("admin")  # its own list, made for this request
        return JSONResponse({"scopes": request.auth.scopes})

    @requires("admin")
    async def admin(request: Request) -> JSONResponse:
        return JSONResponse({"admin": True})

    app = Starlette(routes=[Route("/grant", grant), Route("/admin", admin)])
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    client = TestClient(app)
    headers = bearer(mint_token("alice", scope="read"))
    assert client.get("/grant", headers=headers).json()["scopes"][-1] == "admin"
    assert client.get("/admin", headers=headers).status_code == 403


def test_verified_claims_are_read_only_from_the_first_verification(
    settings: JWTSettings,
) -> None:
    claims = TokenVerifier(settings).verify(mint_token("alice", **CLAIMS))
    assert isinstance(claims, FrozenDict)
    assert isinstance(claims["scp"], FrozenList)
    assert isinstance(claims["realm_access"], FrozenDict)
    with pytest.raises(TypeError, match="read-only"):
        claims["realm_access"]["roles"].append("admin")


@pytest.mark.parametrize(
    "make_copy",
    [
        pytest.param(copy.deepcopy, id="deepcopy"),
        pytest.param(thaw, id="thaw"),
        pytest.param(lambda c: pickle.loads(pickle.dumps(c)), id="pickle"),  # noqa: S301
    ],
)
def test_a_copy_is_plain_and_mutable(make_copy: Callable[[Any], Any]) -> None:
    frozen = freeze({"sub": "u", "scp": ["read"], "nested": {"roles": ["user"]}})
    mutable = make_copy(frozen)
    mutable["scp"].append("write")
    mutable["nested"]["roles"].append("admin")
    assert type(mutable) is dict
    assert type(mutable["scp"]) is list
    assert frozen == {"sub": "u", "scp": ["read"], "nested": {"roles": ["user"]}}


def test_frozen_claims_behave_as_json_dict_and_list() -> None:
    plain = {"sub": "u", "scp": ["read", "write"], "n": {"a": [1, {"b": None}]}}
    frozen = freeze(plain)
    assert frozen == plain
    assert isinstance(frozen, dict)
    assert isinstance(frozen["scp"], list)
    assert json.loads(json.dumps(frozen)) == plain
    assert copy.copy(frozen) == plain
    assert type(copy.copy(frozen)) is dict


def _containers(value: Any) -> list[Any]:
    """Every dict and list in ``value``, itself included (iteratively: claims nest deep)."""
    found: list[Any] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            pending.extend(item)
    return found


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"email": "a@example.com"}, id="no-list"),
        pytest.param({"groups": ["a", "b"], "scp": ["read"]}, id="top-level-lists"),
        pytest.param({"groups": [["a"], "b"]}, id="list-in-a-list"),
        pytest.param({"groups": ["a", {"b": 1}]}, id="object-in-a-list"),
        pytest.param({"realm_access": {"roles": ["a"]}}, id="list-in-an-object"),
        pytest.param({"note": "a [ in a string", "groups": [["a"]]}, id="bracket-in-a-string"),
        pytest.param({"note": "[", "groups": []}, id="bracket-and-an-empty-list"),
    ],
)
def test_every_list_and_object_of_the_claims_is_read_only(
    settings: JWTSettings, claims: dict[str, Any]
) -> None:
    """Whichever way the verifier freezes them (whole top-level lists, or item by item)."""
    verified = TokenVerifier(settings).verify(mint_token("alice", **claims))
    assert {name: verified[name] for name in claims} == claims
    for container in _containers(verified):
        assert type(container) in (FrozenDict, FrozenList)
