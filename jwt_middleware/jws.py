"""Compact JWS (RFC 7515) as tokens arrive: split, decode strictly, read the header.

No signature is checked here (a :class:`~.types.BoundKey` checks its own) and no claim
(:mod:`.tokens` does): this module turns untrusted text into bytes and a header, or refuses
it, at a cost that grows with the token's size and no faster. The payload is decoded only
on request, after the signature has been checked, so a forged token is never parsed as JSON.

Its rules are PyJWT's or stricter, never looser (the differential property tests hold it to
that): three segments; the base64url alphabet, with PyJWT's optional ``=`` padding and its
canonical-encoding check; a header that is a JSON object in UTF-8, of bounded size, with a
string ``alg`` and, if present, a string ``kid``; no ``crit`` extension at all (PyJWT
understands ``b64``, which a bearer token never needs); no ``b64: false``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final, NamedTuple

__all__ = ["MAX_HEADER_CHARACTERS", "MalformedTokenError", "Token", "decode_segment", "parse"]

#: A longer header segment is refused unread: real ones hold ``alg``, ``typ`` and ``kid``,
#: and a header is parsed before the signature is checked.
MAX_HEADER_CHARACTERS: Final = 2048

_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: For the last character of a segment whose length is 2 or 3 mod 4: the bits that must be
#: zero for the encoding to be canonical (the one PyJWT's re-encoding check accepts).
_SPARE_BITS: Final = {2: 0x0F, 3: 0x03}


class MalformedTokenError(ValueError):
    """Not a compact JWS we accept; the message is a fixed reason, safe to log."""


class Token(NamedTuple):
    """A token split into what verification needs, nothing decoded but the header."""

    header: dict[str, Any]
    algorithm: str
    kid: str | None
    typ: str | None
    signing_input: bytes
    payload_segment: str
    signature: bytes

    def payload(self) -> Any:
        """The decoded payload (any JSON value); call it after the signature checks out."""
        try:
            return json.loads(decode_segment(self.payload_segment).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise MalformedTokenError("payload is not JSON") from None


def parse(token: str) -> Token:
    """Split ``token`` and read its header; :class:`MalformedTokenError` if malformed."""
    header_segment, dot, rest = token.partition(".")
    payload_segment, dot2, signature_segment = rest.partition(".")
    if not dot or not dot2 or "." in signature_segment:
        raise MalformedTokenError("not three segments")
    if len(header_segment) > MAX_HEADER_CHARACTERS:
        raise MalformedTokenError("header too long")
    try:
        header = json.loads(decode_segment(header_segment).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedTokenError("header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedTokenError("header is not an object")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str):
        raise MalformedTokenError("no algorithm")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedTokenError("kid is not a string")
    if "crit" in header:
        raise MalformedTokenError("critical extensions are not supported")
    if header.get("b64", True) is not True:
        raise MalformedTokenError("unencoded payloads are not supported")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise MalformedTokenError("typ is not a string")
    signature = decode_segment(signature_segment)
    _check_segment(payload_segment)  # the alphabet and padding now; decoding only if signed
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    return Token(header, algorithm, kid, typ, signing_input, payload_segment, signature)


def decode_segment(segment: str) -> bytes:
    """One base64url segment, as strictly as PyJWT decodes it or more."""
    stripped = _check_segment(segment)
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise MalformedTokenError("not base64url") from None


def _check_segment(segment: str) -> str:
    """The segment without its padding, if its alphabet, padding and encoding are canonical."""
    if not _SEGMENT.fullmatch(segment):
        raise MalformedTokenError("not base64url")
    stripped = segment.rstrip("=")
    if len(stripped) != len(segment) and len(segment) % 4:
        raise MalformedTokenError("bad base64url padding")
    remainder = len(stripped) % 4
    if remainder == 1:
        raise MalformedTokenError("bad base64url length")
    if remainder and _ALPHABET.index(stripped[-1]) & _SPARE_BITS[remainder]:
        raise MalformedTokenError("not canonical base64url")
    return stripped
