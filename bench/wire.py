"""Requests/s over a real socket: each app of :mod:`bench.apps` behind uvicorn and granian,
driven by wrk on loopback, as ratios to the app without authentication.

    .venv/bin/python bench/wire.py [--duration 5]

The in-process figures of ``bench/compare.py`` leave out the server, the HTTP parser and the
socket; these rows say how much of a real server's throughput authentication costs once they
take part. Every request carries the same ``Authorization`` header, the no-auth app's too, so
the apps differ only in what they do with it.

Why the runs are interleaved: the machine has two cores that wrk and the server share (each
pinned to one of its own where ``taskset`` is there), and its speed drifts (frequency
scaling, other tenants). Each case gets a fresh server, a 1 s warm-up and a
``duration``-second run; the cases take turns, in reverse order every other round, and the
best of :data:`ROUNDS` rounds counts, so that a slow minute falls on every case rather than
on one and the ratios hold even when the absolute figures move.

Why first-sight tokens come from a pool: with one token, this library verifies it once and
then answers from its cache of verified tokens, which is the common case (a client reuses
its token) but not the worst one. To measure the worst one, a wrk Lua script rotates through
a file of distinct pre-minted tokens, more than wrk sends in one run, so every request
carries a token the server has never seen and pays for the whole verification. The warm-up
draws from a separate pool, so it does not show the run's tokens to the server in advance;
the rows say how many of the pool's tokens the run used. Answering each request from a Lua
table costs wrk some time on the shared cores, so the first-sight rows are compared with the
no-auth app driven by the same script.

A run answered with anything but 2xx raises: a server refusing every token answers fast, and
its figure would look like a win.
"""

import argparse
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt

from bench import apps
from bench.table import Row, print_table

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 32
THREADS = 1
#: Interference on a shared machine only ever slows a run down, so the best of several
#: short runs is steadier than one long one: 2 rounds of 5 s moved rows by 10 % between
#: runs on a 2-CPU machine.
ROUNDS = 4
WARMUP_SECONDS = 1
#: Tokens for the measured first-sight runs: more than wrk sends in one run.
POOL_SIZE = 200_000
#: Tokens for the first-sight warm-ups, apart from the run's.
WARMUP_POOL_SIZE = 40_000
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
SECTION = (
    f"Over the wire, requests/s with wrk -t{THREADS} -c{CONNECTIONS} on loopback, "
    "server and wrk on CPUs of their own"
)
WRK_MISSING = "wrk is not installed: apt-get install -y wrk (make bench installs it)"

#: wrk's script for first-sight tokens: ``init`` formats one request per token of the file
#: named by the script's first argument; ``request`` hands them out in turn.
ROTATE_LUA = """\
local requests = {}
local count = 0
local next_index = 0

function init(args)
  for token in io.lines(args[1]) do
    wrk.headers["Authorization"] = "Bearer " .. token
    count = count + 1
    requests[count] = wrk.format()
  end
end

function request()
  next_index = next_index % count + 1
  return requests[next_index]
end
"""


@dataclass(frozen=True)
class Server:
    name: str

    def command(self, port: int) -> list[str]:
        target = "bench.apps:from_environment"
        if self.name == "uvicorn":
            return [
                sys.executable,
                "-m",
                "uvicorn",
                target,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            target,
        ]


SERVERS = (Server("uvicorn"), Server("granian"))


@dataclass(frozen=True)
class Case:
    """One measurement: an app of :data:`bench.apps.APPS`, with one token or the pool."""

    key: str
    app: str
    first_sight: bool = False


CASES = (
    Case("no-auth", "no-auth"),
    Case("no-auth pool", "no-auth", first_sight=True),
    Case("ours", "jwt-middleware"),
    Case("ours pool", "jwt-middleware", first_sight=True),
    Case("annotated", "jwt-middleware-annotated"),
    Case("http-bearer", "http-bearer"),
    Case("authentication-middleware", "authentication-middleware"),
    Case("authentication-middleware pool", "authentication-middleware", first_sight=True),
    Case("floor pool", "floor-middleware", first_sight=True),
)


@dataclass
class Result:
    requests_per_second: float
    requests: int


