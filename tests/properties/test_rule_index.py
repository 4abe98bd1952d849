"""The rule index finds exactly the rules a one-by-one scan finds, for any rules and paths:
indexing makes lookups flat in the number of rules, and must change nothing else."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jwt_middleware.rules import PathRule, RuleIndex

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
