"""The curl walk-through of docs/demo.md runs as written, top to bottom, against a real demo.

The server is ``python -m demo_app`` on a free loopback port, with a fresh SQLite database
and a secret in its environment. Every other command of the section runs, in order, in one
``bash`` (so the variables one sets reach the next) and must print what the README says it
prints (see :mod:`tests.demo.walkthrough` for how outputs are compared). A step that stops
working, runs in the wrong order, or uses a variable nothing set fails here.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SECRET
from tests.processes import child_environment
from tests.servers import free_port

from .processes import DemoProcess
from .walkthrough import (
    Outcome,
    Step,
    console_steps,
    mismatch,
    run_in_one_shell,
    walkthrough_steps,
)

#: Where the walk-through lives: point these elsewhere when it moves (to docs/, say).
WALKTHROUGH_FILE = Path(__file__).resolve().parents[2] / "docs" / "demo.md"
WALKTHROUGH_HEADING = "The demo, step by step"
#: The command that starts the server: the test starts it itself, once, before the rest.
SERVER_COMMAND = "python -m demo_app"
#: The address the walk-through talks to; replaced by the test server's.
README_ADDRESS = "127.0.0.1:8000"


@pytest.fixture(scope="module")
def steps() -> list[Step]:
    return walkthrough_steps(WALKTHROUGH_FILE, WALKTHROUGH_HEADING)


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """``python -m demo_app`` on a free port with a new database; its ``host:port``."""
    port = free_port()
    demo = DemoProcess(
        cwd=tmp_path,
        env=child_environment(
            PORT=str(port),
            JWT_SECRET=SECRET,
            DATABASE_URL=f"sqlite:///{tmp_path / 'walkthrough.db'}",
        ),
    )
    try:
        demo.wait_ready(f"http://127.0.0.1:{port}")
        yield f"127.0.0.1:{port}"
    finally:
        demo.stop()


#: What curl does on a terminal without being told: no progress meter (it prints one on
#: stderr when its output is not a terminal), but errors shown; and a bound on every call,
#: so a hung server fails the step instead of the run.
CURLRC = "silent\nshow-error\nmax-time = 20\n"


def shell_env(home: Path) -> dict[str, str]:
    """The shell's environment: this Python's ``python3`` first on PATH, no proxies, and
    :data:`CURLRC` as curl's configuration."""
    (home / ".curlrc").write_text(CURLRC, encoding="utf-8")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and name != "CURL_HOME"
    }
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def test_the_walkthrough_starts_the_server_once_then_talks_to_it(steps: list[Step]) -> None:
    """What the run below relies on: it starts the server itself, and moves every call to
    the server's port by replacing one address."""
    assert steps, f"no console commands under {WALKTHROUGH_HEADING!r}"
    assert [step.command for step in steps].count(SERVER_COMMAND) == 1
    assert steps[0].command == SERVER_COMMAND
    calls = [step for step in steps if "curl " in step.command]
    assert len(calls) > 10
    for step in calls:
        assert f"http://{README_ADDRESS}/" in step.command, step.line


