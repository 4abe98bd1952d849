"""The rule index finds exactly the rules a one-by-one scan finds, for any rules and paths:
indexing makes lookups flat in the number of rules, and must change nothing else."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jwt_middleware.access.index import RuleIndex
from jwt_middleware.access.rules import PathRule

SEGMENTS = st.sampled_from(["a", "b", "todos", "v1", "x.y", "{id}", "{n:int}", ""])
METHODS = st.sampled_from([None, "GET", "POST", "DELETE"])


@st.composite
def rule_specs(draw: st.DrawFn) -> str | re.Pattern[str]:
    if draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from([re.compile(r"/a/\d+"), re.compile(r"/v\d+/.*"), re.compile(r".*")])
        )
    parts = draw(
        st.lists(st.sampled_from(["a", "b", "todos", "v1", "x.y", "{id}", "{n:int}"]), max_size=3)
    )
    path = "/" + "/".join(parts)
    ending = draw(st.sampled_from(["", "", "/*", "/{rest:path}", "/"]))
    if ending and path == "/":
        ending = "" if ending == "/" else ending.lstrip("/")
    method = draw(st.sampled_from(["", "GET ", "POST ", "DELETE "]))
    return method + path + ending if not path.endswith("/") or not ending else method + path


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    specs=st.lists(rule_specs(), max_size=25),
    paths=st.lists(st.lists(SEGMENTS, max_size=4).map(lambda p: "/" + "/".join(p)), max_size=10),
    method=METHODS,
)
def test_the_index_finds_what_a_scan_finds(
    specs: list[str | re.Pattern[str]], paths: list[str], method: str | None
) -> None:
    rules = []
    for spec in specs:
        try:
            rules.append(PathRule.parse(spec))
        except ValueError:
            continue
    index = RuleIndex[int]()
    for number, rule in enumerate(rules):
        index.add(rule, number)
    for path in paths:
        found = sorted(index.match(method, path))
        scanned = [n for n, rule in enumerate(rules) if rule.matches(method, path)]
        assert found == scanned, (path, method, [rules[n].spec for n in found])


#: Regex pieces: literals, escapes, classes, groups, alternations, lookarounds, quantifiers,
#: scoped and global flags; joined at random they make patterns whose literal start is
#: sometimes certain and often not.
REGEX_PIECES = st.sampled_from(
    [
        "/",
        "a",
        "b",
        "admin",
        "backup",
        "Admin",
        "v1",
        ".*",
        ".",
        "|",
        "/?",
        "a?",
        "b*",
        "/+",
        "{0,2}",
        r"\d+",
        r"\/",
        r"\.",
        r"\|",
        "[ab]",
        "[/|]",
        "[]a]",
        "[^/]+",
        "(",
        ")",
        "(?:",
        "(?i:",
        "(?=a)",
        "(?!b)",
        "(?<=/)",
        "(a|b)",
        "(?#(|)",
        "$",
        "^",
    ]
)
REGEX_FLAGS = st.sampled_from([0, re.IGNORECASE, re.VERBOSE, re.ASCII, re.DOTALL])
REGEX_PATH_SEGMENTS = st.sampled_from(["a", "b", "admin", "Admin", "backup", "v1", "", "1", "|"])


@st.composite
def regex_rules(draw: st.DrawFn) -> re.Pattern[str]:
    text = "".join(draw(st.lists(REGEX_PIECES, min_size=1, max_size=8)))
    if draw(st.booleans()):
        text = draw(st.sampled_from(["(?i)", "(?s)", "(?x)"])) + text
    try:
        return re.compile(text, draw(REGEX_FLAGS))
    except re.error:
        return re.compile(re.escape(text))


@hypothesis_settings(max_examples=1500, deadline=None)
@given(
    patterns=st.lists(regex_rules(), min_size=1, max_size=6),
    paths=st.lists(
        st.lists(REGEX_PATH_SEGMENTS, max_size=4)
        .map("/".join)
        .flatmap(lambda path: st.sampled_from(["/" + path, path])),
        max_size=10,
    ),
    method=METHODS,
)
def test_every_regex_rule_applies_to_every_path_it_matches(
    patterns: list[re.Pattern[str]], paths: list[str], method: str | None
) -> None:
    """Alternations, flags, groups, escapes, classes and lookarounds: however a regex is
    written, its rule applies wherever it full-matches (``/admin/.*|/backup/.*`` and
    ``/backup/db.sql``, ``re.IGNORECASE`` and ``/Admin/users``)."""
    rules = [PathRule.parse(pattern) for pattern in patterns]
    index = RuleIndex[int]()
    for number, rule in enumerate(rules):
        index.add(rule, number)
    for path in paths:
        found = sorted(index.match(method, path))
        scanned = [n for n, rule in enumerate(rules) if rule.pattern.fullmatch(path)]  # type: ignore[union-attr]
        assert found == scanned, (path, [p.pattern for p in patterns])


REGEX_CASES = [
    pytest.param(re.compile(r"/admin/.*|/backup/.*"), "/backup/db.sql", id="alternation"),
    pytest.param(re.compile(r"/admin/.*", re.IGNORECASE), "/Admin/users", id="ignorecase"),
    pytest.param(re.compile(r"(?i)/admin/.*"), "/ADMIN/users", id="inline-ignorecase"),
    pytest.param(re.compile(r"/admin/?x"), "/adminx", id="optional-slash"),
    pytest.param(re.compile(r"/api/(v1|v2)/.*"), "/api/v2/x", id="group-alternation"),
    pytest.param(re.compile(r"/a(?#)|/b/.*"), "/b/c", id="comment"),
    pytest.param(re.compile(r"/a/[|]|/b/.*"), "/b/c", id="bar-in-class-then-alternation"),
    pytest.param(re.compile(r"(?x) /admin/ .*"), "/admin/x", id="verbose"),
    pytest.param(re.compile(r".*"), "health", id="no-leading-slash"),
]


@pytest.mark.parametrize(("pattern", "path"), REGEX_CASES)
def test_regex_rules_the_index_once_missed(pattern: re.Pattern[str], path: str) -> None:
    index = RuleIndex[str]()
    index.add(PathRule.parse(pattern), "hit")
    assert pattern.fullmatch(path)
    assert index.match("GET", path) == ["hit"]
