"""Untrusted paths thrown at the middleware and the allowlist: without a token only canonical,
allowlisted paths get through, with or without the ``raw_path`` a server may omit.
"""

from __future__ import annotations

import re
import string
from urllib.parse import quote, unquote

from hypothesis import event, example, given
from hypothesis import strategies as st

from jwt_middleware.access.paths import is_safe_path
from jwt_middleware.access.rules import PublicPaths
from tests.asgi import OMITTED, http_scope
from tests.properties.harness import CASES, call
from tests.public_paths import (
    NOT_CANONICAL_CHALLENGE,
    allowed_by_rules,
    is_canonical,
    refusal_status,
)

plain_segments = st.text(
    alphabet=string.ascii_letters + string.digits + "-_~.", min_size=1, max_size=8
).filter(lambda s: s not in {".", ".."})
tricky_segments = st.sampled_from(
    [
        "", ".", "..", "...", "health", "static", "posts", "private", "%2e", "%2E%2e", "%2f",
        "%2F", "%5c", "%5C", "%25", "%252e", "..;", ".;x", ";", "a.css", "%00", "\\", "%68ealth",
        "%20", "..%00", "\u00e9", "%C3%A9", "\u2024\u2024", "?", "#",
    ]
)  # fmt: skip
any_text_segment = st.text(max_size=6)


@st.composite
def raw_targets(draw: st.DrawFn) -> str:
    """A request path as a client could send it (percent-escapes and all), as text.

    It starts like an allowlisted path more often than not, so both answers are common.
    """
    if draw(st.booleans()):  # a clean path, for the rules to match or not
        start = draw(st.sampled_from(["/health", "/static/", "/posts/", "/private/", "/static"]))
        below = "/".join(draw(st.lists(plain_segments, max_size=3)))
        if start.endswith("/"):
            return start + below
        return start + (f"/{below}" if below and draw(st.booleans()) else "")
    first = draw(st.sampled_from(["health", "static", "posts", "private"]) | tricky_segments)
    rest = draw(st.lists(plain_segments | tricky_segments | any_text_segment, max_size=5))
    lead = draw(st.sampled_from(["/", "/", "/", "", "//"]))
    return lead + "/".join([first, *rest])


def deliver(target: str) -> tuple[str, bytes]:
    """(path, raw_path) as uvicorn fills them: raw bytes as sent, path percent-decoded.

    Characters a client could not send raw are percent-encoded first, as a client would.
    """
    raw = quote(target, safe="/%;.~-_!$&'()*+,=:@\\")
    return unquote(raw), raw.encode("ascii")


methods = st.sampled_from(["GET", "HEAD", "POST", "DELETE", "OPTIONS", "get", "PATCH"])


@CASES
@given(target=raw_targets(), method=methods)
@example(target="/static/%2e%2e/private", method="GET")
@example(target="/static/..;/private", method="GET")
@example(target="/posts/%2E%2E/private", method="HEAD")
def test_without_token_only_canonical_allowlisted_paths_get_through(
    target: str, method: str
) -> None:
    path, raw_path = deliver(target)

    outcome = call(http_scope(path, raw_path=raw_path, method=method))

    expected = is_canonical(path, raw_path) and allowed_by_rules(method, path)
    event("public" if expected else "protected")
    assert (outcome.reached is not None) == expected, (path, raw_path)
    if outcome.reached is None:
        assert outcome.status == refusal_status(path, raw_path), (path, raw_path)
        assert outcome.headers[b"www-authenticate"] == (
            b'Bearer realm="api"' if outcome.status == 401 else NOT_CANONICAL_CHALLENGE
        )
    else:
        assert outcome.reached["state"]["user_id"] is None


@CASES
@given(target=raw_targets(), method=methods)
@example(target="/static/%252e%252e/private", method="GET")
def test_without_raw_path_only_canonical_allowlisted_paths_get_through(
    target: str, method: str
) -> None:
    # What an adapter that sends no raw_path (Mangum) hands over: the decoded path only.
    path, _ = deliver(target)

    outcome = call(http_scope(path, method=method))

    expected = is_canonical(path, None) and allowed_by_rules(method, path)
    event("public" if expected else "protected")
    assert (outcome.reached is not None) == expected, path
    if outcome.reached is None:
        assert outcome.status == refusal_status(path, None), path


@CASES
@given(path=st.text(max_size=30), raw_path=st.none() | st.binary(max_size=30), method=methods)
def test_arbitrary_scope_paths_never_crash(path: str, raw_path: bytes | None, method: str) -> None:
    """Paths no server would deliver (unicode raw, mismatched raw, none at all) fail closed."""
    scope = http_scope(path, method=method, raw_path=OMITTED if raw_path is None else raw_path)

    outcome = call(scope)

    if outcome.reached is not None:
        assert allowed_by_rules(method, path)
        assert is_canonical(path, raw_path or b"")
    else:
        assert outcome.status in (400, 401)
        if not is_canonical(path, raw_path):
            assert outcome.status == 400


DANGERS = ["/./", "/../", "//", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "/.", "/..", "/..;x/"]


@st.composite
def dangerous_targets(draw: st.DrawFn) -> str:
    """A canonical path with one dot segment, empty segment or encoded separator put in."""
    base = "/" + "/".join(draw(st.lists(plain_segments, min_size=1, max_size=4)))
    danger = draw(st.sampled_from(DANGERS))
    if danger in ("/.", "/.."):
        return base + danger  # a dot segment at the very end
    at = draw(st.integers(1, len(base)))
    return base[:at] + danger + base[at:]


#: An allowlist that makes every path public, so only the path-safety check can refuse.
EVERYTHING = PublicPaths(["/*", re.compile(".*"), "GET /*"])


@CASES
@given(target=dangerous_targets(), method=methods)
def test_dangerous_paths_are_never_public(target: str, method: str) -> None:
    path, raw_path = deliver(target)

    assert not is_safe_path(path, raw_path)
    assert not EVERYTHING.is_public(method, path, raw_path)
    assert not EVERYTHING.is_public(None, path, raw_path)


@CASES
@given(segments=st.lists(plain_segments, max_size=5), trailing=st.booleans(), method=methods)
def test_canonical_paths_are_public_under_a_catch_all(
    segments: list[str], trailing: bool, method: str
) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")

    assert is_safe_path(path, path.encode("ascii"))
    assert EVERYTHING.is_public(method, path, path.encode("ascii"))
