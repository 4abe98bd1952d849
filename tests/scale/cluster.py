"""Separate uvicorn processes on loopback: start several at once, wait until they answer,
and always stop them.

Each process gets the environment it is given (:func:`tests.processes.child_environment`:
none of the developer's configuration), a working folder without a ``.env`` and a log file,
which a failing test shows.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import httpx

from tests.servers import free_port

START_TIMEOUT_SECONDS: Final = 30.0
STOP_TIMEOUT_SECONDS: Final = 10.0


@dataclass
class Instance:
    """One uvicorn process serving ``app`` on ``base_url``."""

    name: str
    app: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye; what a crashed host looks like to its peers."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.log_file.close()


def start(
    name: str, app: str, *, env: Mapping[str, str], workdir: Path, app_dir: Path | None = None
) -> Instance:
    """Launch ``uvicorn app`` on a free loopback port; :func:`wait_ready` waits for it."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=workdir, env=dict(env), stdout=log_file, stderr=subprocess.STDOUT
    )
    return Instance(name, app, f"http://127.0.0.1:{port}", process, log_path, log_file)


def wait_ready(instances: Sequence[Instance], *, path: str = "/health") -> None:
    """Return once every instance answers ``path`` with 200; raise with its log otherwise."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    waiting = list(instances)
    while waiting:
        for instance in list(waiting):
            if instance.process.poll() is not None:
                raise RuntimeError(
                    f"{instance.name} exited with {instance.process.returncode}:\n{instance.log()}"
                )
            try:
                if httpx.get(instance.base_url + path, timeout=1).status_code == 200:
                    waiting.remove(instance)
            except httpx.TransportError:
                pass
        if waiting and time.monotonic() > deadline:
            names = ", ".join(instance.name for instance in waiting)
            logs = "\n".join(f"--- {i.name}\n{i.log()}" for i in waiting)
            raise RuntimeError(f"not ready after {START_TIMEOUT_SECONDS:.0f}s: {names}\n{logs}")
        if waiting:
            time.sleep(0.05)
