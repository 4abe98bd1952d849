"""``python -m demo_app`` as a real child process: its readiness and its output.

Give it :func:`tests.processes.child_environment`, so that the child sees none of the
developer's (or the test run's) configuration: only what each test passes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

__all__ = ["DemoProcess"]


class DemoProcess:
    """``python -m demo_app`` started in ``cwd`` with ``env``; stdout and stderr merged.

    Output is collected by a thread as it comes, so the child never blocks on a full pipe;
    :meth:`stop` ends the child and returns everything it wrote.
    """

    def __init__(self, *, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "demo_app"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.append(line)

    @property
    def output(self) -> str:
        """What the child has written so far."""
        return "".join(self._lines)

    def wait_ready(self, base_url: str, *, timeout_seconds: float = 30) -> None:
        """Wait until ``GET /health`` answers 200; fail with the output if it never does."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                if httpx.get(base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    self._reader.join(timeout=5)
                    raise AssertionError("python -m demo_app exited:\n" + self.output) from None
            time.sleep(0.1)
        raise AssertionError("python -m demo_app did not start:\n" + self.output)

    def stop(self) -> str:
        """Terminate the child (SIGTERM, a clean uvicorn shutdown); return all its output."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=15)
        self._reader.join(timeout=5)
        return self.output