@dataclass(frozen=True)
class Tokens:
    """The reused token, and the files of the pools with the script that rotates them."""

    one: str
    run_pool: Path
    warmup_pool: Path
    script: Path


# --- tokens -----------------------------------------------------------------------------------


def mint() -> str:
    """A valid HS256 token with its own ``jti``, expiring in ten years."""
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 10 * 365 * 24 * 3600,
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, apps.SECRET, "HS256")


@contextmanager
def tokens() -> Iterator[Tokens]:
    with tempfile.TemporaryDirectory(prefix="bench-wire-") as directory:
        folder = Path(directory)
        run_pool, warmup_pool, script = (
            folder / "run-tokens.txt",
            folder / "warmup-tokens.txt",
            folder / "rotate.lua",
        )
        run_pool.write_text("".join(mint() + "\n" for _ in range(POOL_SIZE)))
        warmup_pool.write_text("".join(mint() + "\n" for _ in range(WARMUP_POOL_SIZE)))
        script.write_text(ROTATE_LUA)
        yield Tokens(mint(), run_pool, warmup_pool, script)


# --- servers ----------------------------------------------------------------------------------

#: With two CPUs or more, the server runs on one and wrk on another, so that the scheduler
#: does not put both on one CPU for part of a run (which moved whole rows by 20 % between
#: runs on a 2-CPU machine). Granian's worker inherits its parent's CPU.
SERVER_CPU, WRK_CPU = 0, 1


def pinned(cpu: int) -> list[str]:
    """``taskset`` to run a command on ``cpu``, when there is taskset and a second CPU."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", str(cpu)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(port: int, token: str) -> int | None:
    """The status of ``GET /items`` with ``token``; ``None`` while the port refuses."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/items", headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@contextmanager
