"""Every code example in the README and in docs/ runs here, so one that stops working fails.

* ```` ```python ```` blocks run in order, each page in a namespace of its own, in an empty
  working folder with no ``JWT_*`` variable set; the logging configuration a page changes
  is put back afterwards. An HTML comment ``<!-- docs-test: env
  NAME=value ... -->`` before a block sets variables for it and the rest of the page, as
  the ``export`` a reader was told to run would; ``env-once`` sets them for that block
  alone. A block may use what an earlier block of its page defined, as a reader would.
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
  ``tests/demo/test_demo_walkthrough.py``.
"""

from __future__ import annotations

import importlib
import logging
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware
from jwt_middleware.report import routes_report

from ..asgi import lifespan_startup

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
PAGES: Final = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
_FENCE: Final = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE: Final = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_RUNNABLE_SHELL: Final = frozenset({"export", "openssl", "chmod"})


@dataclass
class Block:
    language: str
    code: str
    line: int
    directive: str | None = None


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.relative_to(REPO_ROOT).as_posix()


def read_page(path: Path) -> Page:
    page = Page(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    directive: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        found = _DIRECTIVE.match(line)
        if found:
            directive = found.group(1)
        fence = _FENCE.match(line)
        if fence:
            start = index
            index += 1
            body: list[str] = []
            while not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            page.blocks.append(Block(fence.group(1), "\n".join(body), start + 1, directive))
            directive = None
        elif line.strip() and not found:
            directive = None
        index += 1
    return page


def _env_from(directive: str | None, kind: str) -> dict[str, str]:
    if directive is None or not directive.startswith(kind + " "):
        return {}
    return dict(item.split("=", 1) for item in shlex.split(directive.removeprefix(kind + " ")))


@pytest.fixture(params=PAGES, ids=[p.relative_to(REPO_ROOT).as_posix() for p in PAGES])
def page(request: pytest.FixtureRequest) -> Page:
    return read_page(request.param)


def test_every_page_has_examples_that_the_rules_above_cover(page: Page) -> None:
    known = {"python", "http", "sh", "text", "console", ""}
    for block in page.blocks:
        assert block.language in known, f"{page.name}:{block.line}: unknown block type"
        assert block.language != "", f"{page.name}:{block.line}: say what the block is"


@contextmanager
def _logging_put_back() -> Iterator[None]:
    """The root and ``jwt_middleware`` loggers as they were, whatever a page configured."""
    loggers = [logging.getLogger(), logging.getLogger("jwt_middleware")]
    saved = [(logger.handlers[:], logger.level) for logger in loggers]
    try:
        yield
    finally:
        for logger, (handlers, level) in zip(loggers, saved, strict=True):
            logger.handlers[:] = handlers
            logger.setLevel(level)


def test_python_examples_run(page: Page, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with _logging_put_back():
        _run_python_examples(page, monkeypatch, tmp_path)


def _run_python_examples(page: Page, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": f"docs_example_{page.path.stem}"}
    for block in page.blocks:
        if block.language == "python":
            for name, value in _env_from(block.directive, "env").items():
                monkeypatch.setenv(name, value)
            with monkeypatch.context() as scoped:
                for name, value in _env_from(block.directive, "env-once").items():
                    scoped.setenv(name, value)
                code = compile(block.code, f"{page.name}:{block.line}", "exec")
                exec(code, namespace)  # noqa: S102 - the documentation's own examples
        elif block.language == "http" and block.directive:
            _check_response(page, block, namespace)


def _check_response(page: Page, block: Block, namespace: dict[str, Any]) -> None:
    method, path = (
        block.directive.removeprefix("response ").split() if block.directive else ("", "")
    )
    reply = TestClient(namespace["app"]).request(method, path)
    head, _, body = block.code.partition("\n\n")
    status_line, *header_lines = head.splitlines()
    assert status_line == f"HTTP/1.1 {reply.status_code} {reply.reason_phrase}", page.name
    for header in header_lines:
        name, _, value = header.partition(": ")
        assert reply.headers.get(name) == value, f"{page.name}:{block.line}: {header}"
    assert reply.text == body.strip(), f"{page.name}:{block.line}"


def test_shell_examples_are_valid_and_install_this_distribution(page: Page, tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    extras = set(_pyproject()["project"]["optional-dependencies"])
    for block in page.blocks:
        if block.language != "sh":
            continue
        where = f"{page.name}:{block.line}"
        syntax = subprocess.run(  # noqa: S603
            [bash, "-n"], input=block.code, text=True, capture_output=True, check=False
        )
        assert syntax.returncode == 0, f"{where}: {syntax.stderr}"
        commands = [line.split("#")[0].strip() for line in block.code.splitlines()]
        commands = [command for command in commands if command]
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
        assert name == _pyproject()["project"]["name"], f"{where}: installs {name}"
        assert set((wanted or "").split(",")) - {""} <= extras, f"{where}: extras {wanted}"


def test_route_tables_are_what_the_routes_command_prints(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    for block in page.blocks:
        if block.language != "text" or not (block.directive or "").startswith("routes "):
            continue
        assert block.directive is not None
        target = block.directive.removeprefix("routes ")
        monkeypatch.setenv("JWT_SECRET", "docs-example-secret-that-is-long-enough-0123")
        monkeypatch.setenv("DATABASE_URL", "sqlite://")
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name)
        app = getattr(importlib.reload(module), attribute)
        assert routes_report(app) == block.code, f"{page.name}:{block.line}"


def test_text_examples_are_what_the_server_prints(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    for block in page.blocks:
        if block.language != "text" or block.directive != "startup-error":
            continue
        monkeypatch.delenv("JWT_SECRET", raising=False)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("never reached")

        reply = lifespan_startup(JWTAuthMiddleware(app))
        first = block.code.splitlines()[0]
        assert first == f"ERROR:    {reply['message']}", f"{page.name}:{block.line}"


def _pyproject() -> dict[str, Any]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)
