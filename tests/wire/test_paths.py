"""Request targets that a test client would normalise, sent as written to every real server:
what it puts in ``path`` and ``raw_path``, and the answer without a token.

The servers do not deliver the same ``path`` and ``raw_path`` for the same request line, nor
refuse the same ones, so the tables give those per server (:func:`tests.wire.peers.by_server`).
Whatever a server delivers, a request without a token is answered only if its path is
canonical and allowlisted (:mod:`tests.public_paths`), which the last test checks on each;
a path that is not canonical is refused with 400, before any token is looked at.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import unquote

import pytest

from tests.public_paths import NOT_CANONICAL, allowed_by_rules, is_canonical, refusal_status
from tests.wire.exchange import CHALLENGE, NO_CREDENTIALS, authority, exchange
from tests.wire.peers import REFUSAL_BODY, by_server, on_every_server


class PathCase(NamedTuple):
    """A request target, the status without a token, and what the server puts in the scope.

    ``delivered`` is ``(path, raw_path)``, or ``None`` where the server refuses the request
    itself (400). Both are given per server. ``{authority}`` in a target is replaced by the
    server's host and port.
    """

    target: str
    status: dict[str, int]
    delivered: dict[str, tuple[str, str] | None]


def path_case(
    case_id: str,
    target: str,
    status: int | dict[str, int],
    delivered: dict[str, tuple[str, str] | None] | None = None,
) -> Any:
    """A case; by default every server delivers the target without its query, decoded."""
    if delivered is None:
        raw = target.partition("?")[0]
        delivered = on_every_server((unquote(raw), raw))
    if isinstance(status, int):
        status = on_every_server(status)
    return pytest.param(PathCase(target, status, delivered), id=case_id)


REFUSED_BY_SERVER: dict[str, tuple[str, str] | None] = on_every_server(None)
ABSOLUTE_PRIVATE = "http://{authority}/private"
ABSOLUTE_PUBLIC = "http://{authority}/health"
OTHER_HOST = "http://other.example/health"
ABSOLUTE_DOTS = "http://{authority}/static/%2e%2e/private"

PATH_CASES = [
    path_case("dot-dot", "/static/../private", 400),
    path_case("encoded-dot-dot", "/static/%2e%2e/private", 400),
    path_case("encoded-dot-dot-upper", "/static/%2E%2E/private", 400),
    path_case("dot-dot-encoded-slash", "/static/..%2fprivate", 400),
    path_case("half-encoded-dot-dot", "/static/.%2e/private", 400),
    path_case("all-encoded", "/static/%2e%2e%2fprivate", 400),
    path_case("empty-segment", "/static//private", 400),
    path_case("dot-segment", "/static/./x", 400),
    path_case("trailing-dot", "/health/.", 400),
    path_case("encoded-trailing-slash", "/health%2f", 400),
    path_case("encoded-slash", "/static%2fx", 400),
    path_case("encoded-backslash", "/static/%5c..%5cprivate", 400),
    path_case("raw-backslash", "/static/\\..\\private", 400),
    path_case("path-parameter", "/static/..;/private", 400),
    path_case("leading-double-slash", "//health", 400),
    path_case("double-encoded", "/static/%252e%252e/private", 400),
    path_case("encoded-nul", "/health%00", 400),
    path_case("encoded-question-mark", "/health%3fx=1", 401),
    path_case("overlong-utf8-dots", "/static/%c0%ae%c0%ae/private", 400),
    path_case("invalid-utf8", "/static/%ff", 400),
    path_case("fullwidth-dots", "/static/%ef%bc%8e%ef%bc%8e/private", 400),
    path_case("one-dot-leaders", "/static/%e2%80%a4%e2%80%a4/private", 400),
    path_case("fullwidth-percent", "/static/%ef%bc%852e", 400),
    path_case("utf8-name", "/static/caf%c3%a9.css", 200),
    path_case("case", "/Health", 401),
    path_case("longer-name", "/healthz", 401),
    path_case("prefix-without-slash", "/staticfoo", 401),
    path_case("asterisk-form", "*", 400),
    # Not origin-form: httptools refuses it, h11 (uvicorn's and hypercorn's) passes it on as
    # the path, granian delivers an empty path. None of these is canonical.
    path_case(
        "no-leading-slash",
        "health",
        on_every_server(400),
        by_server(
            httptools=None,
            h11=("health", "health"),
            hypercorn=("health", "health"),
            granian=("", ""),
        ),
    ),
    path_case("non-ascii", "/h\xe9alth", 400, REFUSED_BY_SERVER),
    # httptools and granian drop a fragment (which no client sends); h11 keeps it in the path.
    path_case(
        "fragment",
        "/health#x",
        by_server(httptools=200, h11=401, hypercorn=401, granian=200),
        by_server(
            httptools=("/health", "/health"),
            h11=("/health#x", "/health#x"),
            hypercorn=("/health#x", "/health#x"),
            granian=("/health", "/health"),
        ),
    ),
    # Decodes to the very path the router serves, so it is the same public resource.
    path_case("encoded-letter", "/%68ealth", 200),
    path_case("query", "/health?x=1", 200),
    path_case("empty-query", "/health?", 200),
    path_case("below-prefix", "/static/a.css", 200),
    path_case("exact", "/health", 200),
    # Absolute form (RFC 9112 3.2.2): httptools and granian keep only the path (whatever the
    # host), h11 (uvicorn's and hypercorn's) passes the whole URL on as the path, which is
    # never public.
    path_case(
        "absolute-private",
        ABSOLUTE_PRIVATE,
        by_server(httptools=401, h11=400, hypercorn=400, granian=401),
        by_server(
            httptools=("/private", "/private"),
            h11=(ABSOLUTE_PRIVATE, ABSOLUTE_PRIVATE),
            hypercorn=(ABSOLUTE_PRIVATE, ABSOLUTE_PRIVATE),
            granian=("/private", "/private"),
        ),
    ),
    path_case(
        "absolute-public",
        ABSOLUTE_PUBLIC,
        by_server(httptools=200, h11=400, hypercorn=400, granian=200),
        by_server(
            httptools=("/health", "/health"),
            h11=(ABSOLUTE_PUBLIC, ABSOLUTE_PUBLIC),
            hypercorn=(ABSOLUTE_PUBLIC, ABSOLUTE_PUBLIC),
            granian=("/health", "/health"),
        ),
    ),
    path_case(
        "absolute-other-host",
        OTHER_HOST,
        by_server(httptools=200, h11=400, hypercorn=400, granian=200),
        by_server(
            httptools=("/health", "/health"),
            h11=(OTHER_HOST, OTHER_HOST),
            hypercorn=(OTHER_HOST, OTHER_HOST),
            granian=("/health", "/health"),
        ),
    ),
    path_case(
        "absolute-dot-dot",
        ABSOLUTE_DOTS,
        400,
        by_server(
            httptools=("/static/../private", "/static/%2e%2e/private"),
            h11=(unquote(ABSOLUTE_DOTS), ABSOLUTE_DOTS),
            hypercorn=(unquote(ABSOLUTE_DOTS), ABSOLUTE_DOTS),
            granian=("/static/../private", "/static/%2e%2e/private"),
        ),
    ),
    # No path at all: httptools refuses it, h11 passes the URL on, granian makes it "/".
    path_case(
        "absolute-no-path",
        "http://{authority}",
        by_server(httptools=400, h11=400, hypercorn=400, granian=401),
        by_server(
            httptools=None,
            h11=("http://{authority}", "http://{authority}"),
            hypercorn=("http://{authority}", "http://{authority}"),
            granian=("/", "/"),
        ),
    ),
]


@pytest.mark.parametrize("case", PATH_CASES)
def test_path_without_token(protected: str, server: str, case: PathCase) -> None:
    target = case.target.format(authority=authority(protected))
    expected = case.status[server]

    reply = exchange(protected, f"GET {target} HTTP/1.1")

    assert reply.status == expected
    if expected == 200:
        assert reply.json()["user_id"] is None
    elif expected == 401:
        assert reply.header("WWW-Authenticate") == CHALLENGE
        assert reply.header("Cache-Control") == "no-store"
        assert reply.json() == NO_CREDENTIALS
    elif case.delivered[server] is not None:  # refused by the middleware: not canonical
        assert reply.json() == {"detail": NOT_CANONICAL}
        assert reply.header("Cache-Control") == "no-store"
    else:  # refused by the server before the app saw it
        assert reply.body == REFUSAL_BODY[server]
        assert reply.header("WWW-Authenticate") is None


@pytest.mark.parametrize("case", PATH_CASES)
def test_what_the_server_delivers(echo: str, server: str, case: PathCase) -> None:
    """The scope fields the allowlist works from, as the server fills them for each target."""
    target = case.target.format(authority=authority(echo))
    delivered = case.delivered[server]

    reply = exchange(echo, f"GET {target} HTTP/1.1")

    if delivered is None:
        assert (reply.status, reply.body) == (400, REFUSAL_BODY[server])
        return
    path, raw_path = (part.format(authority=authority(echo)) for part in delivered)
    assert reply.status == 200
    assert (reply.json()["path"], reply.json()["raw_path"]) == (path, raw_path)


@pytest.mark.parametrize("case", PATH_CASES)
def test_anonymous_only_where_the_delivered_path_is_canonical_and_allowlisted(
    protected: str, echo: str, server: str, case: PathCase
) -> None:
    """The security property itself, on each server, from what that server really delivers
    (not from the tables): without a token, 200 exactly when the path is canonical and the
    rules list it, as :mod:`tests.public_paths` reads them independently of the library."""
    request_line = "GET {} HTTP/1.1"
    seen = exchange(echo, request_line.format(case.target.format(authority=authority(echo))))
    reply = exchange(
        protected, request_line.format(case.target.format(authority=authority(protected)))
    )

    if seen.status == 400:  # the server refused the request line: no app saw it
        assert (reply.status, reply.body) == (400, REFUSAL_BODY[server])
        return
    assert seen.status == 200
    path, raw_path = seen.json()["path"], seen.json()["raw_path"].encode("latin-1")
    if "{authority}" in case.target:  # the echo and the app listen on different ports
        path = path.replace(authority(echo), authority(protected))
        raw_path = raw_path.replace(authority(echo).encode(), authority(protected).encode())
    public = is_canonical(path, raw_path) and allowed_by_rules("GET", path)
    assert reply.status == (200 if public else refusal_status(path, raw_path)), (path, raw_path)
    if public:
        assert reply.json()["user_id"] is None
