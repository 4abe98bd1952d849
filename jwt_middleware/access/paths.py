"""The canonical-path check: whether a request's path can be matched against rules at all.

A path that can mean something else to a proxy, the router or a file server than it does to
the allowlist is never public, whatever the rules say (and the policy refuses it outright,
see :mod:`jwt_middleware.access.policy`). That is a path with dot segments, empty segments,
backslashes or control characters, decoded or raw; an encoded ``/``, ``.``, ``\\`` or
``%`` in any form: ``%2f`` in the raw path, or any ``%`` left in the decoded path (which
only a double encoding such as ``%252e`` produces, and servers that send no ``raw_path``,
such as Mangum on AWS Lambda, leave us only that); and Unicode that is not what it looks
like: invalid or overlong UTF-8, replacement characters, and characters that NFKC
normalisation changes (the fullwidth full stop U+FF0E, solidus U+FF0F, reverse solidus
U+FF3C and percent sign U+FF05, and their kin).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import unquote_to_bytes

from starlette.types import Scope

__all__ = ["is_safe_path", "route_path"]

# Encoded "/", ".", "\" and "%" in a raw path, in either case.
_ENCODED_SEPARATOR: Final = re.compile(rb"%(?:2[fFeE5]|5[cC])")
# Control characters, "\\", and "%" (a decoded path keeps a "%" only if it was encoded twice).
_UNSAFE_DECODED: Final = re.compile(r"[\x00-\x1f\x7f\\%]")


def is_safe_path(path: str, raw_path: bytes | None = None) -> bool:
    """Whether a path is canonical enough to be matched against the allowlist at all."""
    if not path.startswith("/") or _UNSAFE_DECODED.search(path) or not _plain_segments(path):
        return False
    if not path.isascii() and not _plain_unicode(path):
        return False
    if raw_path is None:
        return True
    if _ENCODED_SEPARATOR.search(raw_path) or b"\\" in raw_path or not raw_path.startswith(b"/"):
        return False
    if b"%" in raw_path or not raw_path.isascii():
        # Decode it ourselves, strictly: overlong or invalid UTF-8 (%c0%ae is "." to some
        # decoders) is refused, whatever the server made of it.
        try:
            decoded = unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return False
        if _UNSAFE_DECODED.search(decoded) or not _plain_unicode(decoded):
            return False
    # The decoded path comes from the raw one, but a server or proxy in between may differ.
    return _plain_segments(raw_path.decode("latin-1"))


def _plain_unicode(text: str) -> bool:
    """No replacement characters or lone surrogates, and nothing NFKC would rewrite."""
    if text.isascii():
        return True
    if "\ufffd" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return unicodedata.normalize("NFKC", text) == text


def _plain_segments(path: str) -> bool:
    segments = path[1:].split("/")
    if segments[-1] == "":
        segments.pop()  # a trailing slash is canonical; an empty segment elsewhere is not
    # "..;x" is ".." to some servers (path parameters), so parameters do not hide a dot segment.
    return all(segment.partition(";")[0] not in {"", ".", ".."} for segment in segments)


def route_path(scope: Scope) -> str:
    """The path relative to the wrapped app: ``root_path`` removed, as Starlette routes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path
