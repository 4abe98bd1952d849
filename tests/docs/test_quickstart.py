"""The README's quick start, run as a reader runs it: the ``.env`` line, the app file, the
``uvicorn`` command as a real server, and the token one-liner with its ``curl``; then the
same route without a token. Its blocks are found by what they do, so an edit that drops a
step fails here rather than leaving a quick start that no longer ends in a 200."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

import httpx
import pytest

from ..servers import free_port, reader_environment, serve_shell_command
from .pages import PAGES, Block

_SECTION: Final = "Quick start"
#: uvicorn's default address, which the README's curl dials.
_DEFAULT_ADDRESS: Final = "http://127.0.0.1:8000"
_ENV_LINE: Final = re.compile(r"JWT_SECRET=[A-Za-z0-9_-]{32,}")


def _quickstart() -> list[Block]:
    readme = next(page for page in PAGES if page.name == "README.md")
    return [block for block in readme.blocks if block.section == _SECTION]


def _one(what: str, found: list[Block]) -> Block:
    assert len(found) == 1, f"the README's quick start needs one {what} block"
    return found[0]


def _bash(script: str, workdir: Path) -> str:
    bash = shutil.which("bash")
    assert bash is not None
    ran = subprocess.run(  # noqa: S603 - the README's own commands
        [bash, "-e"],
        input=script,
        text=True,
        capture_output=True,
        cwd=workdir,
        env=reader_environment(),
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_readme_quickstart_ends_in_a_200(tmp_path: Path) -> None:
    blocks = _quickstart()
    sh = [block for block in blocks if block.language == "sh"]
    env_block = _one(".env", [block for block in sh if ">> .env" in block.code])
    app_block = _one("python", [block for block in blocks if block.language == "python"])
    serve_block = _one("uvicorn", [b for b in sh if b.code.startswith("uvicorn ")])
    call_block = _one("curl", [block for block in sh if "curl " in block.code])

    _bash(env_block.code, tmp_path)
    env_lines = (tmp_path / ".env").read_text(encoding="utf-8").splitlines()
    assert len(env_lines) == 1
    assert _ENV_LINE.fullmatch(env_lines[0]), "a plain NAME=value line, no shell syntax"

    command = serve_block.code.strip()
    module = command.split()[1].partition(":")[0]
    (tmp_path / f"{module}.py").write_text(app_block.code + "\n", encoding="utf-8")

    expected = call_block.code.rsplit("# ", 1)[1].strip()  # what the README says curl prints
    assert _DEFAULT_ADDRESS in call_block.code
    port = free_port()
    with serve_shell_command(f"{command} --port {port}", port=port, workdir=tmp_path) as url:
        script = call_block.code.replace(_DEFAULT_ADDRESS, url) + '\nprintf "\\n%s" "$TOKEN"\n'
        printed, _, token = _bash(script, tmp_path).rpartition("\n")
        assert printed == expected
        with_token = httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"})
        assert (with_token.status_code, with_token.json()) == (200, {"user_id": "42"})
        without = httpx.get(f"{url}/me")
        assert without.status_code == 401
        assert without.headers["www-authenticate"] == 'Bearer realm="api"'
        assert httpx.get(f"{url}/health").status_code == 200  # public, and a route
    log = (tmp_path / f"server-{port}.log").read_text(errors="replace")
    noise = [line for line in log.splitlines() if line and not line.startswith("INFO:")]
    assert noise == [], "the quick start starts without a warning"


@pytest.mark.parametrize(
    "line",
    ["JWT_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')", "JWT_SECRET="],
    ids=["shell-substitution", "empty"],
)
def test_env_line_check_refuses_what_is_not_a_secret(line: str) -> None:
    """The check above tells a real ``.env`` line from shell syntax pasted into one."""
    assert _ENV_LINE.fullmatch(line) is None
