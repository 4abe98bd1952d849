"""The public-path allowlist: rule forms parsed once, requests matched, unsafe paths refused.

Rule forms (see the README):

* ``"/health"``: exactly that path.
* ``"/static/*"``: every path below ``/static/`` (never ``/static`` or ``/staticfoo``).
* ``"/todos/{id}"``: one segment of any value there (``{rest:path}``, last: everything below).
* ``"GET /posts"``, ``"GET /posts/*"``: the same, for one method (GET also admits HEAD).
* a compiled :class:`re.Pattern`: every path it full-matches.

Rules are indexed by path segment (:class:`~jwt_middleware.access.index.RuleIndex`), so
matching a request costs what its path's length costs, however many rules there are.

Paths are matched relative to the wrapped app (``root_path`` removed). A path that is not
canonical (:func:`~jwt_middleware.access.paths.is_safe_path`) is never public, whatever the
rules say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .index import REST_OF_PATH, RuleIndex
from .paths import is_safe_path

__all__ = ["PathRule", "PublicPathRule", "PublicPaths", "RuleSpec"]

RuleSpec = str | re.Pattern[str]

_METHOD: Final = re.compile(r"[A-Z]+")
# RFC 3986 pchar, minus "%" (rules are written decoded) and with "/" as the separator.
_PCHARS = r"[A-Za-z0-9\-._~!$&'()+,;=:@]+"
_RULE_PATH: Final = re.compile(rf"/(?:{_PCHARS}(?:/{_PCHARS})*)?")
#: A template segment: ``{name}``, ``{name:int}`` (one segment) or ``{name:path}`` (the rest).
_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|int|float|uuid|path))?\}")


@dataclass(frozen=True, slots=True)
class PathRule:
    """One parsed rule.

    ``segments`` is the path split on ``/``, where a segment is a literal string, ``None``
    for a template parameter (``{id}``: any one segment) or :data:`REST_OF_PATH` as the last one
    (``/static/*`` or ``{rest:path}``: this segment and everything below, never the path
    without it). ``pattern`` is a regex rule instead; ``methods`` ``None`` for any method
    (and WebSocket).
    """

    spec: str
    segments: tuple[str | None, ...] | None = None
    methods: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None

    @property
    def path(self) -> str | None:
        """The literal path of an exact rule, ``None`` otherwise."""
        if self.segments is None or any(
            seg is None or seg == REST_OF_PATH for seg in self.segments
        ):
            return None
        return "/" + "/".join(s for s in self.segments if s is not None)

    @property
    def prefix(self) -> bool:
        return bool(self.segments) and self.segments[-1] == REST_OF_PATH  # type: ignore[index]

    @classmethod
    def parse(cls, spec: RuleSpec, *, kind: str = "public") -> PathRule:
        """Parse one rule; a malformed rule is a configuration error, raised at once."""
        if isinstance(spec, re.Pattern):
            return cls(spec=spec.pattern, pattern=spec)
        if not isinstance(spec, str):
            raise TypeError(f"{kind} rules are strings or compiled patterns, not {type(spec)}")
        method, _, path = spec.strip().rpartition(" ")
        methods: frozenset[str] | None = None
        if method:
            method = method.strip()
            if not _METHOD.fullmatch(method):
                raise ValueError(f"{kind} rule {spec!r}: method must be upper-case, like 'GET'")
            methods = frozenset({"GET", "HEAD"}) if method == "GET" else frozenset({method})
        segments = _segments(path)
        if segments is None:
            raise ValueError(
                f"{kind} rule {spec!r}: expected '/path', '/path/*', '/path/{{id}}' or "
                "'METHOD /path', with no '*' elsewhere, no dot segments and no empty segments"
            )
        return cls(spec=spec, segments=segments, methods=methods)

    def matches(self, method: str | None, path: str) -> bool:
        """Whether this rule covers ``path`` for ``method`` (``None`` for WebSocket)."""
        if self.methods is not None and method not in self.methods:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(path) is not None
        assert self.segments is not None
        parts = path[1:].split("/") if path.startswith("/") else None
        if parts is None:
            return False
        for index, segment in enumerate(self.segments):
            if segment == REST_OF_PATH:
                return index < len(parts)
            if index >= len(parts) or (segment is not None and parts[index] != segment):
                return False
            if segment is None and not parts[index]:
                return False
        return len(parts) == len(self.segments)


#: The older name of :class:`PathRule`.
PublicPathRule = PathRule


def _segments(path: str) -> tuple[str | None, ...] | None:
    """A rule's path as trie segments, or ``None`` when it is malformed."""
    if not path.startswith("/"):
        return None
    if path == "/":
        return ("",)
    parts = path[1:].split("/")
    out: list[str | None] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "*" and last:
            out.append(REST_OF_PATH)
            continue
        parameter = _PARAMETER.fullmatch(part)
        if parameter is not None:
            if parameter.group(2) == "path":
                if not last:
                    return None
                out.append(REST_OF_PATH)
            else:
                out.append(None)
            continue
        if part == "" and last and index > 0:
            out.append("")  # a trailing slash is its own (empty) last segment
            continue
        if not re.fullmatch(_PCHARS, part) or part in {".", ".."}:
            return None
        out.append(part)
    return tuple(out)


class PublicPaths:
    """The allowlist, indexed at construction (:class:`RuleIndex`); unsafe paths are never
    public, whatever the rules say."""

    __slots__ = ("_index", "rules")

    def __init__(self, specs: Iterable[RuleSpec] = (), *, kind: str = "public") -> None:
        if isinstance(specs, str | re.Pattern):
            specs = [specs]
        self.rules: tuple[PathRule, ...] = tuple(PathRule.parse(s, kind=kind) for s in specs)
        self._index = RuleIndex[PathRule]()
        for rule in self.rules:
            self._index.add(rule, rule)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def matching(self, method: str | None, path: str) -> list[PathRule]:
        """The rules that cover a request, safe path or not."""
        return self._index.match(method, path)

    def is_public(self, method: str | None, path: str, raw_path: bytes | None = None) -> bool:
        """Whether a request is public. ``path`` is the decoded path relative to the app."""
        if not self.rules or not is_safe_path(path, raw_path):
            return False
        return bool(self._index.match(method, path))
