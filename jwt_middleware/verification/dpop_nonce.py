"""Server nonces for DPoP proofs (RFC 9449 section 9), stateless: every instance of a
service makes and accepts the same nonces without a shared store.

A nonce is the number of the current time step (``JWT_DPOP_NONCE_SECONDS`` long) and an
HMAC-SHA256 of it under ``JWT_DPOP_NONCE_SECRET`` (the stdlib's ``hmac``), base64url: it
cannot be made without the secret, and it is accepted during its own step and the next,
so a nonce handed out at the very end of a step still has a whole step to be used. A proof
with the previous step's nonce is accepted, and the answer offers the current one
(``DPoP-Nonce``), before the old one stops being accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from enum import Enum
from typing import Final

__all__ = ["DPoPNonces", "NonceState"]

_LABEL: Final = b"jwt-middleware DPoP nonce\x00"
_STEP_BYTES: Final = 8
_MAC_BYTES: Final = 16
#: The length of a nonce: base64url of 24 bytes, without padding.
_NONCE_CHARACTERS: Final = 32


class NonceState(Enum):
    """What a proof's nonce is worth now."""

    #: The current step's: nothing to offer.
    CURRENT = "current"
    #: The previous step's: accepted, and the current one is offered with the answer.
    PREVIOUS = "previous"
    #: None, not a nonce of ours, or older: ``use_dpop_nonce``.
    INVALID = "invalid"


class DPoPNonces:
    """Make and check the nonces of one secret and step length (see the module)."""

    __slots__ = ("_current", "_secret", "_step_seconds")

    def __init__(self, *, secret: bytes, step_seconds: int) -> None:
        if len(secret) < 32 or step_seconds < 1:
            raise ValueError("a nonce secret of at least 32 bytes and a positive step")
        self._secret = secret
        self._step_seconds = step_seconds
        #: The step and nonce made last: a step's nonce is made once.
        self._current: tuple[int, str] = (-1, "")

    def _step(self, now: float) -> int:
        return int(now // self._step_seconds)

    def _make(self, step: int) -> str:
        number = step.to_bytes(_STEP_BYTES, "big")
        mac = hmac.digest(self._secret, _LABEL + number, hashlib.sha256)[:_MAC_BYTES]
        return base64.urlsafe_b64encode(number + mac).decode("ascii")

    def current(self, now: float) -> str:
        """The nonce to hand out at ``now`` (wall-clock seconds)."""
        step = self._step(now)
        known_step, nonce = self._current
        if known_step != step:
            nonce = self._make(step)
            self._current = (step, nonce)
        return nonce

    def check(self, nonce: object, now: float) -> NonceState:
        """What ``nonce`` (a proof's claim, anything) is worth at ``now``."""
        if type(nonce) is not str or len(nonce) != _NONCE_CHARACTERS or not nonce.isascii():
            return NonceState.INVALID
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except (binascii.Error, ValueError):
            return NonceState.INVALID
        step = int.from_bytes(raw[:_STEP_BYTES], "big")
        current = self._step(now)
        if step not in (current, current - 1):
            return NonceState.INVALID
        if not hmac.compare_digest(self._make(step), nonce):
            return NonceState.INVALID
        return NonceState.CURRENT if step == current else NonceState.PREVIOUS
