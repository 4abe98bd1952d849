"""Every code example in the README and in docs/ runs here, so one that stops working fails.

* ```` ```python ```` blocks run in order, each page in a namespace of its own, in an empty
  working folder with no ``JWT_*`` variable set; the logging configuration a page changes
  is put back afterwards. An HTML comment ``<!-- docs-test: env NAME=value ... -->``
  before a block sets variables for it and the rest of the page, as the ``export`` a
  reader was told to run would; ``env-once`` sets them for that block alone. A block may
  use what an earlier block of its page defined, as a reader would. A page whose first
  python block is preceded by ``<!-- docs-test: process env NAME=value ... -->`` runs in
  a fresh interpreter instead, with those variables: one that sets what a process sets
  only once (OpenTelemetry's global meter provider).
* ```` ```http ```` blocks preceded by ``<!-- docs-test: response METHOD /path -->`` are the
  answer the page's current ``app`` gives to that request: status line, the headers shown
  (each among the real ones) and the body, exactly.
* ```` ```sh ```` blocks must be valid bash; every ``pip install`` in them must name this
  distribution with extras it has; blocks made only of ``export``, ``openssl`` and ``chmod``
  commands run for real.
* ```` ```text ```` blocks preceded by ``<!-- docs-test: startup-error -->`` are what a
  server prints when the middleware refuses to start without a secret; those preceded by
  ``<!-- docs-test: routes module:app -->`` are what ``python -m jwt_middleware routes``
  prints for that app.
* ```` ```console ```` blocks are the demo walk-through, run against a real server by
  ``tests/demo/test_demo_walkthrough.py``; the README's quick start is run as a reader
  would, with a real server, by ``test_quickstart.py``.

Each example is a test case of its own, named ``page:line``: a page without examples of a
kind has no case of that kind, rather than one that passes having checked nothing.
"""

from __future__ import annotations

import importlib
import logging
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware
from jwt_middleware.report import routes_report

from ..asgi import lifespan_startup
from ..processes import run_python
from .pages import PAGES, REPO_ROOT, Block, Page, env_from

_RUNNABLE_SHELL: Final = frozenset({"export", "openssl", "chmod"})
#: Other distributions a page may tell the reader to install, beside this one.
_OTHER_DISTRIBUTIONS: Final = frozenset(
    {"uvicorn", "opentelemetry-sdk", "opentelemetry-exporter-prometheus"}
)
_OWN_PROCESS: Final = "process"


def examples(select: Callable[[Block], bool]) -> list[Any]:
    """One case per (page, example) that ``select`` keeps, named ``page:line``."""
    return [
        pytest.param(page, index, id=page.where(block))
        for page in PAGES
        for index, block in enumerate(page.blocks)
        if select(block)
    ]


def _is_response(block: Block) -> bool:
    return block.language == "http" and (block.directive or "").startswith("response ")


def _is_routes(block: Block) -> bool:
    return block.language == "text" and (block.directive or "").startswith("routes ")


@pytest.mark.parametrize(("page", "index"), examples(lambda block: True))
def test_example_is_of_a_kind_the_rules_above_cover(page: Page, index: int) -> None:
    block = page.blocks[index]
    known = {"python", "http", "sh", "text", "console", "mermaid"}
    assert block.language in known, f"{page.where(block)}: say what the block is"


@pytest.fixture(autouse=True)
def _logging_put_back() -> Iterator[None]:
    """The root and ``jwt_middleware`` loggers as they were, whatever a page configured."""
    loggers = [logging.getLogger(), logging.getLogger("jwt_middleware")]
    saved = [(logger.handlers[:], logger.level) for logger in loggers]
    yield
    for logger, (handlers, level) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)


