"""The documentation's diagrams are valid Mermaid, as Mermaid itself reads them, and name
only modules that exist.

Mermaid is the npm package pinned in ``tests/docs/mermaid/package.json`` (``.ci/run``
installs it), loaded into headless Chromium from disk; ``mermaid.parse`` is what the
theme's renderer runs before it draws, so a diagram it refuses would show as an error box
on the site.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import Page as BrowserPage

from tests.browser import chromium
from tests.services import require_service

from .pages import PAGES, REPO_ROOT, Block, Page

MERMAID_JS: Final = REPO_ROOT / "tests/docs/mermaid/node_modules/mermaid/dist/mermaid.min.js"
#: A module named in a diagram: ``edge/answers.py``, ``revocation/``.
_MODULE: Final = re.compile(r"(?<![<\w])([a-z_]+/(?:[a-z_]+\.py)?)")

DIAGRAMS: Final = [
    pytest.param(page, block, id=page.where(block))
    for page in PAGES
    for block in page.blocks
    if block.language == "mermaid"
]


@pytest.fixture(scope="module")
def mermaid() -> Iterator[BrowserPage]:
    if not MERMAID_JS.is_file():
        require_service("mermaid not installed: npm ci --prefix tests/docs/mermaid")
    with chromium() as browser:
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(MERMAID_JS))
        page.evaluate("mermaid.initialize({startOnLoad: false})")
        yield page


def _parse_error(page: BrowserPage, text: str) -> str | None:
    result: str | None = page.evaluate(
        """async (text) => {
            try { await mermaid.parse(text); return null; }
            catch (error) { return String(error && error.message || error); }
        }""",
        text,
    )
    return result


def test_the_pages_have_diagrams() -> None:
    assert len(DIAGRAMS) >= 2


@pytest.mark.parametrize(("page", "block"), DIAGRAMS)
def test_the_diagram_parses(mermaid: BrowserPage, page: Page, block: Block) -> None:
    error = _parse_error(mermaid, block.code)
    assert error is None, f"{page.where(block)}: {error}"


@pytest.mark.parametrize(("page", "block"), DIAGRAMS)
def test_the_modules_a_diagram_names_exist(page: Page, block: Block) -> None:
    package = REPO_ROOT / "jwt_middleware"
    named = set(_MODULE.findall(block.code))
    missing = sorted(name for name in named if not (package / name).exists())
    assert not missing, f"{page.where(block)} names modules that do not exist: {missing}"


def test_a_broken_diagram_is_refused(mermaid: BrowserPage) -> None:
    """The check above can fail: Mermaid refuses what it cannot draw."""
    assert _parse_error(mermaid, "flowchart TD\n    a -- b -->") is not None
    assert _parse_error(mermaid, "flowchart TD\n    a --> b") is None


def test_the_package_is_pinned() -> None:
    text = (REPO_ROOT / "tests/docs/mermaid/package.json").read_text()
    assert re.search(r'"mermaid": "\d+\.\d+\.\d+"', text)
    assert Path(REPO_ROOT / "tests/docs/mermaid/package-lock.json").is_file()
