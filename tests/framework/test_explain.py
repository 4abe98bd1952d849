"""``python -m jwt_middleware explain``: the same answer as the server, and why.

Each token of the table goes to the app twice: in the scope a server would send (the path
as written), and through ``explain``; the status, ``WWW-Authenticate`` and body must be
the same, and the exit code says whether the request got through. The command itself runs
as a user runs it (a child process), reading the token from an argument, a file and
standard input, and never prints it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.explain import explain, find_middleware, run
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import OTHER_SECRET, SECRET
from tests.processes import explain_command

AUDIENCE: Final = "api://orders"
HANDLED: list[str] = []


async def orders(request: Request) -> JSONResponse:
    HANDLED.append(request.url.path)
    return JSONResponse([])


def build_app() -> Starlette:
    app = Starlette(routes=[Route("/orders", orders), Route("/health", orders)])
    app.add_middleware(
        JWTAuthMiddleware,
        settings=JWTSettings(secret=SECRET, audience=AUDIENCE),
        public=["/health"],
        scopes={"/orders": ["orders:read"]},
    )
    return app


#: The app the child process imports (``tests.framework.test_explain:app``).
app = build_app()


def token(*, secret: str = SECRET, lifetime: int = 60, **claims: object) -> str:
    now = int(time.time())
    payload = {"sub": "alice", "aud": AUDIENCE, "scope": "orders:read", "iat": now}
    payload |= {"exp": now + lifetime, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


TokenMaker = Callable[[], str | None]

CASES: Final = [
    pytest.param(token, "/orders", True, id="valid"),
    pytest.param(lambda: token(lifetime=-600), "/orders", False, id="expired"),
    pytest.param(lambda: token(secret=OTHER_SECRET), "/orders", False, id="bad-signature"),
    pytest.param(lambda: token(aud="api://other"), "/orders", False, id="other-audience"),
    pytest.param(lambda: token(scope="orders:write"), "/orders", False, id="missing-scope"),
    pytest.param(lambda: "not-a-jwt", "/orders", False, id="malformed"),
    pytest.param(lambda: None, "/orders", False, id="no-token"),
    pytest.param(lambda: token(secret=OTHER_SECRET), "/health", True, id="public-bad-token"),
    pytest.param(token, "/orders/../health", False, id="not-canonical"),
]


@pytest.mark.parametrize(("make", "path", "through"), CASES)
def test_explain_answers_as_the_server_does(make: TokenMaker, path: str, through: bool) -> None:
    sent = make()
    headers = {"Authorization": f"Bearer {sent}"} if sent is not None else {}
    # The scope a server sends, path as written: a test client would normalise "..".
    scope = http_scope(path, headers=scope_headers(headers), raw_path=path.encode())
    answer = call(build_app(), scope)
    HANDLED.clear()
    explanation = run(build_app(), token=sent, path=path)
    assert HANDLED == []  # explain runs no handler
    assert explanation.let_through is through
    assert explanation.status == answer.status
    shown = dict(explanation.headers)
    assert shown.get("www-authenticate") == answer.headers.get("www-authenticate")
    if not through:
        assert explanation.body == answer.body.decode()


def test_each_claim_check_has_its_outcome() -> None:
    explanation = run(build_app(), token=token(aud="api://other"), path="/orders")
    checks = dict(explanation.checks)
    assert checks["aud"] == "refused: audience_mismatch"
    assert checks["exp"] == "ok"
    assert checks["nbf"] == "skipped (claim absent)"
    assert explanation.log_lines == ["refused: reason=audience_mismatch"]


def test_a_token_refused_at_its_signature_has_no_claims_read() -> None:
    explanation = run(build_app(), token=token(secret=OTHER_SECRET), path="/orders")
    assert explanation.checks == []
    assert explanation.log_lines == ["refused: reason=bad_signature"]


def test_header_text_is_escaped_for_the_terminal() -> None:
    hostile = jwt.encode({"sub": "a"}, SECRET, algorithm="HS256", headers={"kid": "\x1b[31mx"})
    explanation = run(build_app(), token=hostile, path="/orders")
    assert explanation.jose_header is not None
    assert "\x1b" not in explanation.render()
    assert "\\x1b[31mx" in explanation.jose_header


def test_an_app_without_the_middleware_is_said_so() -> None:
    with pytest.raises(LookupError):
        find_middleware(Starlette())


@pytest.mark.parametrize(
    ("how", "valid", "code"),
    [
        pytest.param("argument", True, 0, id="argument-through"),
        pytest.param("stdin", True, 0, id="stdin-through"),
        pytest.param("file", False, 1, id="file-refused"),
    ],
)
def test_the_command_reads_the_token_and_never_prints_it(
    tmp_path: Path, how: str, valid: bool, code: int
) -> None:
    sent = token() if valid else token(secret=OTHER_SECRET)
    where = "tests.framework.test_explain:app"
    if how == "argument":
        done = explain_command(where, "--path", "/orders", "--token", sent)
    elif how == "stdin":
        done = explain_command(where, "--path", "/orders", "--token", "-", stdin=sent + "\n")
    else:
        (tmp_path / "token").write_text(sent)
        done = explain_command(where, "--path", "/orders", "--token-file", str(tmp_path / "token"))
    assert done.returncode == code, done.stderr
    assert "verdict" in done.stdout
    for part in sent.split("."):
        assert part not in done.stdout + done.stderr


def test_the_command_says_what_it_cannot_import() -> None:
    done = explain_command("no_such_module:app", "--token", "x")
    assert done.returncode == 2
    assert "cannot import no_such_module:app" in done.stderr


def test_explain_is_awaitable_inside_a_running_loop() -> None:
    async def inside() -> bool:
        explanation = await explain(build_app(), token=token(), path="/orders")
        return explanation.let_through

    assert asyncio.run(inside())
