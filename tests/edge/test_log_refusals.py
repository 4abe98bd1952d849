"""``JWT_LOG_REFUSALS=true`` makes the reason of each refusal, and the start-up warnings,
appear with their level and logger name under servers that configure no logging for the app
(uvicorn, hypercorn and granian all leave the root logger without handlers), and leaves an
app's own logging configuration alone but for the level.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.refusals import LOG_FORMAT, Reason, log_refusal, show_refusals
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import SECRET, bearer, mint_token
from tests.processes import child_environment
from tests.servers import COMMAND_SERVERS, serve_as_command

PACKAGE = logging.getLogger("jwt_middleware")


@contextmanager
def _bare_logging() -> Iterator[None]:
    """No handler on the root logger (pytest's own, added around each test's call, are put
    back afterwards), and the package's logger as it was, whatever the test did to it."""
    root = logging.getLogger()
    saved = (root.handlers[:], PACKAGE.handlers[:], PACKAGE.level)
    root.handlers.clear()
    PACKAGE.handlers.clear()
    PACKAGE.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        root.handlers[:], PACKAGE.handlers[:] = saved[0], saved[1]
        PACKAGE.setLevel(saved[2])


def _ours() -> list[logging.Handler]:
    return [h for h in PACKAGE.handlers if h.formatter and h.formatter._fmt == LOG_FORMAT]


def test_without_handlers_one_is_attached_that_shows_level_and_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _bare_logging():
        show_refusals()
        show_refusals()  # a second middleware changes nothing
        assert len(_ours()) == 1
        assert PACKAGE.getEffectiveLevel() == logging.INFO
        log_refusal(Reason.EXPIRED, issuer="https://id.example")
        logging.getLogger("jwt_middleware").warning("public rule '/x' matches no route of the app")
        logging.getLogger("jwt_middleware.refusals").debug("not shown")
        assert capsys.readouterr().err.splitlines() == [
            "INFO jwt_middleware.refusals: refused: reason=expired issuer=https://id.example",
            "WARNING jwt_middleware: public rule '/x' matches no route of the app",
        ]


def test_an_app_that_configures_logging_keeps_its_handlers() -> None:
    with _bare_logging():
        root_handler = logging.NullHandler()
        logging.getLogger().addHandler(root_handler)
        try:
            show_refusals()
            assert PACKAGE.handlers == []
            assert PACKAGE.getEffectiveLevel() == logging.INFO
        finally:
            logging.getLogger().removeHandler(root_handler)


def test_a_lower_level_set_by_the_app_stays() -> None:
    with _bare_logging():
        PACKAGE.setLevel(logging.DEBUG)
        show_refusals()
        assert PACKAGE.level == logging.DEBUG


@pytest.mark.parametrize(("switch", "attached"), [(True, 1), (False, 0)], ids=["on", "off"])
def test_the_setting_turns_it_on_when_the_middleware_is_built(
    capsys: pytest.CaptureFixture[str], switch: bool, attached: int
) -> None:
    with _bare_logging():

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            raise AssertionError("never reached")

        middleware = JWTAuthMiddleware(
            app, settings=JWTSettings(secret=SECRET, log_refusals=switch)
        )
        assert len(_ours()) == attached
        answer = call(middleware, http_scope("/private", headers=scope_headers(bearer("a.b.c"))))
        assert answer.status == 401
        shown = ["INFO jwt_middleware.refusals: refused: reason=malformed"] if switch else []
        assert capsys.readouterr().err.splitlines() == shown


MARK = "INJECTED\r\nCRITICAL fake"


@pytest.mark.parametrize("server", COMMAND_SERVERS)
def test_a_real_server_prints_the_reason_with_level_and_logger(tmp_path: Path, server: str) -> None:
    env = child_environment(JWT_SECRET=SECRET, JWT_AUDIENCE="api", JWT_LOG_REFUSALS="true")
    token = mint_token(MARK, aud="someone-else", iss=MARK, headers={"kid": MARK})
    with serve_as_command(server, "tests.wire.apps:environment_app", workdir=tmp_path, env=env) as (
        base_url,
        stderr_path,
    ):
        answer = httpx.get(f"{base_url}/private", headers=bearer(token), timeout=10)
        assert answer.status_code == 401
        assert answer.json() == {"detail": "The access token is invalid."}
    printed = stderr_path.read_text(errors="replace")
    lines = printed.splitlines()
    assert "INFO jwt_middleware.refusals: refused: reason=audience_mismatch" in lines, printed
    assert "WARNING jwt_middleware: public rule '/nowhere' matches no route of the app" in lines
    everything = printed + "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.std*"))
    assert "INJECTED" not in everything
    assert not any(part in everything for part in token.split("."))
    assert not re.search(r"Traceback", everything)
