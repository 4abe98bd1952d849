"""The README and the pages of docs/ read as a reader sees them: fenced examples, each with
the ``<!-- docs-test: ... -->`` directive before it (see ``test_examples.py`` for what the
directives mean)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
PAGE_PATHS: Final = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
_FENCE: Final = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE: Final = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_HEADING: Final = re.compile(r"^(#+) (.*)$")


@dataclass
class Block:
    """One fenced example: its language, its text, the line its fence opens on, the
    directive before it and the heading (``## Quick start``) it sits under."""

    language: str
    code: str
    line: int
    directive: str | None = None
    section: str = ""


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.relative_to(REPO_ROOT).as_posix()

    def where(self, block: Block) -> str:
        """``page:line``, the id of a test case of one example."""
        return f"{self.name}:{block.line}"


def read_page(path: Path) -> Page:
    page = Page(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    directive: str | None = None
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        found = _DIRECTIVE.match(line)
        if found:
            directive = found.group(1)
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(2).strip()
        fence = _FENCE.match(line)
        if fence:
            start = index
            index += 1
            body: list[str] = []
            while not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            page.blocks.append(
                Block(fence.group(1), "\n".join(body), start + 1, directive, section)
            )
            directive = None
        elif line.strip() and not found:
            directive = None
        index += 1
    return page


PAGES: Final = [read_page(path) for path in PAGE_PATHS]


def env_from(directive: str | None, kind: str) -> dict[str, str]:
    """The variables an ``env`` (or ``env-once``) directive sets."""
    if directive is None or not directive.startswith(kind + " "):
        return {}
    return dict(item.split("=", 1) for item in shlex.split(directive.removeprefix(kind + " ")))


def page_namespace(name: str, *, python_blocks: int = 1) -> dict[str, object]:
    """What the first ``python_blocks`` Python examples of page ``name`` (``docs/x.md``)
    define, run as a reader would: for tests that hold an example to a contract."""
    page = next(page for page in PAGES if page.name == name)
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.path.stem}"}
    blocks = [block for block in page.blocks if block.language == "python"][:python_blocks]
    for block in blocks:
        exec(compile(block.code, page.where(block), "exec"), namespace)  # noqa: S102
    return namespace
