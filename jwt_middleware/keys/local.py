"""Key sources that need no network: a JWK Set given inline (``JWT_JWKS``) or kept in a file
(``JWT_JWKS_FILE``), for air-gapped services and keys handed over by a deployment (a
Kubernetes secret mounted as a file, say).

Both read the set with :func:`~.jwk.parse_jwk_set`, so the same members are used as from a
JWKS URL, bound the same way, and selected the same way (:class:`~.jwk.KeySet`: a token
naming a ``kid`` gets that key only; one without gets every key of its ``alg``, up to
:data:`~.jwk.MAX_KEYS_WITHOUT_KID`).

A file is watched without a thread or a task: a request looks at the file's ``stat`` at
most once per ``check_seconds`` (and a token naming a ``kid`` the set does not hold, at
most once per ``min_recheck_seconds``), and reads it again only when its modification
time, size or inode changed (an atomic rename, as Kubernetes does, is a new inode). A file
that became unreadable or is no longer a usable JWK Set keeps the last good keys and logs
one fixed WARNING line per change; a file that is broken at start-up raises.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from ..types import BoundKey
from .jwk import JWKSetError, KeySet, parse_jwk_set

__all__ = ["MAX_FILE_BYTES", "JWKSFileKeys", "LocalKeysError", "StaticJWKS", "inline_jwks"]

logger = logging.getLogger(__name__)

#: A JWK Set file larger than this is refused unread (real ones are a few kilobytes).
MAX_FILE_BYTES: Final = 1_000_000

#: What a file's identity is made of: modification time, size, inode.
_Stamp = tuple[int, int, int]


class LocalKeysError(ValueError):
    """A JWK Set that cannot be used; the message is fixed and safe to log."""


class _LocalSource:
    """What the local sources share: keys chosen by ``kid``, nothing to load or close,
    nothing to wait for (:meth:`keys` is :meth:`keys_now`)."""

    __slots__ = ()

    @property
    def depends_on_header(self) -> bool:
        return True

    @property
    def available(self) -> bool:
        """Always: a local key set is read at start-up, where a broken one stops the app,
        and a broken rewrite later keeps the last good keys."""
        return True

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        raise NotImplementedError

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        return self.keys_now(algorithm, kid)

    async def prefetch(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class StaticJWKS(_LocalSource):
    """The keys of a JWK Set given once (:func:`inline_jwks`); they never change."""

    __slots__ = ("_key_set",)

    def __init__(self, key_set: KeySet) -> None:
        self._key_set = key_set

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        return _select(self._key_set, algorithm, kid)

    def __repr__(self) -> str:
        return f"StaticJWKS(<{self._key_set.size} keys>)"


def inline_jwks(document: str | bytes, *, algorithms: Sequence[str]) -> StaticJWKS:
    """The key source of a JWK Set document given as text (``JWT_JWKS``); raises
    :class:`LocalKeysError` when it is not a JWK Set with a usable key."""
    body = document.encode("utf-8") if isinstance(document, str) else document
    return StaticJWKS(_parsed(body, algorithms))


class JWKSFileKeys(_LocalSource):
    """A :class:`~jwt_middleware.keys.source.KeySource` reading a JWK Set file, and reading
    it again when it changes.

    Args:
        path: the file. Read now: raises :class:`LocalKeysError` if it cannot be read or
            holds no usable key.
        algorithms: the asymmetric algorithms its keys may be used with.
        check_seconds: at most this often, a request looks whether the file changed.
        min_recheck_seconds: a token naming an unknown ``kid`` looks sooner, but not more
            often than this (a flood of made-up ``kid`` values costs one ``stat`` per
            interval).
        clock: a monotonic clock in seconds; tests pass a fake one.
    """

    __slots__ = (
        "_algorithms",
        "_check_seconds",
        "_checked_at",
        "_clock",
        "_key_set",
        "_min_recheck",
        "_path",
        "_stamp",
        "reloads",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        algorithms: Sequence[str],
        check_seconds: float = 30,
        min_recheck_seconds: float = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = Path(path)
        self._algorithms = tuple(algorithms)
        self._check_seconds = check_seconds
        self._min_recheck = min_recheck_seconds
        self._clock = clock
        stamp, key_set = self._read()
        self._stamp: _Stamp | None = stamp
        self._key_set = key_set
        self._checked_at = clock()
        #: Times a changed file was read and its keys taken (for monitoring and tests).
        self.reloads = 0

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        """The keys for this ``alg`` and ``kid``, after a look at the file if one is due.
        Never waits on anything but the file system (a ``stat``, and a read of a few
        kilobytes when the file changed)."""
        elapsed = self._clock() - self._checked_at
        if elapsed >= self._check_seconds or (
            elapsed >= self._min_recheck and isinstance(kid, str) and kid not in self._key_set.kids
        ):
            self._check()
        return _select(self._key_set, algorithm, kid)

    def _check(self) -> None:
        self._checked_at = self._clock()
        try:
            stamp = _stamp_of(os.stat(self._path))
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp  # one warning per change, not one per check
        try:
            stamp, key_set = self._read()
        except LocalKeysError as exc:
            logger.warning("JWK Set file unusable (%s): keeping the keys read before", exc)
            return
        self._stamp, self._key_set = stamp, key_set
        self.reloads += 1
        logger.info("JWK Set file read again: %d usable keys", key_set.size)

    def _read(self) -> tuple[_Stamp, KeySet]:
        try:
            with self._path.open("rb") as file:
                stamp = _stamp_of(os.fstat(file.fileno()))
                body = file.read(MAX_FILE_BYTES + 1)
        except OSError:
            raise LocalKeysError("the file cannot be read") from None
        if len(body) > MAX_FILE_BYTES:
            raise LocalKeysError(f"the file is larger than {MAX_FILE_BYTES} bytes")
        return stamp, _parsed(body, self._algorithms)

    def __repr__(self) -> str:
        return f"JWKSFileKeys(<{self._key_set.size} keys>)"


def _parsed(body: bytes, algorithms: Sequence[str]) -> KeySet:
    try:
        bound, skipped = parse_jwk_set(body, algorithms)
    except JWKSetError as exc:
        raise LocalKeysError(str(exc).replace("response", "document")) from None
    for index, level, reason in skipped:
        logger.log(level, "local JWK Set: keys[%d] ignored: %s", index, reason)
    return KeySet(bound)


def _select(key_set: KeySet, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
    if not isinstance(algorithm, str) or (kid is not None and not isinstance(kid, str)):
        return ()
    return key_set.select(kid, algorithm)


def _stamp_of(status: os.stat_result) -> _Stamp:
    return status.st_mtime_ns, status.st_size, status.st_ino
