"""The fake provider's opaque tokens and its RFC 7662 introspection endpoint: through the
middleware (found by discovery, as a real provider's is), and at the endpoint itself (its
client authentication and the requests it refuses).

The middleware's side of introspection is tested against an endpoint in memory
(``tests/verification/test_introspection.py``) and against oidc-provider
(``tests/oidc/test_introspection_provider.py``); here, that the fake provider answers as
they do, so that a user's tests of opaque tokens mean what they say.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from jwt_middleware.testing import FakeIssuer
from tests.helpers import bearer, build_app

SCOPES = {"/posts/*": ["posts:write"]}


def get(issuer: FakeIssuer, token: str | None, path: str = "/private", **values: Any) -> Any:
    """The answer of a fresh app that introspects at ``issuer`` (``values`` as for
    ``issuer.settings``)."""
    app = build_app(issuer.settings(introspection=True, **values), scopes=SCOPES)
    with TestClient(app) as client:
        return client.get(path, headers=bearer(token) if token else {})


def introspect(issuer: FakeIssuer, token: str) -> httpx.Response:
    """The endpoint's answer for ``token``, asked as its client (``client_secret_basic``)."""
    credentials = (issuer.introspection_client_id, issuer.introspection_client_secret)
    return httpx.post(issuer.introspection_url, data={"token": token}, auth=credentials)


def revoked(issuer: FakeIssuer) -> str:
    token = issuer.mint_opaque("u", scopes=["posts:write"])
    issuer.revoke(token)
    return token


@pytest.mark.parametrize(
    ("token", "path", "status"),
    [
        pytest.param(lambda i: i.mint_opaque("u"), "/private", 200, id="live"),
        pytest.param(
            lambda i: i.mint_opaque("u", scopes=["posts:write"]), "/posts/1", 200, id="scope"
        ),
        pytest.param(
            lambda i: i.mint_opaque("u", scopes=["posts:read"]), "/posts/1", 403, id="no-scope"
        ),
        pytest.param(revoked, "/posts/1", 401, id="revoked"),
        pytest.param(lambda i: i.mint_opaque("u", expires_in=-1), "/private", 401, id="expired"),
        pytest.param(lambda i: secrets.token_urlsafe(32), "/private", 401, id="never-minted"),
        pytest.param(
            lambda i: i.mint_opaque("u", audience="other"), "/private", 401, id="audience"
        ),
        pytest.param(
            lambda i: i.mint_opaque("u", iss="http://127.0.0.1:9"), "/private", 401, id="issuer"
        ),
        pytest.param(
            lambda i: i.mint_opaque("u", token_type="refresh_token"), "/private", 401, id="refresh"
        ),
        pytest.param(
            lambda i: i.mint_opaque("u", nbf=int(time.time()) + 600), "/private", 401, id="nbf"
        ),
    ],
)
def test_opaque_tokens_are_held_to_its_answer_and_the_settings(
    jwt_issuer: FakeIssuer, token: Callable[[FakeIssuer], str], path: str, status: int
) -> None:
    reply = get(jwt_issuer, token(jwt_issuer), path)
    assert reply.status_code == status
    if status == 200:
        assert reply.json()["user_id"] == "u"
    # Discovery once at start-up names the endpoint, which is asked once for the token.
    assert jwt_issuer.requests == (1, 1, 1)


def test_no_token_asks_nothing_of_the_endpoint(jwt_issuer: FakeIssuer) -> None:
    assert get(jwt_issuer, None).status_code == 401
    assert jwt_issuer.requests.introspection == 0


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_either_client_authentication_is_answered(jwt_issuer: FakeIssuer, method: str) -> None:
    token = jwt_issuer.mint_opaque("alice", scopes=["posts:write"])
    reply = get(jwt_issuer, token, "/posts/1", introspection_auth_method=method)
    assert (reply.status_code, reply.json()["scopes"]) == (200, ["authenticated", "posts:write"])


