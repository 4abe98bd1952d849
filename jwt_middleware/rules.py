"""The public-path allowlist: rule forms parsed once, requests matched, unsafe paths refused.

Rule forms (see the README):

* ``"/health"``: exactly that path.
* ``"/static/*"``: every path below ``/static/`` (never ``/static`` or ``/staticfoo``).
* ``"GET /posts"``, ``"GET /posts/*"``: the same, for one method (GET also admits HEAD).
* a compiled :class:`re.Pattern`: every path it full-matches.

Paths are matched relative to the wrapped app (``root_path`` removed). A path whose raw
form has dot segments, empty segments, backslashes, control characters or percent-encoded
``/``, ``.``, ``\\`` or ``%`` is never public, whatever the rules say: such a path can mean
something else to a proxy, the router or a file server than it does to the allowlist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["PublicPathRule", "PublicPaths", "RuleSpec", "is_safe_path"]

RuleSpec = str | re.Pattern[str]

_METHOD: Final = re.compile(r"[A-Z]+")
# RFC 3986 pchar, minus "%" (rules are written decoded) and with "/" as the separator.
_PCHARS = r"[A-Za-z0-9\-._~!$&'()+,;=:@]+"
_RULE_PATH: Final = re.compile(rf"/(?:{_PCHARS}(?:/{_PCHARS})*)?")
# Encoded "/", ".", "\" and "%" in a raw path, in either case.
_ENCODED_SEPARATOR: Final = re.compile(rb"%(?:2[fFeE5]|5[cC])")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\\]")


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
    if not path.startswith("/") or _CONTROL.search(path) or not _plain_segments(path):
        return False
    if raw_path is None:
        return True
    if _ENCODED_SEPARATOR.search(raw_path) or b"\\" in raw_path or not raw_path.startswith(b"/"):
        return False
    # The decoded path comes from the raw one, but a server or proxy in between may differ.
    return _plain_segments(raw_path.decode("latin-1"))


def _plain_segments(path: str) -> bool:
    segments = path[1:].split("/")
    if segments[-1] == "":
        segments.pop()  # a trailing slash is canonical; an empty segment elsewhere is not
    # "..;x" is ".." to some servers (path parameters), so parameters do not hide a dot segment.
    return all(segment.partition(";")[0] not in {"", ".", ".."} for segment in segments)
