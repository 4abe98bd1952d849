"""The public-path allowlist: rule forms parsed once, requests matched, unsafe paths refused.

Rule forms (see the README):

* ``"/health"``: exactly that path.
* ``"/static/*"``: every path below ``/static/`` (never ``/static`` or ``/staticfoo``).
* ``"/todos/{id}"``: one segment of any value there (``{rest:path}``, last: everything below).
* ``"GET /posts"``, ``"GET /posts/*"``: the same, for one method (GET also admits HEAD).
* a compiled :class:`re.Pattern`: every path it full-matches.

Rules are indexed by path segment (:class:`RuleIndex`), so matching a request costs what
its path's length costs, however many rules there are.

Paths are matched relative to the wrapped app (``root_path`` removed). A path that can
mean something else to a proxy, the router or a file server than it does to the allowlist
is never public, whatever the rules say (and the policy refuses it outright, see
:mod:`jwt_middleware.access.policy`). That is a path with dot segments, empty segments,
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
from typing import Final, Generic, TypeVar
from urllib.parse import unquote_to_bytes

__all__ = [
    "REST_OF_PATH",
    "PathRule",
    "PublicPathRule",
    "PublicPaths",
    "RuleIndex",
    "RuleSpec",
    "is_safe_path",
]

RuleSpec = str | re.Pattern[str]

_METHOD: Final = re.compile(r"[A-Z]+")
# RFC 3986 pchar, minus "%" (rules are written decoded) and with "/" as the separator.
_PCHARS = r"[A-Za-z0-9\-._~!$&'()+,;=:@]+"
_RULE_PATH: Final = re.compile(rf"/(?:{_PCHARS}(?:/{_PCHARS})*)?")
#: A template segment: ``{name}``, ``{name:int}`` (one segment) or ``{name:path}`` (the rest).
_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|int|float|uuid|path))?\}")
# Encoded "/", ".", "\" and "%" in a raw path, in either case.
_ENCODED_SEPARATOR: Final = re.compile(rb"%(?:2[fFeE5]|5[cC])")
# Control characters, "\\", and "%" (a decoded path keeps a "%" only if it was encoded twice).
_UNSAFE_DECODED: Final = re.compile(r"[\x00-\x1f\x7f\\%]")
#: The characters that stand for themselves in a regex, wherever they are outside a class.
_LITERAL_CHARS: Final = re.compile(r"[A-Za-z0-9/_~!&',;=:@-]*")
#: Characters that make what comes before them optional or repeated.
_QUANTIFIERS: Final = frozenset("*+?{")

_ONE: Final = object()  # a trie edge for one segment of any value
#: A rule's last segment that stands for "this segment and everything below".
REST_OF_PATH: Final = "*"

V = TypeVar("V")


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


class RuleIndex(Generic[V]):
    """Rules indexed by path segments, so a lookup costs what the path's length costs, not
    what the number of rules does: literal segments are dict lookups, template parameters
    one wildcard edge, and each node keeps its rules by method. Regex rules hang on the
    node of the path segments all their matches certainly start with (``/api/v2/`` for
    ``/api/v2/.*``; the root where that is not certain, see :func:`_literal_segments`), so
    only the ones that share a prefix with the request's path are tried. The index finds
    exactly what trying every rule in turn would (``tests/properties/test_rule_index.py``).
    """

    __slots__ = ("_root", "size")

    def __init__(self) -> None:
        self._root = _Node[V]()
        self.size = 0

    def add(self, rule: PathRule, value: V) -> None:
        """Index ``rule``; a request it matches yields ``value``."""
        self.size += 1
        node = self._root
        if rule.pattern is not None:
            for literal_segment in _literal_segments(rule.pattern):
                node = node.child(literal_segment)
            node.patterns.append((rule, value))
            return
        assert rule.segments is not None
        for segment in rule.segments:
            if segment == REST_OF_PATH:
                node.below.add(rule.methods, value)
                return
            node = node.child(_ONE if segment is None else segment)
        node.here.add(rule.methods, value)

    def match(self, method: str | None, path: str) -> list[V]:
        """The values of every rule that matches ``path`` for ``method``."""
        found: list[V] = []
        if not path.startswith("/"):
            # Only a regex can match it, and only one with no literal leading path.
            for rule, value in self._root.patterns:
                if rule.matches(method, path):
                    found.append(value)
            return found
        parts = path[1:].split("/")
        frontier = [self._root]
        for index, part in enumerate(parts):
            following: list[_Node[V]] = []
            for node in frontier:
                for rule, value in node.patterns:
                    if rule.matches(method, path):
                        found.append(value)
                node.below.collect(method, found)
                literal = node.children.get(part)
                if literal is not None:
                    following.append(literal)
                if part:
                    wildcard = node.children.get(_ONE)
                    if wildcard is not None:
                        following.append(wildcard)
            frontier = following
            if not frontier:
                return found
            if index == len(parts) - 1:
                for node in frontier:
                    node.here.collect(method, found)
                    for rule, value in node.patterns:
                        if rule.matches(method, path):
                            found.append(value)
        return found


def _literal_segments(pattern: re.Pattern[str]) -> list[str]:
    """The whole path segments every match of ``pattern`` starts with, where that is certain.

    A regex rule is only tried on requests below these segments, so they must be a prefix of
    every path the pattern full-matches, or the rule would silently not apply. That is only
    read from the pattern's text where the text cannot mean anything else: no flags
    (``re.IGNORECASE`` or an inline ``(?i)`` make ``/Admin`` match ``/admin``), no
    alternation outside a group (``/admin/.*|/backup/.*``), and only characters that stand
    for themselves, not followed by a quantifier (``/admin/?x`` also matches ``/adminx``).
    Anything else hangs the pattern on the root, where every request tries it.
    """
    text = pattern.pattern
    if pattern.flags != re.UNICODE or _has_top_level_alternation(text):
        return []
    literal = _LITERAL_CHARS.match(text)
    run = literal.group(0) if literal else ""
    if run and text[len(run) : len(run) + 1] in _QUANTIFIERS:
        run = run[:-1]  # the last character is optional or repeated: not certain
    if not run.startswith("/"):
        return []
    return run[1 : run.rfind("/")].split("/") if run.rfind("/") > 0 else []


def _has_top_level_alternation(text: str) -> bool:
    """Whether ``text`` has a ``|`` outside any group, or might have (then ``True``).

    Escapes and character classes are skipped; comments (``(?#...)``, and ``#`` under a
    verbose flag in a group) could hide a parenthesis, so any ``#`` answers ``True``.
    """
    if "#" in text:
        return True
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index += 1
            if text[index : index + 1] == "^":
                index += 1
            if text[index : index + 1] == "]":
                index += 1  # a "]" first in a class is a literal
            while index < len(text) and text[index] != "]":
                index += 2 if text[index] == "\\" else 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth <= 0:
            return True
        index += 1
    return False


class _ByMethod(Generic[V]):
    __slots__ = ("any", "methods")

    def __init__(self) -> None:
        self.any: list[V] = []
        self.methods: dict[str, list[V]] = {}

    def add(self, methods: frozenset[str] | None, value: V) -> None:
        if methods is None:
            self.any.append(value)
            return
        for method in methods:
            self.methods.setdefault(method, []).append(value)

    def collect(self, method: str | None, into: list[V]) -> None:
        into.extend(self.any)
        if method is not None and self.methods:
            into.extend(self.methods.get(method, ()))


class _Node(Generic[V]):
    __slots__ = ("below", "children", "here", "patterns")

    def __init__(self) -> None:
        self.children: dict[object, _Node[V]] = {}
        self.here = _ByMethod[V]()
        self.below = _ByMethod[V]()
        self.patterns: list[tuple[PathRule, V]] = []

    def child(self, key: object) -> _Node[V]:
        node = self.children.get(key)
        if node is None:
            node = self.children[key] = _Node[V]()
        return node


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
