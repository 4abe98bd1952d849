"""A TCP relay in front of the real Redis that a test can freeze or cut: a network partition
that drops nothing and answers nothing (frozen), or connections torn down (cut).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

__all__ = ["Relay", "relay_to"]


class Relay:
    """Forwards every connection on :attr:`url` to the upstream address, byte for byte."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._frozen = threading.Event()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"

    def freeze(self) -> None:
        """Stop moving bytes both ways, connections left open: a silent partition."""
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def cut(self) -> None:
        """Close every connection made so far; new ones are relayed again."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        self._acceptor.join(timeout=2)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._stopped.is_set():
                if self._frozen.is_set():
                    self._stopped.wait(0.01)
                    continue
                readable, _, _ = select.select([source], [], [], 0.05)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                while self._frozen.is_set() and not self._stopped.is_set():
                    self._stopped.wait(0.01)  # read before the freeze: held, not dropped
                target.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def relay_to(redis_url: str) -> Iterator[Relay]:
    """A relay to the Redis of ``redis_url``, closed afterwards."""
    parts = urlsplit(redis_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 6379))
    try:
        yield relay
    finally:
        relay.close()
