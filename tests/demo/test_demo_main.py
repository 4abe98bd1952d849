"""Starting the demo: the first-run secret in .env, ``python -m demo_app`` (its port
check and its log format), and the ``demo_app.main:app`` import string configured from
the environment alone.
"""

from __future__ import annotations

import re
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from demo_app.__main__ import ensure_jwt_secret
from tests.helpers import SECRET, bearer
from tests.processes import child_environment
from tests.servers import free_port, serve

from .accounts import PASSWORD
from .processes import DemoProcess

StartDemo = Callable[..., tuple[str, DemoProcess]]


def _secret_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("JWT_SECRET=")]


# ensure_jwt_secret -----------------------------------------------------------------------


def test_no_env_file_gets_one_with_a_fresh_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"

    assert ensure_jwt_secret(env_file, environ={}) is True

    lines = _secret_lines(env_file.read_text())
    assert len(lines) == 1
    secret = lines[0].removeprefix("JWT_SECRET=")
    assert len(secret) >= 64  # token_urlsafe(48)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_each_new_secret_is_different(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    ensure_jwt_secret(first, environ={})
    ensure_jwt_secret(second, environ={})

    assert _secret_lines(first.read_text()) != _secret_lines(second.read_text())


@pytest.mark.parametrize(
    "existing",
    ["DATABASE_URL=sqlite:///x.db\n", "DATABASE_URL=sqlite:///x.db", "JWT_SECRET=\n", "# c\n"],
    ids=["other-settings", "no-final-newline", "empty-secret", "comment-only"],
)
def test_env_file_without_a_secret_gets_one_appended(tmp_path: Path, existing: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(existing)
    env_file.chmod(0o644)

    assert ensure_jwt_secret(env_file, environ={}) is True

    text = env_file.read_text()
    assert text.startswith(existing)
    assert [line for line in text.splitlines() if line.strip()][-1].startswith("JWT_SECRET=")
    assert len(_secret_lines(text)[-1]) > len("JWT_SECRET=") + 60
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "existing",
    ["JWT_SECRET=kept\n", "export JWT_SECRET=kept\n", "A=1\n  JWT_SECRET = 'kept'\n"],
    ids=["plain", "export", "spaced-quoted"],
)
def test_env_file_with_a_secret_is_left_alone(tmp_path: Path, existing: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(existing)
    env_file.chmod(0o644)

    assert ensure_jwt_secret(env_file, environ={}) is False

    assert env_file.read_text() == existing
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "name", ["JWT_SECRET", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY", "JWT_PUBLIC_KEYS", "JWT_JWKS_URL"]
)
def test_keys_in_the_environment_write_nothing(tmp_path: Path, name: str) -> None:
    """A key pair or a JWKS URL would conflict with a secret written next to it."""
    env_file = tmp_path / ".env"

    assert ensure_jwt_secret(env_file, environ={name: SECRET}) is False

    assert not env_file.exists()


def test_a_private_key_in_env_file_writes_nothing(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JWT_ALGORITHM=RS256\nJWT_PRIVATE_KEY=/etc/demo/signing.pem\n")

    assert ensure_jwt_secret(env_file, environ={}) is False

    assert "JWT_SECRET" not in env_file.read_text()


# python -m demo_app ----------------------------------------------------------------------


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator[StartDemo]:
    """Start ``python -m demo_app`` in tmp_path on a port, with extra environment; wait
    until it answers. Every child is stopped after the test."""
    processes: list[DemoProcess] = []

    def start(port: int, **env: str) -> tuple[str, DemoProcess]:
        demo = DemoProcess(cwd=tmp_path, env=child_environment(PORT=str(port), **env))
        processes.append(demo)
        base_url = f"http://127.0.0.1:{port}"
        demo.wait_ready(base_url)
        return base_url, demo

    yield start
    for demo in processes:
        demo.stop()


def test_python_m_demo_app_writes_a_secret_and_serves(tmp_path: Path, run_demo: StartDemo) -> None:
    port = free_port()
    base_url, demo = run_demo(port)
    text = demo.output

    assert f"open http://127.0.0.1:{port}/docs" in text
    assert "Wrote a new random JWT_SECRET" in text
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert len(_secret_lines(env_file.read_text())) == 1
    assert (tmp_path / "demo.db").exists()

    reply = httpx.post(
        base_url + "/auth/register",
        json={"email": "first@example.com", "password": PASSWORD},
        timeout=10,
    )
    assert reply.status_code == 201
    token = httpx.post(
        base_url + "/auth/login",
        json={"email": "first@example.com", "password": PASSWORD},
        timeout=10,
    ).json()["access_token"]
    me = httpx.get(base_url + "/auth/me", headers=bearer(token))
    assert me.json()["email"] == "first@example.com"


def test_python_m_demo_app_keeps_an_existing_secret(tmp_path: Path, run_demo: StartDemo) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"JWT_SECRET={SECRET}\n")

    _, demo = run_demo(free_port())

    assert "Wrote a new" not in demo.output
    assert env_file.read_text() == f"JWT_SECRET={SECRET}\n"


@pytest.mark.parametrize(
    "env",
    [pytest.param({}, id="first-run"), pytest.param({"JWT_SECRET": SECRET}, id="configured")],
)
def test_a_taken_port_is_named_before_anything_else(tmp_path: Path, env: dict[str, str]) -> None:
    """One line on stderr, naming the port and PORT; no secret written, nothing served."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "demo_app"],
            cwd=tmp_path,
            env=child_environment(PORT=str(port), **env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Port {port} on 127.0.0.1 is already in use")
    assert "PORT variable" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == []


#: ``2026-11-25 20:29:55,101 WARNING demo_app.health: ...``
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<name>[\w.]+): (?P<message>.*)"
)


def test_log_lines_carry_time_level_and_logger_name(run_demo: StartDemo) -> None:
    """uvicorn, jwt_middleware and demo_app each write at least one line, all in one format:
    an unreachable Redis makes the demo warn at start-up and the middleware report the
    failed revocation check of a request with a token."""
    base_url, demo = run_demo(
        free_port(), JWT_SECRET=SECRET, REDIS_URL="redis://:redis-password@127.0.0.1:1/0"
    )
    httpx.post(base_url + "/auth/register", json={"email": "log@example.com", "password": PASSWORD})
    token = httpx.post(
        base_url + "/auth/login", json={"email": "log@example.com", "password": PASSWORD}
    ).json()["access_token"]
    assert httpx.get(base_url + "/auth/me", headers=bearer(token)).status_code == 503

    output = demo.stop()

    entries = [match for line in output.splitlines() if (match := LOG_LINE.fullmatch(line))]
    by_logger = {match["name"].split(".")[0] for match in entries}
    assert {"uvicorn", "jwt_middleware", "demo_app"} <= by_logger, output
    started = [m for m in entries if m["message"].startswith("Uvicorn running on")]
    assert [m["name"] for m in started] == ["uvicorn.error"], output
    redis_warnings = [m for m in entries if "REDIS_URL" in m["message"]]
    assert [(m["level"], m["name"]) for m in redis_warnings] == [("WARNING", "demo_app.health")]
    assert "127.0.0.1:1 " in redis_warnings[0]["message"]
    # Nothing in uvicorn's own format, and no password, token or request path anywhere.
    assert not re.search(r"^(INFO|WARNING|ERROR):", output, re.MULTILINE), output
    for secret in ("redis-password", token, SECRET, "/auth/me"):
        assert secret not in output


def test_python_m_demo_app_explains_bad_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo_app"],
        cwd=tmp_path,
        env=child_environment(JWT_SECRET="too-short", PORT="8000"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "JWT_SECRET must be at least 32 characters" in result.stderr
    assert "too-short" not in result.stderr
    assert not (tmp_path / ".env").exists()


# demo_app.main:app -----------------------------------------------------------------------


@pytest.fixture
def fresh_main_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Import demo_app.main anew in this test, and forget it afterwards."""
    monkeypatch.delitem(sys.modules, "demo_app.main", raising=False)
    yield
    sys.modules.pop("demo_app.main", None)


@pytest.mark.usefixtures("fresh_main_module")
def test_import_string_app_is_configured_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    monkeypatch.setenv("DEMO_PASSWORD_MIN_LENGTH", "10")

    with serve("demo_app.main:app") as base_url:
        short = httpx.post(
            base_url + "/auth/register",
            json={"email": "env@example.com", "password": "ninechars"},
        )
        created = httpx.post(
            base_url + "/auth/register",
            json={"email": "env@example.com", "password": "ten chars!"},
        )

    assert short.status_code == 422
    assert created.status_code == 201
    assert (tmp_path / "from-env.db").exists()
    assert not (tmp_path / "demo.db").exists()


@pytest.mark.usefixtures("fresh_main_module")
def test_import_without_a_secret_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JWT_SECRET is not set"):
        import demo_app.main  # noqa: F401