def test_the_walkthrough_runs_as_written(
    steps: list[Step], demo_server: str, tmp_path: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the walk-through")
    commands = [step for step in steps if step.command != SERVER_COMMAND]
    home = tmp_path / "home"
    home.mkdir()

    outcomes = run_in_one_shell(
        [step.command.replace(README_ADDRESS, demo_server) for step in commands],
        cwd=tmp_path,
        env=shell_env(home),
        timeout_seconds=120,
    )

    failures = []
    for step, outcome in zip(commands, outcomes, strict=True):
        expected = step.expected.replace(README_ADDRESS, demo_server)
        if outcome.finished:
            problem = mismatch(expected, outcome.output)
        else:
            problem = "the shell stopped before this command finished"
        if problem is not None:
            failures.append(
                f"{WALKTHROUGH_FILE.name} line {step.line}: {problem}\n$ {step.command}\n"
                f"--- expected\n{expected}\n--- actual\n{outcome.output}"
            )
    assert not failures, "\n\n".join(failures)


# The comparison itself --------------------------------------------------------------------

HTTP_ANSWER = "HTTP/1.1 201 Created\ndate: today\nserver: uvicorn\ncontent-type: application/json"


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        pytest.param('{"a":"..."}', '{"a":"x y z"}', True, id="ellipsis-in-a-value"),
        pytest.param('{"a":"..."}', '{"b":"x"}', False, id="ellipsis-hides-no-other-change"),
        pytest.param("a...b...c", "a-b-c", True, id="several-ellipses"),
        pytest.param("a...b...c", "a-c-b", False, id="ellipses-keep-the-order"),
        pytest.param("ab...ba", "aba", False, id="ends-may-not-overlap"),
        pytest.param("", "", True, id="no-output-expected-none-printed"),
        pytest.param("", "Traceback (most recent call last):", False, id="unexpected-output"),
        pytest.param("x", "x  \n\n", True, id="trailing-space-and-blank-lines"),
        pytest.param(
            "HTTP/1.1 201 Created\ncontent-type: application/json\n\n{}",
            HTTP_ANSWER + "\n\n{}",
            True,
            id="the-headers-shown-are-a-subset",
        ),
        pytest.param(
            "HTTP/1.1 201 Created\nCONTENT-TYPE: application/...\n\n{}",
            HTTP_ANSWER + "\n\n{}",
            True,
            id="header-names-ignore-case-values-take-ellipses",
        ),
        pytest.param(
            "HTTP/1.1 201 Created\nlocation: /todos/1\n\n{}",
            HTTP_ANSWER + "\n\n{}",
            False,
            id="a-header-shown-must-be-sent",
        ),
        pytest.param("HTTP/1.1 200 OK\n\n{}", HTTP_ANSWER + "\n\n{}", False, id="status-is-exact"),
        pytest.param(
            "HTTP/1.1 ...\n\n{}", HTTP_ANSWER + "\n\n{}", False, id="no-ellipsis-in-the-status"
        ),
        pytest.param(
            "HTTP/1.1 201 Created\n\n{}", HTTP_ANSWER + "\n\n{}\nmore", False, id="body-differs"
        ),
    ],
)
def test_mismatch(expected: str, actual: str, matches: bool) -> None:
    assert (mismatch(expected, actual) is None) is matches


def test_console_steps_read_commands_continuations_and_outputs() -> None:
    text = "\n".join(
        [
            "Some prose, and a block in another language:",
            "```sh",
            "$ not a step",
            "```",
            "```console",
            "$ A=$(echo one \\",
            "    two)",
            '$ echo "$A"',
            "one two                  # a note",
            "",
            "$ curl -i http://127.0.0.1:8000/",
            "HTTP/1.1 404 Not Found",
            "",
            '{"detail":"Not Found"}',
            "```",
        ]
    )

    steps = console_steps(text, first_line=10)

    assert [(step.command, step.expected, step.line) for step in steps] == [
        ("A=$(echo one \\\n    two)", "", 15),
        ('echo "$A"', "one two", 17),
        ("curl -i http://127.0.0.1:8000/", 'HTTP/1.1 404 Not Found\n\n{"detail":"Not Found"}', 20),
    ]


def test_one_shell_keeps_variables_and_reports_where_it_stopped(tmp_path: Path) -> None:
    outcomes = run_in_one_shell(
        ["A=kept", 'echo "$A"', 'echo partial; echo "$NEVER_SET"', "echo never"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        timeout_seconds=30,
    )

    assert outcomes[:2] == [Outcome("", finished=True), Outcome("kept\n", finished=True)]
    # set -u: the variable nothing set ends the shell, and says so.
    assert not outcomes[2].finished
    assert outcomes[2].output.startswith("partial\n")
    assert "NEVER_SET: unbound variable" in outcomes[2].output
    assert outcomes[3] == Outcome("", finished=False)
