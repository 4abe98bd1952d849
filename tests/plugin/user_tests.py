"""A user's test file, made with nothing but the plugin: no ``JWT_*`` variable, no key file.

:mod:`tests.plugin.test_as_a_user` copies it into an empty folder as ``test_app.py`` and
runs pytest there, which finds the plugin through the installed package's entry point; it
is never collected from here (its name does not start with ``test_``).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware
from jwt_middleware.testing import FakeIssuer


def reports_app(issuer: FakeIssuer) -> FastAPI:
    app = FastAPI()

    @app.get("/reports")
    async def reports(request: Request) -> dict[str, str]:
        return {"user": request.state.user_id}

    app.add_middleware(
        JWTAuthMiddleware,
        settings=issuer.settings(audience="reports-api"),
        scopes={"GET /reports": ["reports:read"]},
    )
    return app


def test_reports_need_a_token_with_their_scope_across_a_key_rotation(
    jwt_issuer: FakeIssuer,
) -> None:
    before_rotation = jwt_issuer.mint("bob", scopes=["reports:read"], audience="reports-api")
    with TestClient(reports_app(jwt_issuer)) as client:
        assert client.get("/reports").status_code == 401

        jwt_issuer.as_user(client, "alice", scopes=["reports:read"], audience="reports-api")
        reply = client.get("/reports")
        assert (reply.status_code, reply.json()) == (200, {"user": "alice"})

        jwt_issuer.as_user(client, "alice", scopes=["profile"], audience="reports-api")
        assert client.get("/reports").status_code == 403

        jwt_issuer.rotate_keys()
        jwt_issuer.as_user(client, "alice", scopes=["reports:read"], audience="reports-api")
        assert client.get("/reports").status_code == 200  # a new kid: the keys are refetched
        stale = {"Authorization": f"Bearer {before_rotation}"}
        assert client.get("/reports", headers=stale).status_code == 401  # its key is gone
    # Fetched at start-up and again for the new kid (and maybe once more for the old one).
    assert jwt_issuer.requests.jwks >= 2