def serving(server: Server, app: str, token: str) -> Iterator[int]:
    """Runs ``app`` behind ``server`` on a free loopback port until the block ends."""
    port = free_port()
    environment = os.environ | {
        "BENCH_APP": app,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryFile() as log:
        # Its own session, so that stopping it reaches granian's worker process too.
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            [*pinned(SERVER_CPU), *server.command(port)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_ready(process, port, token, f"{server.name} serving {app}", log)
            yield port
        finally:
            stop(process)


def wait_until_ready(
    process: "subprocess.Popen[bytes]", port: int, token: str, what: str, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        status = answers(port, token)
        if status == 200:
            return
        if status is not None:
            raise RuntimeError(f"{what}: GET /items with a valid token answered {status}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer 200 within {READY_TIMEOUT:.0f} s:\n{_tail(log)}")


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


def stop(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERM to the server's process group, SIGKILL if it still runs after 5 s."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
    _signal_group(process, signal.SIGKILL)  # a worker outliving its parent


def _signal_group(process: "subprocess.Popen[bytes]", sent: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sent)


# --- wrk --------------------------------------------------------------------------------------

_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_COUNT = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_REFUSED = re.compile(r"^\s*Non-2xx or 3xx responses:\s*(\d+)", re.MULTILINE)


def wrk(port: int, seconds: int, arguments: tuple[list[str], list[str]], what: str) -> Result:
    """One wrk run against ``GET /items`` with wrk's options and the script's arguments;
    raises unless every answer was 2xx or 3xx."""
    executable = shutil.which("wrk")
    if executable is None:
        raise SystemExit(WRK_MISSING)
    options, script_arguments = arguments
    command = [
        *pinned(WRK_CPU),
        executable,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        *options,
        f"http://127.0.0.1:{port}/items",
        *(["--", *script_arguments] if script_arguments else []),  # after the URL
    ]
    finished = subprocess.run(  # noqa: S603 -- wrk with our own arguments
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    output = finished.stdout + finished.stderr
    refused = _REFUSED.search(output)
    if refused:
        raise RuntimeError(
            f"{what}: {refused.group(1)} answers were not 2xx or 3xx, so its requests/s would "
            f"measure refusals; wrk said:\n{output}"
        )
    rate, count = _RATE.search(output), _COUNT.search(output)
    if finished.returncode != 0 or rate is None or count is None:
        raise RuntimeError(f"{what}: wrk failed ({finished.returncode}):\n{output}")
    return Result(float(rate.group(1)), int(count.group(1)))


def wrk_arguments(case: Case, material: Tokens, *, warmup: bool) -> tuple[list[str], list[str]]:
    """wrk's options and the script's arguments: a static header for one token; for first
    sight, the rotating script and the pool it reads."""
    if case.first_sight:
        pool = material.warmup_pool if warmup else material.run_pool
        return ["-s", str(material.script)], [str(pool)]
    return ["-H", f"Authorization: Bearer {material.one}"], []


def measure(server: Server, case: Case, material: Tokens, duration: int) -> Result:
    what = f"{server.name} serving {case.app}" + (
        " (first-sight tokens)" if case.first_sight else ""
    )
    with serving(server, case.app, material.one) as port:
        wrk(port, WARMUP_SECONDS, wrk_arguments(case, material, warmup=True), what)
        return wrk(port, duration, wrk_arguments(case, material, warmup=False), what)


# --- rows -------------------------------------------------------------------------------------


def contest(server: Server, material: Tokens, duration: int) -> dict[str, Result]:
    """The best run of each case over :data:`ROUNDS` rounds, the cases taking turns."""
    best: dict[str, Result] = {}
    for round_number in range(ROUNDS):
        order = CASES if round_number % 2 == 0 else tuple(reversed(CASES))
        for case in order:
            result = measure(server, case, material, duration)
            kept = best.get(case.key)
            best[case.key] = Result(
                max(result.requests_per_second, kept.requests_per_second if kept else 0.0),
                max(result.requests, kept.requests if kept else 0),
            )
    return best


def pool_note(result: Result) -> str:
    if result.requests < POOL_SIZE:
        return f"{result.requests:,} of {POOL_SIZE:,} pool tokens used"
    return (
        f"POOL TOO SMALL: {result.requests:,} requests > {POOL_SIZE:,} tokens, "
        "so some tokens were seen twice"
    )


def server_rows(server: Server, best: dict[str, Result]) -> list[Row]:
    def rate(key: str) -> float:
        return best[key].requests_per_second

    def row(
        case: str,
        key: str,
        reference: str,
        *,
        goal: float | None = None,
        at_least: bool = False,
        note: str = "",
    ) -> Row:
        return Row(
            SECTION,
            f"{server.name}: {case}",
            rate(key),
            "no-auth, pool script" if reference == "no-auth pool" else "no-auth",
            rate(reference),
            unit="req/s",
            goal=goal,
            at_least=at_least,
            note=note,
        )

    return [
        Row(
            SECTION,
            f"{server.name}: no-auth",
            rate("no-auth"),
            "",
            None,
            unit="req/s",
            note="the reference: same request, header ignored",
        ),
        row(
            "no-auth, pool script",
            "no-auth pool",
            "no-auth",
            note="wrk's Lua rotation; the first-sight rows' reference",
        ),
        row("jwt-middleware, one token", "ours", "no-auth", goal=0.95, at_least=True),
        row(
            "jwt-middleware, first-sight tokens",
            "ours pool",
            "no-auth pool",
            goal=0.80,
            at_least=True,
            note=pool_note(best["ours pool"]),
        ),
        row(
            "stdlib floor as a middleware, first-sight",
            "floor pool",
            "no-auth pool",
            note="the physical floor: verify every token, nothing else",
        ),
        row("jwt-middleware-annotated", "annotated", "no-auth", note="FastAPI dependency"),
        row("http-bearer, one token", "http-bearer", "no-auth"),
        row("authentication-middleware, one token", "authentication-middleware", "no-auth"),
        row(
            "authentication-middleware, first-sight",
            "authentication-middleware pool",
            "no-auth pool",
            note=pool_note(best["authentication-middleware pool"]),
        ),
    ]


def rows(*, duration: float) -> list[Row]:
    """The over-the-wire rows: every case behind uvicorn, then behind granian."""
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)
    seconds = max(1, round(duration))  # wrk takes whole seconds
    result: list[Row] = []
    with tokens() as material:
        for server in SERVERS:
            result += server_rows(server, contest(server, material, seconds))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    args = parser.parse_args()
    started = time.perf_counter()
    table = rows(duration=args.duration)
    print(f"best of {ROUNDS} rounds per case, cases taking turns, a fresh server per run")
    print_table(table)
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
