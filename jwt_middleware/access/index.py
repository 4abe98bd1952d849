"""Rules indexed by path segment, so matching a request costs what its path's length costs,
however many rules there are.

The index knows rules only through :class:`IndexedRule` (segments, methods, a regex, and
``matches``), so it sits below the rule forms of :mod:`jwt_middleware.access.rules` and the
policy that uses both."""

from __future__ import annotations

import re
from typing import Final, Generic, Protocol, TypeVar

__all__ = ["REST_OF_PATH", "IndexedRule", "RuleIndex"]

#: The characters that stand for themselves in a regex, wherever they are outside a class.
_LITERAL_CHARS: Final = re.compile(r"[A-Za-z0-9/_~!&',;=:@-]*")
#: Characters that make what comes before them optional or repeated.
_QUANTIFIERS: Final = frozenset("*+?{")

_ONE: Final = object()  # a trie edge for one segment of any value
#: A rule's last segment that stands for "this segment and everything below".
REST_OF_PATH: Final = "*"

V = TypeVar("V")


class IndexedRule(Protocol):
    """What the index reads of a rule: its path segments (a literal, ``None`` for any one
    segment, :data:`REST_OF_PATH` last), or a regex; the methods it is for (``None``: any);
    and the exact test a candidate must pass."""

    @property
    def segments(self) -> tuple[str | None, ...] | None: ...

    @property
    def methods(self) -> frozenset[str] | None: ...

    @property
    def pattern(self) -> re.Pattern[str] | None: ...

    def matches(self, method: str | None, path: str) -> bool: ...


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

    def add(self, rule: IndexedRule, value: V) -> None:
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
        self.patterns: list[tuple[IndexedRule, V]] = []

    def child(self, key: object) -> _Node[V]:
        node = self.children.get(key)
        if node is None:
            node = self.children[key] = _Node[V]()
        return node
