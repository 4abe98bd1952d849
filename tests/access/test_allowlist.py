"""The public-path allowlist: rule forms, matching, and paths that are never public."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings
from jwt_middleware.access.paths import is_safe_path
from jwt_middleware.access.rules import PublicPathRule, PublicPaths
from tests.helpers import build_app

RULES = PublicPaths(
    [
        "/health",
        "/static/*",
        "GET /posts",
        "GET /posts/*",
        "DELETE /admin/cache",
        re.compile(r"/v\d+/ping"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "public"),
    [
        pytest.param("GET", "/health", True, id="exact"),
        pytest.param("POST", "/health", True, id="exact-any-method"),
        pytest.param(None, "/health", True, id="exact-websocket"),
        pytest.param("GET", "/health/", False, id="exact-trailing-slash"),
        pytest.param("GET", "/health/x", False, id="exact-not-prefix"),
        pytest.param("GET", "/healthz", False, id="exact-longer"),
        pytest.param("GET", "/Health", False, id="case-sensitive"),
        pytest.param("GET", "/static/app.css", True, id="prefix"),
        pytest.param("GET", "/static/css/deep/app.css", True, id="prefix-deep"),
        pytest.param("GET", "/static/", True, id="prefix-dir"),
        pytest.param("GET", "/static", False, id="prefix-root-itself"),
        pytest.param("GET", "/staticfoo", False, id="prefix-sibling"),
        pytest.param("GET", "/posts", True, id="method-get"),
        pytest.param("HEAD", "/posts", True, id="method-head-with-get"),
        pytest.param("POST", "/posts", False, id="method-post"),
        pytest.param(None, "/posts", False, id="method-websocket"),
        pytest.param("GET", "/posts/1/comments", True, id="method-prefix"),
        pytest.param("DELETE", "/posts/1", False, id="method-prefix-other"),
        pytest.param("DELETE", "/admin/cache", True, id="method-delete"),
        pytest.param("HEAD", "/admin/cache", False, id="head-only-with-get"),
        pytest.param("GET", "/v2/ping", True, id="regex"),
        pytest.param("GET", "/v2/ping/x", False, id="regex-fullmatch"),
        pytest.param("GET", "/private", False, id="unlisted"),
    ],
)
def test_rule_forms(method: str | None, path: str, public: bool) -> None:
    assert RULES.is_public(method, path) is public


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        pytest.param("/static/../private", None, id="dotdot"),
        pytest.param("/static/./app.css", None, id="dot"),
        pytest.param("/static//app.css", None, id="empty-segment"),
        pytest.param("//health", None, id="leading-double-slash"),
        pytest.param("/static/..;/private", None, id="dotdot-with-params"),
        pytest.param("/static/a\\..\\private", None, id="backslash"),
        pytest.param("/static/a\x00.css", None, id="nul"),
        pytest.param("/health\n", None, id="newline"),
        pytest.param("/static/../private", b"/static/%2e%2e/private", id="encoded-dots"),
        pytest.param("/static/a/b", b"/static/a%2Fb", id="encoded-slash"),
        pytest.param("/static/a\\b", b"/static/a%5cb", id="encoded-backslash"),
        pytest.param("/static/%2e", b"/static/%252e", id="double-encoded"),
        pytest.param("/static/a.css", b"/static/a%2ecss", id="encoded-dot-anywhere"),
        pytest.param("/static/a.css", b"static/a.css", id="raw-not-absolute"),
        pytest.param("static/a.css", None, id="not-absolute"),
        pytest.param("/v2/ping", b"/v2/ping/../ping", id="raw-dot-segments"),
    ],
)
def test_unsafe_paths_are_never_public(path: str, raw_path: bytes | None) -> None:
    assert not is_safe_path(path, raw_path)
    assert not RULES.is_public("GET", path, raw_path)


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        pytest.param("/static/caf\u00e9.css", b"/static/caf%C3%A9.css", id="utf8-escape"),
        pytest.param("/static/a b.css", b"/static/a%20b.css", id="space-escape"),
        pytest.param("/static/.well-known", b"/static/.well-known", id="dotfile-not-dot-segment"),
        pytest.param("/static/a.css", b"/static/a.css", id="plain"),
    ],
)
def test_harmless_escapes_stay_public(path: str, raw_path: bytes) -> None:
    assert RULES.is_public("GET", path, raw_path)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("health", id="relative"),
        pytest.param("/static/*/x", id="inner-star"),
        pytest.param("/sta*", id="partial-star"),
        pytest.param("*", id="bare-star"),
        pytest.param("/a/../b", id="dot-segment"),
        pytest.param("/a//b", id="empty-segment"),
        pytest.param("get /posts", id="lower-case-method"),
        pytest.param("GET  ", id="method-without-path"),
        pytest.param("/a%2fb", id="percent"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_rules_fail_at_construction(spec: str) -> None:
    with pytest.raises(ValueError, match="public rule"):
        PublicPaths([spec])


def test_rule_types_are_checked() -> None:
    with pytest.raises(TypeError):
        PublicPaths([42])  # type: ignore[list-item]  # a wrong type, on purpose


def test_a_single_string_is_one_rule_not_characters() -> None:
    rules = PublicPaths("/health")
    assert rules.is_public("GET", "/health")
    assert not rules.is_public("GET", "/h")


def test_parsed_rules_are_inspectable() -> None:
    prefix = PublicPathRule.parse("GET /posts/*")
    assert (prefix.path, prefix.prefix, prefix.methods) == (
        None,
        True,
        frozenset({"GET", "HEAD"}),
    )
    exact = PublicPathRule.parse("/health")
    assert (exact.path, exact.prefix, exact.methods) == ("/health", False, None)
    assert PublicPathRule.parse("/").path == "/"
    template = PublicPathRule.parse("/todos/{id}")
    assert (template.path, template.segments) == (None, ("todos", None))


def test_empty_allowlist_protects_everything(settings: JWTSettings) -> None:
    client = TestClient(build_app(settings, public=()))
    assert client.get("/health").status_code == 401
    assert client.get("/static/a.css").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/posts", 200, id="get-public"),
        pytest.param("HEAD", "/posts", 200, id="head-public"),
        pytest.param("POST", "/posts", 401, id="post-protected"),
        pytest.param("GET", "/posts/7", 200, id="get-below-public"),
        pytest.param("DELETE", "/posts/7", 401, id="delete-below-protected"),
        pytest.param("OPTIONS", "/private", 401, id="options-not-special"),
    ],
)
def test_method_rules_through_the_app(
    settings: JWTSettings, method: str, path: str, status: int
) -> None:
    client = TestClient(build_app(settings, public=["GET /posts", "GET /posts/*"]))
    assert client.request(method, path).status_code == status
