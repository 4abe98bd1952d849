"""The public-path allowlist: rule forms parsed once, requests matched, unsafe paths refused.

Rule forms (see the README):

* ``"/health"``: exactly that path.
* ``"/static/*"``: every path below ``/static/`` (never ``/static`` or ``/staticfoo``).
* ``"GET /posts"``, ``"GET /posts/*"``: the same, for one method (GET also admits HEAD).
* a compiled :class:`re.Pattern`: every path it full-matches.

Paths are matched relative to the wrapped app (``root_path`` removed). A path that can
mean something else to a proxy, the router or a file server than it does to the allowlist
is never public, whatever the rules say. That is a path with dot segments, empty segments,
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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_to_bytes

__all__ = ["PublicPathRule", "PublicPaths", "RuleSpec", "is_safe_path"]

RuleSpec = str | re.Pattern[str]

_METHOD: Final = re.compile(r"[A-Z]+")
# RFC 3986 pchar, minus "%" (rules are written decoded) and with "/" as the separator.
_PCHARS = r"[A-Za-z0-9\-._~!$&'()+,;=:@]+"
_RULE_PATH: Final = re.compile(rf"/(?:{_PCHARS}(?:/{_PCHARS})*)?")
# Encoded "/", ".", "\" and "%" in a raw path, in either case.
_ENCODED_SEPARATOR: Final = re.compile(rb"%(?:2[fFeE5]|5[cC])")
# Control characters, "\\", and "%" (a decoded path keeps a "%" only if it was encoded twice).
_UNSAFE_DECODED: Final = re.compile(r"[\x00-\x1f\x7f\\%]")


@dataclass(frozen=True, slots=True)
class PublicPathRule:
    """One parsed allowlist entry. ``prefix`` rules match everything below ``path``."""

    path: str | None = None
    prefix: bool = False
    methods: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, spec: RuleSpec) -> PublicPathRule:
        """Parse one rule; a malformed rule is a configuration error, raised at once."""
        if isinstance(spec, re.Pattern):
            return cls(pattern=spec)
        if not isinstance(spec, str):
            raise TypeError(f"public rules are strings or compiled patterns, not {type(spec)}")
        method, _, path = spec.strip().rpartition(" ")
        methods: frozenset[str] | None = None
        if method:
            method = method.strip()
            if not _METHOD.fullmatch(method):
                raise ValueError(f"public rule {spec!r}: method must be upper-case, like 'GET'")
            methods = frozenset({"GET", "HEAD"}) if method == "GET" else frozenset({method})
        prefix = path.endswith("/*")
        if prefix:
            path = path[:-1]  # keep the trailing "/" so "/static/*" never matches "/staticfoo"
        bare = path.rstrip("/") if prefix else path
        if (
            not path.startswith("/")
            or not _RULE_PATH.fullmatch(bare or "/")
            or any(seg in {".", ".."} for seg in bare.split("/"))
        ):
            raise ValueError(
                f"public rule {spec!r}: expected '/path', '/path/*' or 'METHOD /path', "
                "with no '*' elsewhere, no dot segments and no empty segments"
            )
        return cls(path=path, prefix=prefix, methods=methods)

    def matches(self, method: str | None, path: str) -> bool:
        """Whether this rule makes ``path`` public for ``method`` (``None`` for WebSocket)."""
        if self.methods is not None and method not in self.methods:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(path) is not None
        assert self.path is not None
        return path.startswith(self.path) if self.prefix else path == self.path


class PublicPaths:
    """The whole allowlist, indexed at construction so a lookup is a set or prefix check."""

    __slots__ = ("_exact", "_others", "_prefixes", "rules")

    def __init__(self, specs: Iterable[RuleSpec] = ()) -> None:
        if isinstance(specs, str | re.Pattern):
            specs = [specs]
        self.rules: tuple[PublicPathRule, ...] = tuple(PublicPathRule.parse(s) for s in specs)
        self._exact = frozenset(
            r.path for r in self.rules if r.path and not r.prefix and not r.methods
        )
        self._prefixes = tuple(r.path for r in self.rules if r.path and r.prefix and not r.methods)
        self._others = tuple(r for r in self.rules if r.methods or r.pattern is not None)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def is_public(self, method: str | None, path: str, raw_path: bytes | None = None) -> bool:
        """Whether a request is public. ``path`` is the decoded path relative to the app."""
        if not self.rules or not is_safe_path(path, raw_path):
            return False
        if path in self._exact or path.startswith(self._prefixes):
            return True
        return any(rule.matches(method, path) for rule in self._others)


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
