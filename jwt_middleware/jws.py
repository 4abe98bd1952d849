"""Compact JWS (RFC 7515) as tokens arrive: split, decode strictly, read the header.

No signature is checked here (a :class:`~.types.BoundKey` checks its own) and no claim
(:mod:`.verification.claims` does): this module turns untrusted text into bytes and a
header, or refuses it, at a cost that grows with the token's size and no faster. The payload
is decoded only on request: with one issuer the verifier asks after the signature has been
checked, so a forged token is never parsed as JSON; with several, it may read the
unverified ``iss`` first to pick whose keys to try (:mod:`.verification.candidates`), so a
forged payload is parsed (as strictly, and at a cost bounded by the token's size) but never
trusted.

Its rules are PyJWT's or stricter, never looser (the differential property tests hold it to
that): three segments; the base64url alphabet, with PyJWT's optional ``=`` padding and its
canonical-encoding check; a header that is a JSON object in UTF-8, of bounded size, with a
string ``alg`` and, if present, a string ``kid``; no ``crit`` extension at all (PyJWT
understands ``b64``, which a bearer token never needs); no ``b64: false``.

Speed comes from doing each thing once, and nothing for a forged token that its signature
does not need: the token is split where its dots are; the header and signature segments are
checked against the base64url alphabet, the payload segment only when it is decoded (see
above; it is signed as the raw text it is, whatever it holds; a token whose payload is not
base64url is refused then); each segment is checked and decoded in one pass, not a regular
expression and then ``binascii``: one ``bytes.translate`` maps base64url to the standard
alphabet and ``+`` and ``/`` (not base64url) to a character that ``binascii``'s strict mode
refuses, as it refuses anything else outside the alphabet; and the header of a token that
*verified* is remembered (:func:`remember_header`), since an issuer's tokens share one
header segment, so the next token of that issuer skips decoding and parsing it. The header
of a token not (yet) verified is remembered apart, in a memo that an attacker who sends a
new header with every token can only churn: a forged token sent again, or a real one
tampered with, is refused without its header being read again, and no forged header
pushes out a real one. Nor is the payload segment cut out of the token for a
forged one: :attr:`Token.payload_segment` is cut from the signing input when it is asked for.
"""

from __future__ import annotations

import binascii
import json
from typing import Any, Final, NamedTuple

__all__ = [
    "MAX_HEADER_CHARACTERS",
    "MalformedTokenError",
    "Token",
    "decode_segment",
    "header_member",
    "load_json",
    "parse",
    "remember_header",
]

#: A longer header segment is refused unread: real ones hold ``alg``, ``typ`` and ``kid``,
#: and a header is parsed before the signature is checked.
MAX_HEADER_CHARACTERS: Final = 2048

