"""A path that is not canonical is refused with 400 before any token is looked at, and a
method in lower case needs what its upper-case form needs: through hand-written ASGI
scopes here, on real servers in ``tests/wire/test_normalised_paths.py``.
"""

from __future__ import annotations

import pytest

from jwt_middleware.access.policy import Access, AccessPolicy
from tests.access import apps
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import SECRET_FILE, bearer, build_app, build_files_app, mint_token
from tests.public_paths import NOT_CANONICAL

PLAIN = scope_headers(bearer(mint_token("user-1", scope="files:read")))


#: The decoded path StaticFiles would serve ``secret/x.txt`` for.
DOTS = "/files/public/../secret/x.txt"


@pytest.mark.parametrize(
    ("path", "raw_path", "root_path"),
    [
        pytest.param(DOTS, None, "", id="dot-dot"),
        pytest.param(DOTS, b"/files/public/%2e%2e/secret/x.txt", "", id="encoded-dot-dot"),
        pytest.param("/files//secret/x.txt", b"/files//secret/x.txt", "", id="empty-segment"),
        pytest.param("/files/./secret/x.txt", b"/files/./secret/x.txt", "", id="dot-segment"),
        pytest.param(DOTS, b"/files/public%2F..%2Fsecret/x.txt", "", id="encoded-slashes"),
        pytest.param("/files/./secret/x.txt", b"/files/%2e/secret/x.txt", "", id="encoded-dot"),
        # Behind a path-stripping proxy (uvicorn --root-path): the rules and the check see
        # the path relative to the app, and raw_path is what the client sent.
        pytest.param("/prefix" + DOTS, DOTS.encode(), "/prefix", id="root-path"),
    ],
)
def test_a_valid_token_cannot_walk_around_a_scope_rule(
    path: str, raw_path: bytes | None, root_path: str
) -> None:
    app = build_files_app(apps.SETTINGS)
    scope = http_scope(path, raw_path=raw_path, root_path=root_path, headers=PLAIN)
    answer = call(app, scope)

    assert (answer.status, answer.json()) == (400, {"detail": NOT_CANONICAL})
    assert SECRET_FILE not in answer.body


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/a/../b", 400, id="dot-dot"),
        pytest.param("/private/", 307, id="trailing-slash-is-canonical"),
        pytest.param("/private", 200, id="canonical"),
    ],
)
def test_without_any_requirement_rule_too(path: str, status: int) -> None:
    """Stricter than needed where no rule could be walked around: one behaviour for every
    policy, and for rules an app declares later or checks itself."""
    app = build_app(apps.SETTINGS)
    headers = scope_headers(bearer(mint_token("user-1")))
    assert call(app, http_scope(path, raw_path=path.encode(), headers=headers)).status == status


def test_a_public_path_is_never_refused() -> None:
    """Only a canonical path can be public, so the refusal never takes a public one."""
    policy = AccessPolicy(public=["/static/*"], scopes={"/admin/*": ["admin"]})
    assert policy.decide("GET", "/static/a.css", b"/static/a.css").access is Access.PUBLIC
    assert policy.decide("GET", "/static/../a", b"/static/../a").access is Access.REFUSED


POLICY = AccessPolicy(
    public=["GET /posts/*"],
    optional=["GET /feed"],
    scopes={"GET /legacy/report": ["reports:read"], "DELETE /todos/*": ["todos:delete"]},
)


@pytest.mark.parametrize(
    ("method", "path", "access", "scopes"),
    [
        pytest.param("get", "/legacy/report", Access.TOKEN, {"reports:read"}, id="get"),
        pytest.param("Get", "/legacy/report", Access.TOKEN, {"reports:read"}, id="mixed-case"),
        pytest.param("head", "/legacy/report", Access.TOKEN, {"reports:read"}, id="head"),
        pytest.param("delete", "/todos/1", Access.TOKEN, {"todos:delete"}, id="delete"),
        pytest.param("get", "/posts/1", Access.TOKEN, set(), id="public-rule-not-for-get"),
        pytest.param("get", "/feed", Access.TOKEN, set(), id="optional-rule-not-for-get"),
        pytest.param("GET", "/posts/1", Access.PUBLIC, set(), id="public-rule-for-GET"),
    ],
)
def test_a_lower_case_method_needs_what_its_upper_case_form_needs(
    method: str, path: str, access: Access, scopes: set[str]
) -> None:
    """Methods are case-sensitive (RFC 9110), but an app further on may upper-case them:
    a requirement for GET holds for ``get``; a public or optional rule for GET does not
    make ``get`` public (failing closed: it needs a token)."""
    decision = POLICY.decide(method, path, path.encode())
    assert decision.access is access
    assert decision.requirement.scopes == scopes


@pytest.mark.parametrize(
    ("method", "status"),
    [
        pytest.param("get", 403, id="lower-case"),
        pytest.param("gEt", 403, id="mixed-case"),
        pytest.param("GET", 403, id="upper-case"),
    ],
)
def test_a_lower_case_method_does_not_slip_into_a_mounted_app(method: str, status: int) -> None:
    app = build_files_app(apps.SETTINGS)
    answer = call(
        app, http_scope("/legacy/report", method=method, raw_path=b"/legacy/report", headers=PLAIN)
    )
    assert answer.status == status