def _run_python(page: Page, blocks: list[Block], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the page's python blocks among ``blocks`` in order, in one namespace, as a reader
    who runs each in turn would; return the namespace."""
    # A module of its own, importable while the test runs, as a reader's file is: some
    # frameworks (Litestar) resolve a handler's annotations through sys.modules.
    module = types.ModuleType(f"docs_example_{page.path.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    for block in blocks:
        if block.language != "python":
            continue
        for name, value in env_from(block.directive, "env").items():
            monkeypatch.setenv(name, value)
        with monkeypatch.context() as scoped:
            for name, value in env_from(block.directive, "env-once").items():
                scoped.setenv(name, value)
            code = compile(block.code, page.where(block), "exec")
            exec(code, namespace)  # noqa: S102 - the documentation's own examples
    return namespace


def _own_process(page: Page) -> dict[str, str] | None:
    """The variables a page run in an interpreter of its own is given, or ``None`` for a
    page run in this one."""
    first = next((block for block in page.blocks if block.language == "python"), None)
    directive = first.directive if first is not None else None
    if directive is None or not directive.startswith(_OWN_PROCESS):
        return None
    return env_from(directive.removeprefix(_OWN_PROCESS).strip(), "env")


def _run_in_own_process(page: Page, blocks: list[Block], env: dict[str, str], cwd: Path) -> None:
    code = "\n\n".join(block.code for block in blocks if block.language == "python")
    ran = run_python(code, cwd=cwd, environment=env)
    assert ran.returncode == 0, f"{page.where(blocks[-1])}: {ran.stderr[-3000:]}"


@pytest.mark.parametrize(("page", "index"), examples(lambda block: block.language == "python"))
def test_python_example_runs(
    page: Page, index: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The example runs after the page's earlier ones, in an empty working folder."""
    own = _own_process(page)
    if own is not None:
        _run_in_own_process(page, page.blocks[: index + 1], own, tmp_path)
        return
    monkeypatch.chdir(tmp_path)
    _run_python(page, page.blocks[: index + 1], monkeypatch)


@pytest.mark.parametrize(("page", "index"), examples(_is_response))
def test_http_example_is_the_answer_of_the_pages_app(
    page: Page, index: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = _run_python(page, page.blocks[:index], monkeypatch)
    block = page.blocks[index]
    assert block.directive is not None
    method, path = block.directive.removeprefix("response ").split()
    reply = TestClient(namespace["app"]).request(method, path)
    head, _, body = block.code.partition("\n\n")
    status_line, *header_lines = head.splitlines()
    where = page.where(block)
    assert status_line == f"HTTP/1.1 {reply.status_code} {reply.reason_phrase}", where
    for header in header_lines:
        name, _, value = header.partition(": ")
        assert reply.headers.get(name) == value, f"{where}: {header}"
    assert reply.text == body.strip(), where


@pytest.mark.parametrize(("page", "index"), examples(lambda block: block.language == "sh"))
def test_shell_example_is_valid_and_installs_this_distribution(
    page: Page, index: int, tmp_path: Path
) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    extras = set(_pyproject()["project"]["optional-dependencies"])
    block = page.blocks[index]
    where = page.where(block)
    syntax = subprocess.run(  # noqa: S603
        [bash, "-n"], input=block.code, text=True, capture_output=True, check=False
    )
    assert syntax.returncode == 0, f"{where}: {syntax.stderr}"
    commands = [line.split("#")[0].strip() for line in block.code.splitlines()]
    commands = [command for command in commands if command]
    assert commands, f"{where}: no command"
    for command in commands:
        if command.startswith("pip install"):
            _check_pip_install(command, extras, where)
    if all(shlex.split(command)[0] in _RUNNABLE_SHELL for command in commands):
        ran = subprocess.run(  # noqa: S603
            [bash, "-e"],
            input=block.code,
            text=True,
            capture_output=True,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )
        assert ran.returncode == 0, f"{where}: {ran.stderr}"


def _check_pip_install(command: str, extras: set[str], where: str) -> None:
    requirements = [word for word in shlex.split(command)[2:] if not word.startswith("-")]
    assert requirements, where
    for requirement in requirements:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[([a-z,]+)\])?", requirement)
        assert found, f"{where}: {requirement}"
        name, wanted = found.group(1), found.group(2)
        if name == "jwt-middleware":
            continue  # only ever named to be uninstalled
        if name in _OTHER_DISTRIBUTIONS and wanted is None:
            continue
        assert name == _pyproject()["project"]["name"], f"{where}: installs {name}"
        assert set((wanted or "").split(",")) - {""} <= extras, f"{where}: extras {wanted}"


@pytest.mark.parametrize(("page", "index"), examples(_is_routes))
def test_route_table_is_what_the_routes_command_prints(
    page: Page, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = page.blocks[index]
    assert block.directive is not None
    target = block.directive.removeprefix("routes ")
    monkeypatch.setenv("JWT_SECRET", "docs-example-secret-that-is-long-enough-0123")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(importlib.reload(module), attribute)
    assert routes_report(app) == block.code, page.where(block)


@pytest.mark.parametrize(
    ("page", "index"),
    examples(lambda block: block.language == "text" and block.directive == "startup-error"),
)
def test_startup_error_is_what_the_server_prints(
    page: Page, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = page.blocks[index]
    monkeypatch.delenv("JWT_SECRET", raising=False)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never reached")

    reply = lifespan_startup(JWTAuthMiddleware(app))
    first = block.code.splitlines()[0]
    assert first == f"ERROR:    {reply['message']}", page.where(block)


def _pyproject() -> dict[str, Any]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)
