"""The built documentation opens from disk (``file://``) as well as from a server, and the
pages' Markdown says what it means."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

import pytest

from .pages import PAGE_PATHS, REPO_ROOT

_LIST_ITEM: Final = re.compile(r"^\s*(?:[-*+]|\d+\.) ")
#: The page a server shows for a missing one; never opened from disk.
_SERVER_ONLY: Final = frozenset({"404.html"})


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)


def _links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    return folder


def test_every_link_of_the_built_site_opens_from_disk(site: Path) -> None:
    """Every relative link and asset names a file (``file://`` opens no folder's index), and
    none is absolute to a server's root."""
    pages = [page for page in site.rglob("*.html") if page.name not in _SERVER_ONLY]
    assert len(pages) >= len(PAGE_PATHS) - 1  # the README is not a page of the site
    broken: list[str] = []
    for page in pages:
        for link in _links_of(page.read_text(encoding="utf-8")):
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue  # another site, or an anchor on this page
            target = (page.parent / unquote(parts.path)).resolve()
            if parts.path.startswith("/") or not target.is_file():
                broken.append(f"{page.relative_to(site)}: {link}")
    assert broken == []


def _lazy_continuations(path: Path) -> list[str]:
    """Lines that Markdown folds into the list item above them: text right after a list,
    neither indented nor separated by a blank line."""
    found: list[str] = []
    in_list = in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if _LIST_ITEM.match(line):
            in_list = True
        elif not line.strip():
            in_list = False
        elif in_list and not line.startswith(" "):
            found.append(f"{path.relative_to(REPO_ROOT)}:{number}")
    return found


def test_no_paragraph_is_folded_into_the_list_above_it() -> None:
    assert [line for path in PAGE_PATHS for line in _lazy_continuations(path)] == []
