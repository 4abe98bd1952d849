"""Run a Markdown walk-through of shell commands and compare what they print with the text.

A walk-through is the part of a Markdown file under one heading (up to the next heading of
the same or a higher level). In its ```` ```console ```` blocks, a line starting with ``$ ``
is a command, together with the lines its trailing backslashes continue; the lines after it,
up to the next command or the end of the block, are what it prints. Trailing comments on
those lines (``{"detail": ...}   # 404``) are notes for the reader, not output.

Comparison is doctest's ELLIPSIS, where ``...`` matches any text, with one refinement for
the answers of ``curl -i``: the status line must be exactly the same, the header lines shown
must each be among the actual ones (a reader is shown the headers that matter, not
``date`` and ``server``), and the bodies are compared with ``...`` as usual.

Commands run in one ``bash`` process, in order, so variables set by one are seen by the
next; ``set -u`` makes a variable that was never set an error rather than an empty string.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "Outcome",
    "Step",
    "console_steps",
    "mismatch",
    "run_in_one_shell",
    "section",
    "walkthrough_steps",
]

ELLIPSIS: Final = "..."
_FENCE: Final = re.compile(r"^(```+|~~~+)\s*(\S*)")
_HEADING: Final = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
#: Two or more spaces, then ``# note`` to the end of the line, with no quote in the note.
_TRAILING_COMMENT: Final = re.compile(r"\s{2,}#\s[^\"]*$")


@dataclass(frozen=True)
class Step:
    """One command of a walk-through and what it should print."""

    command: str
    expected: str
    #: 1-based line of the command in the file, for failure messages.
    line: int


def section(markdown: str, heading: str) -> tuple[str, int]:
    """The text under ``heading`` (exact title, any level) and the 1-based line it starts on.

    Headings inside fenced blocks do not count. :class:`LookupError` if there is none.
    """
    lines = markdown.splitlines()
    in_fence = False
    start: int | None = None
    level = 0
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        found = None if in_fence else _HEADING.match(line)
        if found is None:
            continue
        if start is None:
            if found.group(2) == heading:
                start, level = number + 1, len(found.group(1))
        elif len(found.group(1)) <= level:
            return "\n".join(lines[start:number]), start + 1
    if start is None:
        raise LookupError(f"no heading {heading!r}")
    return "\n".join(lines[start:]), start + 1


def console_steps(text: str, *, first_line: int = 1) -> list[Step]:
    """The commands of the ``console`` blocks in ``text`` with their expected output."""
    steps: list[Step] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        index += 1
        if fence is None or fence.group(2) != "console":
            continue
        block: list[tuple[int, str]] = []
        while index < len(lines) and not lines[index].startswith(fence.group(1)):
            block.append((first_line + index, lines[index]))
            index += 1
        index += 1  # the closing fence
        steps.extend(_block_steps(block))
    return steps


def _block_steps(block: Sequence[tuple[int, str]]) -> list[Step]:
    steps: list[Step] = []
    position = 0
    while position < len(block):
        number, line = block[position]
        if not line.startswith("$ "):
            position += 1  # text before the first command: not a step
            continue
        command = [line[2:]]
        while command[-1].endswith("\\") and position + 1 < len(block):
            position += 1
            command.append(block[position][1])
        position += 1
        output: list[str] = []
        while position < len(block) and not block[position][1].startswith("$ "):
            output.append(_TRAILING_COMMENT.sub("", block[position][1]))
            position += 1
        expected = "\n".join(output).strip("\n")
        steps.append(Step(command="\n".join(command), expected=expected, line=number))
    return steps


def walkthrough_steps(path: Path, heading: str) -> list[Step]:
    """The steps of the walk-through under ``heading`` in the Markdown file ``path``."""
    text, first_line = section(path.read_text(encoding="utf-8"), heading)
    return console_steps(text, first_line=first_line)


@dataclass(frozen=True)
class Outcome:
    """What one command printed (stdout and stderr together), and whether it finished.

    A command the shell stopped in (``set -u``, say) has what it printed up to there; one
    the shell never reached has nothing.
    """

    output: str
    finished: bool


def run_in_one_shell(
    commands: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_seconds: float
) -> list[Outcome]:
    """Run ``commands`` in order in one ``bash``; what each printed, and if it finished."""
    marker = f"walkthrough-{secrets.token_hex(8)}"
    script = ["set -u", "exec 2>&1"]
    for number, command in enumerate(commands):
        script.append(f"printf '%s\\n' '{marker} begin {number}'")
        script.append(command)
        script.append(f"printf '\\n%s\\n' '{marker} end {number}'")
    script_file = cwd / "walkthrough.sh"
    script_file.write_text("\n".join(script) + "\n", encoding="utf-8")
    bash = shutil.which("bash")
    if bash is None:
        raise RuntimeError("bash is needed to run a walk-through")
    result = subprocess.run(  # noqa: S603  (the commands are the walk-through's, on purpose)
        [bash, "--noprofile", "--norc", str(script_file)],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout_seconds,
        check=False,
    )
    output = result.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    outcomes: list[Outcome] = []
    for number in range(len(commands)):
        begin = f"{marker} begin {number}\n"
        start = output.find(begin)
        if start < 0:
            outcomes.append(Outcome(output="", finished=False))
            continue
        start += len(begin)
        stop = output.find(f"\n{marker} end {number}\n", start)
        if stop < 0:
            outcomes.append(Outcome(output=output[start:], finished=False))
        else:
            outcomes.append(Outcome(output=output[start:stop], finished=True))
    return outcomes


def mismatch(expected: str, actual: str) -> str | None:
    """Why ``actual`` does not match ``expected``, or ``None`` when it does."""
    expected = _clean(expected)
    actual = _clean(actual)
    if expected.startswith("HTTP/"):
        return _http_mismatch(expected, actual)
    if _ellipsis_match(expected, actual):
        return None
    return "the output differs"


def _http_mismatch(expected: str, actual: str) -> str | None:
    expected_head, _, expected_body = expected.partition("\n\n")
    actual_head, _, actual_body = actual.partition("\n\n")
    expected_status, *expected_headers = expected_head.split("\n")
    actual_status, *actual_headers = actual_head.split("\n")
    if expected_status != actual_status:
        return f"status {actual_status!r}, not {expected_status!r}"
    for header in expected_headers:
        if not any(_header_match(header, candidate) for candidate in actual_headers):
            return f"no header matching {header!r}"
    if not _ellipsis_match(expected_body.strip(), actual_body.strip()):
        return "the body differs"
    return None


def _header_match(expected: str, actual: str) -> bool:
    expected_name, _, expected_value = expected.partition(":")
    actual_name, _, actual_value = actual.partition(":")
    return expected_name.strip().lower() == actual_name.strip().lower() and _ellipsis_match(
        expected_value.strip(), actual_value.strip()
    )


def _ellipsis_match(expected: str, actual: str) -> bool:
    """doctest's ELLIPSIS: each ``...`` in ``expected`` stands for any text, even none."""
    if ELLIPSIS not in expected:
        return expected == actual
    pieces = expected.split(ELLIPSIS)
    first, last = pieces[0], pieces[-1]
    if not actual.startswith(first) or not actual.endswith(last):
        return False
    if len(first) + len(last) > len(actual):
        return False
    position = len(first)
    end = len(actual) - len(last)
    for piece in pieces[1:-1]:
        found = actual.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def _clean(text: str) -> str:
    """Without trailing spaces on any line, and without blank lines at either end."""
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