def test_wrong_client_credentials_make_the_middleware_answer_503(jwt_issuer: FakeIssuer) -> None:
    wrong = "a-secret-the-provider-never-made-0123456789"
    reply = get(jwt_issuer, jwt_issuer.mint_opaque("u"), introspection_client_secret=wrong)
    # The endpoint answered 401: the token may be valid, so not 401 here (docs/introspection.md).
    assert (reply.status_code, "retry-after" in reply.headers) == (503, True)
    assert jwt_issuer.requests.introspection == 1


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param(lambda i: i.outage(), id="outage"),
        pytest.param(lambda i: i.slow(1.0), id="slower-than-the-timeout"),
    ],
)
def test_its_outages_reach_introspection(
    jwt_issuer: FakeIssuer, condition: Callable[[FakeIssuer], Any]
) -> None:
    token = jwt_issuer.mint_opaque("u")
    settings = jwt_issuer.settings(introspection=True, introspection_timeout_seconds=0.3)
    with TestClient(build_app(settings)) as client:
        with condition(jwt_issuer):
            assert client.get("/private", headers=bearer(token)).status_code == 503
        assert client.get("/private", headers=bearer(token)).status_code == 200  # not cached
    assert jwt_issuer.requests.introspection == 2


def test_a_revocation_is_seen_once_the_remembered_answer_ends(jwt_issuer: FakeIssuer) -> None:
    token = jwt_issuer.mint_opaque("u")
    settings = jwt_issuer.settings(introspection=True, introspection_cache_seconds=0.2)
    with TestClient(build_app(settings)) as client:
        assert client.get("/private", headers=bearer(token)).status_code == 200
        jwt_issuer.revoke(token)
        assert client.get("/private", headers=bearer(token)).status_code == 200  # remembered
        time.sleep(0.3)
        assert client.get("/private", headers=bearer(token)).status_code == 401
    assert jwt_issuer.requests.introspection == 2


def test_its_jwts_introspect_to_their_own_payload(jwt_issuer: FakeIssuer) -> None:
    token, gone = jwt_issuer.mint("alice", scopes=["posts:write"]), jwt_issuer.mint("bob")
    jwt_issuer.revoke(gone)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert introspect(jwt_issuer, token).json() == {
        "active": True,
        "token_type": "Bearer",
        **payload,
    }
    assert get(jwt_issuer, token, "/posts/1", introspect_all_tokens=True).status_code == 200
    assert get(jwt_issuer, gone, introspect_all_tokens=True).status_code == 401
    assert get(jwt_issuer, gone).status_code == 200  # verified locally: the provider not asked


def test_as_user_sends_an_opaque_token(jwt_issuer: FakeIssuer) -> None:
    app = build_app(jwt_issuer.settings(introspection=True), scopes=SCOPES)
    with TestClient(app) as client:
        jwt_issuer.as_user(client, "alice", scopes=["posts:write"], opaque=True)
        assert "." not in client.headers["Authorization"]
        assert client.get("/posts/1").json()["user_id"] == "alice"


def test_its_tokens_outlive_a_reset_and_the_expired_are_dropped() -> None:
    with FakeIssuer() as issuer:
        live = issuer.mint_opaque("u", expires_in=600)
        issuer.reset()
        expired = [issuer.mint_opaque("u", expires_in=-1) for _ in range(1100)]
        assert introspect(issuer, live).json()["active"] is True
        assert introspect(issuer, expired[-1]).json() == {"active": False}
        assert len(issuer._introspection) < 1000  # the table does not grow with them


# --- at the endpoint ------------------------------------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


#: How a request to the endpoint is sent, given the provider and a live token it minted:
#: ``httpx.request``'s arguments (the method and URL are POST and the endpoint unless given).
Sent = Callable[[FakeIssuer, str], dict[str, Any]]


def as_client(how: str, *, secret: str | None = None, client_id: str | None = None) -> Sent:
    def sent(issuer: FakeIssuer, token: str) -> dict[str, Any]:
        pair = (
            client_id or issuer.introspection_client_id,
            secret or issuer.introspection_client_secret,
        )
        if how == "basic":
            return {"headers": basic(*pair), "data": {"token": token}}
        return {"data": {"token": token, "client_id": pair[0], "client_secret": pair[1]}}

    return sent


