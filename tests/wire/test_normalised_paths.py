"""A scope rule on StaticFiles, and a method rule on an app that upper-cases methods, cannot
be walked around on any real server: the rules match the path and method as written, the app
behind normalises them, so a path that is not canonical is refused (400) before the token is
looked at, and ``get`` needs what ``GET`` needs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jwt_middleware import JWTSettings
from tests.helpers import SECRET_FILE, bearer, build_files_app, mint_token
from tests.public_paths import NOT_CANONICAL
from tests.wire.exchange import CHALLENGE, exchange, expected_challenge
from tests.wire.peers import REFUSAL_BODY, by_server, serve_on

#: A token without ``files:secret`` or ``reports:read``, and one with both.
PLAIN = [*bearer(mint_token("user-1", scope="files:read")).items()]
ENTITLED = [*bearer(mint_token("user-1", scope="files:secret reports:read")).items()]
#: Every server delivers each of these as it is (none normalises or refuses them), and
#: StaticFiles would serve each one from ``secret/``.
WALKAROUNDS = [
    pytest.param("/files/public/../secret/x.txt", id="dot-dot"),
    pytest.param("/files/public/%2e%2e/secret/x.txt", id="encoded-dot-dot"),
    pytest.param("/files/public/%2E%2E/secret/x.txt", id="encoded-dot-dot-upper"),
    pytest.param("/files//secret/x.txt", id="empty-segment"),
    pytest.param("/files/./secret/x.txt", id="dot-segment"),
    pytest.param("/files/public%2F..%2Fsecret/x.txt", id="encoded-slashes"),
    pytest.param("/files/%2e/secret/x.txt", id="encoded-dot-segment"),
    pytest.param("/files/public/..%2fsecret/x.txt", id="dot-dot-encoded-slash"),
    pytest.param("/files/secret/./x.txt", id="dot-segment-below-the-rule"),
]


@pytest.fixture(scope="module")
def files(
    module_settings: JWTSettings, server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """:func:`tests.helpers.build_files_app` on the server under test."""
    app = build_files_app(module_settings)
    workdir = tmp_path_factory.mktemp("files")
    with serve_on(server, app, factory="tests.wire.apps:files_app", workdir=workdir) as base:
        yield base


@pytest.mark.parametrize("target", WALKAROUNDS)
@pytest.mark.parametrize("headers", [PLAIN, []], ids=["token-without-scope", "no-token"])
def test_dot_segments_do_not_walk_around_a_scope_rule(
    files: str, target: str, headers: list[tuple[str, str]]
) -> None:
    reply = exchange(files, f"GET {target} HTTP/1.1", headers)

    assert SECRET_FILE not in reply.body
    assert reply.status == 400
    assert reply.json() == {"detail": NOT_CANONICAL}
    assert reply.header("WWW-Authenticate") == expected_challenge("invalid_request", NOT_CANONICAL)


@pytest.mark.parametrize(
    ("target", "headers", "status"),
    [
        pytest.param("/files/secret/x.txt", ENTITLED, 200, id="secret-with-the-scope"),
        pytest.param("/files/secret/x.txt", PLAIN, 403, id="secret-without-the-scope"),
        pytest.param("/files/secret/x.txt", [], 401, id="secret-without-a-token"),
        pytest.param("/files/public/notes.txt", PLAIN, 200, id="public-file-with-a-token"),
    ],
)
def test_the_scope_rule_itself(
    files: str, target: str, headers: list[tuple[str, str]], status: int
) -> None:
    """What the walk-arounds would have had to beat: the rule holds for the path as named."""
    reply = exchange(files, f"GET {target} HTTP/1.1", headers)

    assert reply.status == status
    assert (SECRET_FILE in reply.body) == (status == 200 and "secret" in target)


#: ``get`` as each server delivers it: httptools refuses it; h11 and granian pass it on as it
#: is, and the app behind upper-cases it; hypercorn upper-cases it itself. Either way the
#: ``GET /legacy/report`` rule applies.
LOWER_CASE_GET = by_server(httptools=None, h11="get", hypercorn="GET", granian="get")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param(PLAIN, 403, id="token-without-scope"),
        pytest.param([], 401, id="no-token"),
        pytest.param(ENTITLED, 200, id="token-with-scope"),
    ],
)
@pytest.mark.parametrize("method", ["get", "Get", "GET"])
def test_a_method_rule_holds_in_any_case(
    files: str, server: str, method: str, headers: list[tuple[str, str]], status: int
) -> None:
    reply = exchange(files, f"{method} /legacy/report HTTP/1.1", headers)

    if method != "GET" and LOWER_CASE_GET[server] is None:
        assert (reply.status, reply.body) == (400, REFUSAL_BODY[server])
        return
    assert reply.status == status
    if status == 200:
        assert reply.json() == {"report": "q3"}
    elif status == 401:
        assert reply.header("WWW-Authenticate") == f'{CHALLENGE}, scope="reports:read"'
    else:
        assert reply.json()["detail"]
