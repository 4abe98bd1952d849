"""Method rules of the allowlist (``GET /posts/*``) on the wire, and a method in lower case."""

from __future__ import annotations

import pytest

from tests.wire.exchange import CHALLENGE, exchange
from tests.wire.peers import REFUSAL_BODY, by_server

METHOD_CASES = [
    pytest.param("GET", "/posts/1", 200, id="get-below-method-rule"),
    pytest.param("HEAD", "/posts/1", 200, id="head-with-get-rule"),
    pytest.param("POST", "/posts/1", 401, id="post-below-get-rule"),
    pytest.param("DELETE", "/posts/1", 401, id="delete-below-get-rule"),
    pytest.param("GET", "/posts", 401, id="get-the-prefix-itself"),
    pytest.param("GET", "/posts/%2e%2e/private", 400, id="get-encoded-dot-dot"),
    pytest.param("OPTIONS", "/private", 401, id="options-protected"),
    pytest.param("POST", "/health", 405, id="post-exact-rule-any-method"),
]


@pytest.mark.parametrize(("method", "target", "status"), METHOD_CASES)
def test_method_rules_without_token(protected: str, method: str, target: str, status: int) -> None:
    reply = exchange(protected, f"{method} {target} HTTP/1.1", [("Content-Length", "0")])

    assert reply.status == status
    if status == 401:
        assert reply.header("WWW-Authenticate") == CHALLENGE


#: 'get' is not 'GET' (RFC 9110 9.1: methods are case-sensitive). httptools refuses it;
#: h11 and granian pass it on as it is, and the GET rule ignores it; hypercorn upper-cases
#: it, so the app, its router and the rule all see GET and the public path is answered.
LOWER_CASE_GET = by_server(
    httptools=(400, None), h11=(401, "get"), hypercorn=(200, "GET"), granian=(401, "get")
)


def test_lower_case_method(protected: str, echo: str, server: str) -> None:
    status, delivered = LOWER_CASE_GET[server]

    reply = exchange(protected, "get /posts/1 HTTP/1.1")
    seen = exchange(echo, "get /posts/1 HTTP/1.1")

    assert reply.status == status
    if delivered is None:
        assert (seen.status, seen.body) == (400, REFUSAL_BODY[server])
    else:
        assert (seen.status, seen.json()["method"]) == (200, delivered)
    if status == 200:
        assert reply.json()["user_id"] is None