def raw_form(content: Callable[[str], bytes]) -> Sent:
    """A body of ``content(token)`` as is, sent by the client with its right credentials."""

    def sent(issuer: FakeIssuer, token: str) -> dict[str, Any]:
        pair = (issuer.introspection_client_id, issuer.introspection_client_secret)
        return {"headers": basic(*pair), "content": content(token)}

    return sent


@pytest.mark.parametrize(
    ("sent", "status", "error"),
    [
        pytest.param(as_client("basic"), 200, None, id="basic"),
        pytest.param(as_client("post"), 200, None, id="post"),
        pytest.param(as_client("basic", secret="wrong"), 401, "invalid_client", id="basic-secret"),
        pytest.param(as_client("basic", client_id="else"), 401, "invalid_client", id="basic-id"),
        pytest.param(as_client("post", secret="wrong"), 401, "invalid_client", id="post-secret"),
        pytest.param(lambda i, t: {"data": {"token": t}}, 401, "invalid_client", id="none"),
        pytest.param(
            lambda i, t: {"headers": {"Authorization": "Basic !!"}, "data": {"token": t}},
            401,
            "invalid_client",
            id="basic-not-base64",
        ),
        pytest.param(
            lambda i, t: {"headers": {"Authorization": f"Bearer {t}"}, "data": {"token": t}},
            401,
            "invalid_client",
            id="bearer-not-a-client",
        ),
        pytest.param(
            lambda i, t: {**as_client("basic")(i, t), **as_client("post")(i, t)},
            400,
            "invalid_request",
            id="two-methods",
        ),
        pytest.param(
            lambda i, t: {**as_client("basic")(i, t), "data": {}},
            400,
            "invalid_request",
            id="no-token",
        ),
        pytest.param(
            raw_form(lambda t: f"token={t}&token=x".encode()), 400, "invalid_request", id="twice"
        ),
        pytest.param(raw_form(lambda t: b"\xff\xfe"), 400, "invalid_request", id="not-utf8"),
        pytest.param(raw_form(lambda t: t.encode()), 400, "invalid_request", id="not-a-form"),
        pytest.param(
            raw_form(lambda t: b"token=" + b"t" * 70_000), 413, "invalid_request", id="oversized"
        ),
        pytest.param(lambda i, t: {"method": "GET"}, 405, "method_not_allowed", id="get"),
        pytest.param(
            lambda i, t: {"url": i.jwks_url, "data": {"token": t}},
            405,
            "method_not_allowed",
            id="post-to-the-key-set",
        ),
    ],
)
def test_the_endpoint_answers_its_client_alone(
    jwt_issuer: FakeIssuer, sent: Sent, status: int, error: str | None
) -> None:
    token = jwt_issuer.mint_opaque("alice", scopes=["a", "b"], tenant="t1")
    request = {"method": "POST", "url": jwt_issuer.introspection_url, **sent(jwt_issuer, token)}
    reply = httpx.request(**request)
    assert reply.status_code == status
    assert reply.headers["cache-control"] == "no-store"
    if error is None:
        answer = reply.json()
        assert (answer["active"], answer["sub"], answer["scope"]) == (True, "alice", "a b")
        assert (answer["tenant"], answer["aud"], answer["iss"]) == ("t1", "api", jwt_issuer.url)
    else:
        assert reply.json() == {"error": error}
        assert token not in reply.text
    if status == 401:
        assert reply.headers["www-authenticate"] == 'Basic realm="fake"'
    at_the_endpoint = request["url"] == jwt_issuer.introspection_url
    assert jwt_issuer.requests.introspection == (1 if at_the_endpoint else 0)


def test_its_metadata_names_the_endpoint_and_how_to_authenticate(jwt_issuer: FakeIssuer) -> None:
    metadata = httpx.get(jwt_issuer.url + "/.well-known/openid-configuration").json()
    assert metadata["introspection_endpoint"] == jwt_issuer.url + "/introspect"
    assert metadata["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
