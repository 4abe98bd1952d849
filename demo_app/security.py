"""Password hashing: argon2id through pwdlib, with upgrades on login and a decoy for misses.

A login for an unknown email still runs one full argon2 verification (against a hash of
a random password made at start-up), so it takes as long as a wrong password for a real
account and the answer's timing does not tell which emails are registered.
"""

from __future__ import annotations

import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["Passwords"]


class Passwords:
    """Hashes new passwords and checks given ones, with one fixed set of argon2 parameters.

    ``hasher`` defaults to argon2id with argon2-cffi's defaults (RFC 9106's low-memory
    profile). Hashes made with other parameters still verify, and are re-made with the
    current ones by :meth:`verify`.
    """

    __slots__ = ("_decoy", "_hasher")

    def __init__(self, hasher: PasswordHash | None = None) -> None:
        self._hasher = hasher if hasher is not None else PasswordHash((Argon2Hasher(),))
        self._decoy = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Check ``password`` against ``stored_hash``; ``None`` (no such user) never matches.

        Returns whether it matched and, when it did and the hash was made with other
        parameters, the new hash to store in its place.
        """
        if stored_hash is None:
            self._hasher.verify(password, self._decoy)
            return False, None
        return self._hasher.verify_and_update(password, stored_hash)
