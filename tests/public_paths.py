"""The allowlist the path tests use, and an independent reading of when a path may be public.

The property tests (hand-written scopes) and the wire tests (real servers) use the same rules,
so each can check what the middleware let through against the same plain-Python statement:
a request without a token is answered only if its path is canonical and the rules list it,
and a path that is not canonical is refused with 400 whatever the rules and the token say.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote_to_bytes

#: The allowlist under test.
PUBLIC = ["/health", "/static/*", "GET /posts/*"]
#: The description of the 400 for a path that is not canonical.
NOT_CANONICAL = "The request path is not canonical."
#: Its challenge, as bytes in an ASGI header.
NOT_CANONICAL_CHALLENGE = (
    b'Bearer realm="api", error="invalid_request", error_description="'
    + NOT_CANONICAL.encode()
    + b'"'
)


def refusal_status(path: str, raw_path: bytes | None) -> int:
    """What a request without a token that is not answered gets: 400 for a path that is not
    canonical (refused before any token is looked at), else 401."""
    return 401 if is_canonical(path, raw_path) else 400


def is_canonical(path: str, raw_path: bytes | None) -> bool:
    """The brief of the allowlist, restated independently: no way to mean another path."""
    if raw_path is not None:
        lowered = raw_path.lower()
        if any(escape in lowered for escape in (b"%2e", b"%2f", b"%5c", b"%25")):
            return False
        try:
            once = unquote_to_bytes(raw_path).decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            return False  # overlong or invalid UTF-8
        if not is_canonical(once, None):
            return False
    # A "%" left after decoding was encoded twice; a decoder further on makes it something.
    if "%" in path or "\ufffd" in path:
        return False
    if unicodedata.normalize("NFKC", path) != path:
        return False  # fullwidth dots and slashes, and their kin
    if not path.startswith("/") or "\\" in path:
        return False
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return False
    segments = path.split("/")[1:]
    if segments[-1] == "":
        segments.pop()  # one trailing slash is canonical
    # A segment's name is what comes before ";parameters"; an empty name is an empty segment.
    return all(segment.split(";")[0] not in {"", ".", ".."} for segment in segments)


def allowed_by_rules(method: str, path: str) -> bool:
    """:data:`PUBLIC` read by hand: whether its rules list ``method`` and ``path``."""
    return (
        path == "/health"
        or path.startswith("/static/")
        or (method in ("GET", "HEAD") and path.startswith("/posts/"))
    )