#: Each base64url character's 6-bit value, by its byte.
_VALUES: Final = {
    character: value
    for value, character in enumerate(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
}
#: For the last character of a segment whose length is 2 or 3 mod 4: the bits that must be
#: zero for the encoding to be canonical (the one PyJWT's re-encoding check accepts).
_SPARE_BITS: Final = (0, 0, 0x0F, 0x03)
#: The padding ``binascii`` wants, by the unpadded length mod 4 (1 never gets this far).
_PADDING: Final = (b"", b"", b"==", b"=")
#: base64url to the standard alphabet ``binascii`` reads; ``+`` and ``/``, which are not
#: base64url, become ``!``, which its strict mode refuses like any other stray character.
_TO_STANDARD: Final = bytes.maketrans(b"-_+/", b"+/!!")
#: ``json.loads`` without its argument checks: the text is always a ``str`` here.
_JSON: Final = json.JSONDecoder()

_new_tuple: Final = tuple.__new__

#: Headers of tokens that verified, by their segment: see :func:`remember_header`.
_KNOWN_HEADERS: dict[str, tuple[str, str | None, str | None]] = {}
_MAX_KNOWN_HEADERS: Final = 64
#: Headers read from tokens not known to have verified (forged ones among them), by their
#: segment: a header is a function of its segment alone, so what was read once holds. Apart
#: from :data:`_KNOWN_HEADERS`, so that new headers, one per token, only ever churn this.
_SEEN_HEADERS: dict[str, tuple[str, str | None, str | None]] = {}


class MalformedTokenError(ValueError):
    """Not a compact JWS we accept; the message is a fixed reason, safe to log."""


class Token(NamedTuple):
    """A token split into what verification needs, nothing decoded but the header."""

    algorithm: str
    kid: str | None
    typ: str | None
    header_segment: str
    signing_input: bytes
    signature: bytes

    @property
    def payload_segment(self) -> str:
        """The payload segment as sent: cut from :attr:`signing_input` when asked, not when
        the token is parsed, so that a forged token is not copied once more for it."""
        return self.signing_input[len(self.header_segment) + 1 :].decode("ascii")

    def payload(self) -> Any:
        """The decoded payload (any JSON value), to be trusted only once the signature checks
        out."""
        return load_json(self.payload_json())

    def payload_json(self) -> str:
        """The payload's JSON text, not parsed; its segment's alphabet, padding and
        encoding are checked here, when it is decoded (see the module's documentation)."""
        try:
            return _decode(self.signing_input[len(self.header_segment) + 1 :]).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedTokenError("payload is not JSON") from None


def load_json(text: str) -> Any:
    """Parse a payload's JSON text (:meth:`Token.payload_json`)."""
    try:
        value, end = _JSON.raw_decode(text)
        if end != len(text):  # whitespace (or anything else) after the value
            value = _JSON.decode(text)
    except ValueError:
        try:  # raw_decode takes no whitespace before the value; decode does
            value = _JSON.decode(text)
        except (ValueError, RecursionError):
            raise MalformedTokenError("payload is not JSON") from None
    except RecursionError:
        raise MalformedTokenError("payload is not JSON") from None
    return value


def parse(token: str) -> Token:
    """Split ``token`` and read its header; :class:`MalformedTokenError` if malformed.

    The payload segment is not looked at here beyond being ASCII without a dot: see
    :meth:`Token.payload_json`.
    """
    if not token.isascii():  # O(1) for a str: CPython records it
        raise MalformedTokenError("not base64url")
    first = token.find(".")
    second = token.find(".", first + 1)  # no dot at all: -1 both times
    if second < 0:
        raise MalformedTokenError("not three segments")
    signature_segment = token[second + 1 :]
    if "." in signature_segment:  # not a third find: a find parses its arguments as a tuple
        raise MalformedTokenError("not three segments")
    if first > MAX_HEADER_CHARACTERS:
        raise MalformedTokenError("header too long")
    header_segment = token[:first]
    known = _KNOWN_HEADERS.get(header_segment)
    if known is None:
        known = _SEEN_HEADERS.get(header_segment)
        if known is None:
            known = _read_header(header_segment)
            if len(_SEEN_HEADERS) >= _MAX_KNOWN_HEADERS:
                _SEEN_HEADERS.clear()
            _SEEN_HEADERS[header_segment] = known
    algorithm, kid, typ = known
    signature = _decode(signature_segment.encode())  # encode(): ASCII, so UTF-8's fast path
    signing_input = token[:second].encode()
    # tuple.__new__ builds the same Token as Token(...) does, without the Python-level
    # __new__ a NamedTuple has: a refused token pays for little more than its signature.
    return _new_tuple(Token, (algorithm, kid, typ, header_segment, signing_input, signature))


def remember_header(token: Token) -> None:
    """Remember the header of ``token``, which has just verified, for the next token with
    the same header segment. Bounded: when full, it starts again (real deployments have a
    handful of headers: one per issuer, key and type)."""
    if token.header_segment not in _KNOWN_HEADERS:
        if len(_KNOWN_HEADERS) >= _MAX_KNOWN_HEADERS:
            _KNOWN_HEADERS.clear()
        _KNOWN_HEADERS[token.header_segment] = (token.algorithm, token.kid, token.typ)


def header_member(token: Token, name: str) -> Any:
    """The member ``name`` of the token's header (``None`` if absent), decoded again from
    :attr:`Token.header_segment`: for a header member only some configurations read (ALB's
    ``signer``), so that :func:`parse` reads ``alg``, ``kid`` and ``typ`` and no more."""
    try:
        header = _JSON.decode(_decode(token.header_segment.encode()).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # parse() read it already
        raise MalformedTokenError("header is not JSON") from None
    return header.get(name) if isinstance(header, dict) else None


def decode_segment(segment: str) -> bytes:
    """One base64url segment, as strictly as PyJWT decodes it or more: the base64url
    alphabet only, at most two ``=`` of padding and only where they belong, and the
    canonical encoding."""
    if not segment.isascii():
        raise MalformedTokenError("not base64url")
    return _decode(segment.encode())


def _decode(segment: bytes) -> bytes:
    """:func:`decode_segment` of a segment already known to be ASCII, as bytes."""
    stripped = segment.rstrip(b"=")
    if len(stripped) != len(segment):
        _check_padding(segment, stripped)
    remainder = len(stripped) % 4
    if remainder == 1:
        raise MalformedTokenError("bad base64url length")
    try:
        decoded = binascii.a2b_base64(
            stripped.translate(_TO_STANDARD) + _PADDING[remainder], strict_mode=True
        )
    except binascii.Error:
        raise MalformedTokenError("not base64url") from None
    # Only now is the last character known to be base64url.
    if remainder and _VALUES[stripped[-1]] & _SPARE_BITS[remainder]:
        raise MalformedTokenError("not canonical base64url")
    return decoded


def _read_header(segment: str) -> tuple[str, str | None, str | None]:
    try:
        header = _JSON.decode(_decode(segment.encode()).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedTokenError("header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedTokenError("header is not an object")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str):
        raise MalformedTokenError("no algorithm")
    kid = header.get("kid")
    # Present means present: "kid": null is refused, as PyJWT refuses it.
    if "kid" in header and not isinstance(kid, str):
        raise MalformedTokenError("kid is not a string")
    if "crit" in header:
        raise MalformedTokenError("critical extensions are not supported")
    if header.get("b64", True) is not True:
        raise MalformedTokenError("unencoded payloads are not supported")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise MalformedTokenError("typ is not a string")
    return algorithm, kid, typ


def _check_padding(segment: bytes, stripped: bytes) -> None:
    """Refuse ``segment`` (``stripped`` without its trailing ``=``) unless its padding is
    whole: one or two ``=`` that complete the last quantum. Its characters are checked by
    :func:`_decode`."""
    if len(segment) % 4 or len(segment) - len(stripped) > 2:
        raise MalformedTokenError("bad base64url padding")
