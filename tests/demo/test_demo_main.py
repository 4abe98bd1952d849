"""Starting the demo: the first-run secret in .env, ``python -m demo_app``, and the
``demo_app.main:app`` import string configured from the environment alone.
"""

from __future__ import annotations

import contextlib
import os
import queue
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from demo_app.__main__ import ensure_jwt_secret
from tests.conftest import SECRET
from tests.servers import free_port, serve

from .conftest import PASSWORD

StartDemo = Callable[[int], tuple[str, list[str]]]


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


def _child_env(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("JWT_", "DEMO_")) and name not in ("DATABASE_URL", "PORT")
    }
    env.update(extra)
    return env


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator[StartDemo]:
    """Start ``python -m demo_app`` in tmp_path; yield a function that returns its URL."""
    processes: list[subprocess.Popen[str]] = []

    def start(port: int) -> tuple[str, list[str]]:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo_app"],
            cwd=tmp_path,
            env=_child_env(PORT=str(port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        seen: list[str] = []
        deadline = time.monotonic() + 30
        base_url = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.2))
            try:
                if httpx.get(base_url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, "".join(seen)
        else:
            pytest.fail("python -m demo_app did not start:\n" + "".join(seen))
        while not lines.empty():
            seen.append(lines.get())
        return base_url, seen

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=15)


def test_python_m_demo_app_writes_a_secret_and_serves(tmp_path: Path, run_demo: StartDemo) -> None:
    port = free_port()
    base_url, output = run_demo(port)
    text = "".join(output)

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
    me = httpx.get(base_url + "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == "first@example.com"


def test_python_m_demo_app_keeps_an_existing_secret(tmp_path: Path, run_demo: StartDemo) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"JWT_SECRET={SECRET}\n")

    _, output = run_demo(free_port())

    assert "Wrote a new" not in "".join(output)
    assert env_file.read_text() == f"JWT_SECRET={SECRET}\n"


def test_python_m_demo_app_explains_bad_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo_app"],
        cwd=tmp_path,
        env=_child_env(JWT_SECRET="too-short", PORT="8000"),
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
