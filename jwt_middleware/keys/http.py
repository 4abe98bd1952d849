"""One GET (or form POST) whose answer, decoded, is at most so many bytes: what the key
sources fetch with, and what an introspection call posts with.

A key set or a metadata document is a few kilobytes, fetched from a URL the configuration
names but served by someone else, so the answer is bounded before it is parsed: its status,
its declared length, and the bytes it decodes to. The last is the one that matters. httpx
decodes ``Content-Encoding`` a network chunk at a time, each chunk whole, and a gzip answer
inflates a thousandfold: a 58 KB answer to a fetch capped at 1 MB reached about 265 MB
before the cap was checked. So the raw bytes are read here (``aiter_raw``) and decompressed
by :mod:`zlib` with an output bound per call: at most the cap plus one byte ever exists
decoded, whatever the ratio.

Only the encodings a key server has reason to use are accepted (``gzip``, ``deflate``,
none) and only those are asked for; another one (``br``, ``zstd``, several stacked) is
refused rather than decoded without a bound.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final

import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "FetchError",
    "ResponseTooLargeError",
    "UnexpectedStatusError",
    "fetch_capped",
]

#: The encodings asked for: the ones decoded here with a bound.
ACCEPT_ENCODING: Final = "gzip, deflate"


class FetchError(Exception):
    """The answer cannot be used; the message is fixed and safe to log."""


class ResponseTooLargeError(FetchError):
    """The answer is, or decodes to, more than the limit."""


class UnexpectedStatusError(FetchError):
    """The answer's status is not 200; ``status_code`` says which it is (a key source that
    fetches one key per ``kid`` takes a 404 for "no such key")."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP status {status_code}")
        self.status_code = status_code


async def fetch_capped(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    max_bytes: int,
    accept: str,
    operation_timeout_seconds: float | None = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """GET ``url`` without following redirects; its decoded body, at most ``max_bytes``.
    With ``form``, POST it instead (``application/x-www-form-urlencoded``); ``headers``
    are sent besides ``Accept`` and ``Accept-Encoding``.

    Raises :class:`UnexpectedStatusError` (a :class:`FetchError`) for a status other than
    200, :class:`FetchError` for an encoding not decoded here or a body that does not
    decode, :class:`ResponseTooLargeError` past ``max_bytes`` (declared or decoded), and
    httpx's errors for the transport. ``operation_timeout_seconds``
    is httpx's timeout for each connect, read and write (the client's own when ``None``);
    bound the whole call with ``asyncio.timeout``.
    """
    sent = {**(headers or {}), "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
    async with client.stream(
        "GET" if form is None else "POST",
        url,
        headers=sent,
        data=form,
        follow_redirects=False,
        timeout=(
            httpx.USE_CLIENT_DEFAULT
            if operation_timeout_seconds is None
            else operation_timeout_seconds
        ),
    ) as response:
        if response.status_code != 200:
            raise UnexpectedStatusError(response.status_code)
        too_large = ResponseTooLargeError(f"response larger than {max_bytes} bytes")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large
        if response.is_stream_consumed:
            # Read before we saw it (a response made in memory, by a mock transport or a
            # hook): only its size is left to check.
            if len(response.content) > max_bytes:
                raise too_large
            return response.content
        decoder = _decoder(response.headers.get("content-encoding", ""))
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += decoder.decode(chunk, max_bytes - len(body))
            if len(body) > max_bytes:
                raise too_large
        body += decoder.finish()
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


class _Identity:
    """No encoding: the bytes as they come (the caller counts them)."""

    __slots__ = ()

    def decode(self, data: bytes, room: int) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class _Inflate:
    """gzip or deflate, never more than ``room + 1`` bytes of output per call.

    ``deflate`` is meant to be zlib-wrapped (RFC 9110) but some servers send it raw; as
    httpx does, the raw form is tried when the first bytes are not a zlib header.
    """

    __slots__ = ("_inflater", "_raw_fallback", "_started")

    def __init__(self, window_bits: int, *, raw_fallback: bool = False) -> None:
        self._inflater = zlib.decompressobj(window_bits)
        self._raw_fallback = raw_fallback
        self._started = False

    def decode(self, data: bytes, room: int) -> bytes:
        if not data:
            return b""
        try:
            out = self._inflater.decompress(data, room + 1)
        except zlib.error:
            if not (self._raw_fallback and not self._started):
                raise FetchError("response does not decode") from None
            self._raw_fallback = False
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.decode(data, room)
        self._started = True
        # Output stopped at room + 1 bytes with input left over: too large, the caller sees.
        return out

    def finish(self) -> bytes:
        # What zlib still holds: less than its window, as every decode consumed its input.
        try:
            tail = self._inflater.flush()
        except zlib.error:
            raise FetchError("response does not decode") from None
        if not self._inflater.eof:  # cut short: what decoded is not the whole document
            raise FetchError("response does not decode")
        return tail


def _decoder(content_encoding: str) -> _Identity | _Inflate:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Inflate(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Inflate(zlib.MAX_WBITS, raw_fallback=True)
    raise FetchError("unsupported content encoding")
