"""Real servers on loopback, for what a test client would normalise away: uvicorn and
hypercorn in a thread of the test process, granian (a Rust server that runs its own
processes) as a child process; and each of the three as a child process run the way a user
runs it, for what it prints."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import hypercorn.asyncio
import hypercorn.config
import uvicorn
from starlette.types import ASGIApp

from tests.processes import child_environment

START_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: ASGIApp | str, **config: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on 127.0.0.1; yield its base URL.

    ``app`` may be an import string (``"demo_app.main:app"``). Extra keyword arguments go to
    ``uvicorn.Config``. The server is stopped, and its thread joined, on exit.
    """
    options: dict[str, Any] = {"host": "127.0.0.1", "port": free_port(), "log_level": "warning"}
    options.update(config)
    port = options["port"]
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for_port(port: int, alive: Callable[[], bool], what: str) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; raise if ``alive`` turns false
    or the server does not start in time."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.02)


@contextmanager
def serve_hypercorn(app: ASGIApp, *, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Run ``app`` with hypercorn (asyncio; HTTP/1.1 through h11) in a thread on 127.0.0.1;
    yield its base URL. The server is shut down, and its thread joined, on exit.

    ``tls`` (certificate file, key file) serves HTTPS instead, where clients that offer
    ``h2`` by ALPN speak HTTP/2."""
    port = free_port()
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    if tls is not None:
        config.certfile, config.keyfile = (str(path) for path in tls)

    def serving(stop: asyncio.Event) -> Coroutine[Any, Any, None]:
        # hypercorn types an ASGI app with TypedDict scopes and messages; Starlette's
        # ASGIApp is the same callable typed with plain mappings.
        return hypercorn.asyncio.serve(
            app,  # type: ignore[arg-type]
            config,
            shutdown_trigger=stop.wait,
        )

    with serve_in_thread(serving, port, "hypercorn"):
        yield f"{'https' if tls is not None else 'http'}://127.0.0.1:{port}"


@contextmanager
def serve_in_thread(
    serving: Callable[[asyncio.Event], Coroutine[Any, Any, None]], port: int, what: str
) -> Iterator[None]:
    """Run ``serving(stop)`` on an event loop of its own in a thread; return once
    127.0.0.1:``port`` accepts connections. On exit ``stop`` is set, and the thread joined."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serving(stop))
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for_port(port, thread.is_alive, what)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)


@contextmanager
def serve_granian(factory: str, *, workdir: Path, lifespan: bool = True) -> Iterator[str]:
    """Run ``granian`` as a child process on 127.0.0.1 with the app that ``factory`` (an
    import string, ``module:function``) builds in the child; yield its base URL.

    The child gets :func:`tests.processes.child_environment` and ``workdir`` (so no
    ``.env``); what it printed is in the error if it does not start. ``lifespan=False``
    serves an app that does not speak the lifespan protocol (ASGI without it, "asginl").
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi" if lifespan else "asginl",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        factory,
    ]
    with _child_server(
        command,
        cwd=workdir,
        env=child_environment(),
        port=port,
        log=workdir / f"granian-{port}.log",
    ) as base_url:
        yield base_url


@contextmanager
def serve_shell_command(command: str, *, port: int, workdir: Path) -> Iterator[str]:
    """Run ``command`` (a shell command line, as a reader types it) with bash in ``workdir``,
    as a child with :func:`tests.processes.child_environment` and this interpreter's
    scripts first on ``PATH``; yield ``http://127.0.0.1:port`` once the port accepts
    connections. What the child printed is in the error if it does not start."""
    bash = shutil.which("bash")
    assert bash is not None
    with _child_server(
        [bash, "-c", f"exec {command}"],
        cwd=workdir,
        env=reader_environment(),
        port=port,
        log=workdir / f"server-{port}.log",
    ) as base_url:
        yield base_url


def reader_environment() -> dict[str, str]:
    """What a reader's shell has: no ``JWT_*`` (:func:`tests.processes.child_environment`),
    and ``python`` and ``uvicorn`` meaning this interpreter and its scripts."""
    scripts = str(Path(sys.executable).parent)
    environment = child_environment()
    environment["PATH"] = os.pathsep.join([scripts, environment.get("PATH", "")])
    return environment


#: The servers :func:`serve_as_command` runs.
COMMAND_SERVERS = ["uvicorn", "hypercorn", "granian"]


def server_command(server: str, factory: str, port: int) -> list[str]:
    """The command line that serves the app ``factory`` (``module:function``) builds with
    ``server`` on 127.0.0.1:``port``, with nothing else set: the server's own logging."""
    python = [sys.executable, "-m", server]
    if server == "uvicorn":
        return [*python, "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
    if server == "hypercorn":
        return [*python, "--bind", f"127.0.0.1:{port}", f"{factory}()"]
    if server == "granian":
        return [
            *python,
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            factory,
        ]
    raise ValueError(f"no such server: {server}")


@contextmanager
def serve_as_command(
    server: str, factory: str, *, workdir: Path, env: dict[str, str]
) -> Iterator[tuple[str, Path]]:
    """Run :func:`server_command` as a child process in ``workdir`` with ``env``; yield its
    base URL and the file its stderr goes to (complete once the context has exited, when
    the server has been stopped)."""
    port = free_port()
    stderr_path = workdir / f"{server}-{port}.stderr"
    with _child_server(
        server_command(server, factory, port),
        cwd=workdir,
        env=env,
        port=port,
        log=stderr_path,
        stdout=workdir / f"{server}-{port}.stdout",
    ) as base_url:
        yield base_url, stderr_path


@contextmanager
def _child_server(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    port: int,
    log: Path,
    stdout: Path | None = None,
) -> Iterator[str]:
    """Run ``command`` as a child process that serves on 127.0.0.1:``port``; yield its base
    URL once the port accepts connections, and stop it (terminate, then kill) afterwards.
    Its stderr goes to ``log`` (its stdout too, unless ``stdout`` names a file of its own),
    which is in the error if it never starts listening."""
    with ExitStack() as files:
        errors = files.enter_context(log.open("wb"))
        output = files.enter_context(stdout.open("wb")) if stdout is not None else errors
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, or our README's command
            command, cwd=cwd, env=env, stdout=output, stderr=errors
        )
    try:
        try:
            wait_for_port(port, lambda: process.poll() is None, command[-1])
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log.read_text(errors='replace')}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
