"""The fake provider's introspection endpoint (RFC 7662): the tokens it minted, filed by
their SHA-256, and the answers for the one client it knows.

The client authenticates with ``client_secret_basic`` or ``client_secret_post`` (RFC 6749
section 2.3.1), one method at a time; its credentials are compared in constant time. A live
token is answered ``{"active": true, "token_type": "Bearer", ...claims}`` (``"DPoP"`` for
one bound to a DPoP key, whose claims hold ``cnf.jkt``: RFC 9449 section 6.2); an expired,
not-yet-valid, revoked or unknown one ``{"active": false}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qs, unquote_plus

from .server import Answer, error

__all__ = ["IntrospectionEndpoint"]

#: The table of minted tokens drops the expired ones when it reaches this size (then twice
#: the size it kept), so a long session's table holds the live tokens and few more.
_PRUNE_AT_LEAST: Final = 1024

#: RFC 6749 section 5.2: a client that failed to authenticate is told how to.
_INVALID_CLIENT: Final = error(401, "invalid_client", ("WWW-Authenticate", 'Basic realm="fake"'))
_INVALID_REQUEST: Final = error(400, "invalid_request")
_INACTIVE: Final = Answer(200, {"active": False})


class IntrospectionEndpoint:
    """The tokens a provider minted, and what its endpoint answers about them to
    ``client_id`` (whose secret it makes). Safe to use from several threads."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        #: What each token says, by :func:`_fingerprint`; a revoked token leaves.
        self._issued: dict[str, dict[str, Any]] = {}
        self._prune_at = _PRUNE_AT_LEAST

    def file(self, token: str, claims: dict[str, Any]) -> None:
        """Remember what ``token`` says; past :data:`_PRUNE_AT_LEAST` tokens, the expired
        ones are dropped first (each now and then, not at every token)."""
        with self._lock:
            if len(self._issued) >= self._prune_at:
                now = time.time()
                self._issued = {
                    key: kept for key, kept in self._issued.items() if not _expired(kept, now)
                }
                self._prune_at = max(_PRUNE_AT_LEAST, 2 * len(self._issued))
            self._issued[_fingerprint(token)] = claims

    def revoke(self, token: str) -> None:
        """Forget ``token``: it is answered inactive from now on."""
        with self._lock:
            self._issued.pop(_fingerprint(token), None)

    def __len__(self) -> int:
        """How many tokens are filed (expired ones included, until the next pruning)."""
        with self._lock:
            return len(self._issued)

    def answer(self, authorization: str | None, form: bytes | None) -> Answer:
        """The answer to a POST of ``form`` (``None``: too large to read) with the
        ``Authorization`` header given."""
        if form is None:
            return error(413, "invalid_request")
        try:
            fields = parse_qs(form.decode(), keep_blank_values=True, strict_parsing=bool(form))
        except (UnicodeDecodeError, ValueError):
            return _INVALID_REQUEST
        if any(len(values) > 1 for values in fields.values()):
            return _INVALID_REQUEST  # RFC 6749 section 3.2: no parameter twice
        given = {name: values[0] for name, values in fields.items()}
        posted = "client_id" in given or "client_secret" in given
        if authorization is not None and posted:
            return _INVALID_REQUEST  # RFC 6749 section 2.3: one method at a time
        if authorization is not None:
            credentials = _basic_credentials(authorization)
        elif posted:
            credentials = (given.get("client_id", ""), given.get("client_secret", ""))
        else:
            credentials = None
        if credentials is None or not self._is_the_client(*credentials):
            return _INVALID_CLIENT
        token = given.get("token")
        if not token:
            return _INVALID_REQUEST
        return self._introspection(token)

    def _is_the_client(self, client_id: str, secret: str) -> bool:
        # Both compared, in constant time: a test of timing is not this fake's job, but a
        # copied pattern should be the right one.
        right_id = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        right_secret = hmac.compare_digest(secret.encode(), self.client_secret.encode())
        return right_id and right_secret

    def _introspection(self, token: str) -> Answer:
        """RFC 7662's answer for ``token``: its claims while it is live, else inactive."""
        with self._lock:
            claims = self._issued.get(_fingerprint(token))
        now = time.time()
        if claims is None or _expired(claims, now) or _not_yet(claims, now):
            return _INACTIVE
        return Answer(200, {"active": True, "token_type": _token_type(claims), **claims})


def _token_type(claims: Mapping[str, Any]) -> str:
    """``DPoP`` for a token bound to a DPoP key (RFC 9449 section 6.2), else ``Bearer``."""
    confirmation = claims.get("cnf")
    return "DPoP" if isinstance(confirmation, Mapping) and "jkt" in confirmation else "Bearer"


def _fingerprint(token: str) -> str:
    """What a minted token is filed under: its SHA-256, not the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    """The client id and secret of a ``Basic`` header, each form-decoded (RFC 6749 section
    2.3.1); ``None`` when it is not one."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = pair.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else None


def _expired(claims: Mapping[str, Any], now: float) -> bool:
    exp = claims.get("exp")
    return isinstance(exp, int | float) and exp <= now


def _not_yet(claims: Mapping[str, Any], now: float) -> bool:
    nbf = claims.get("nbf")
    return isinstance(nbf, int | float) and nbf > now
