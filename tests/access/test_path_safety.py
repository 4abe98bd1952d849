"""Paths that must never be public, with or without the ``raw_path`` a server may omit.

ASGI makes ``raw_path`` optional, and some adapters (Mangum for AWS Lambda) always send
``None``. Then only the decoded path is left, and a ``%`` still in it means the wire had an
encoded ``%`` (``%252e`` decodes to ``%2e``, which anything that decodes once more reads as
``.``). Such a path is refused with 400 before any token is looked at. These cases are
driven through hand-written ASGI scopes; the real-server tests
(``tests/wire/test_paths.py``) send the same kinds of paths byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest

from jwt_middleware import JWTSettings
from jwt_middleware.access.paths import is_safe_path
from tests.asgi import OMITTED, call, http_scope
from tests.helpers import build_app

#: Decoded paths (as a server hands them over) that must not be public under "/static/*".
NEVER_PUBLIC = [
    pytest.param("/static/%2e%2e/private", id="encoded-dots-after-decoding"),
    pytest.param("/static/%2E%2E/private", id="encoded-dots-upper"),
    pytest.param("/static/%2e%2e%2fprivate", id="encoded-dots-and-slash"),
    pytest.param("/static/..%2fprivate", id="encoded-slash"),
    pytest.param("/static/%5c..%5cprivate", id="encoded-backslash"),
    pytest.param("/static/%252e%252e/private", id="triple-encoded"),
    pytest.param("/static/%25", id="encoded-percent"),
    pytest.param("/static/100%", id="bare-percent"),
    pytest.param("/static/%u002e%u002e/private", id="iis-unicode-escape"),
    pytest.param("/static/\uff0e\uff0e/private", id="fullwidth-dots"),
    pytest.param("/static/..\uff0fprivate", id="fullwidth-slash"),
    pytest.param("/static/\uff3c..", id="fullwidth-backslash"),
    pytest.param("/static/\uff052e", id="fullwidth-percent"),
    pytest.param("/static/\u2024\u2024/private", id="one-dot-leaders"),
    pytest.param("/static/\ufe52\ufe52/private", id="small-full-stops"),
    pytest.param("/static/\ufffd\ufffd/private", id="replacement-chars"),
    pytest.param("/static/\udcc0\udcae", id="lone-surrogates"),
    pytest.param("/static/cafe\u0301.css", id="not-nfkc-normal"),
    pytest.param("/static/../private", id="dot-segments"),
    pytest.param("/static//private", id="empty-segment"),
    pytest.param("/static/a\\b", id="backslash"),
    pytest.param("/static/a\x00b", id="nul"),
]

PUBLIC = [
    pytest.param("/static/app.css", id="plain"),
    pytest.param("/static/caf\u00e9.css", id="nfc-non-ascii"),
    pytest.param("/static/\u65e5\u672c.png", id="cjk"),
]

RAW_PATH = [
    pytest.param(OMITTED, id="no-raw_path"),
    pytest.param(None, id="raw_path-None"),
]


def _status(settings: JWTSettings, path: str, raw_path: Any) -> int:
    return call(build_app(settings), http_scope(path, raw_path=raw_path)).status


@pytest.mark.parametrize("raw_path", RAW_PATH)
@pytest.mark.parametrize("path", NEVER_PUBLIC)
def test_never_public_without_raw_path(settings: JWTSettings, path: str, raw_path: Any) -> None:
    assert _status(settings, path, raw_path) == 400


@pytest.mark.parametrize("raw_path", RAW_PATH)
@pytest.mark.parametrize("path", PUBLIC)
def test_canonical_paths_stay_public_without_raw_path(
    settings: JWTSettings, path: str, raw_path: Any
) -> None:
    assert _status(settings, path, raw_path) == 200


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        pytest.param("/static/\ufffd\ufffd/x", b"/static/%c0%ae%c0%ae/x", id="overlong-dots"),
        pytest.param("/static/\u00c0\u00ae/x", b"/static/%c0%ae/x", id="overlong-latin1-decoded"),
        pytest.param("/static/\ufffd", b"/static/%e0%80%ae", id="overlong-3-bytes"),
        pytest.param("/static/\ufffd", b"/static/%ff", id="invalid-utf8"),
        pytest.param("/static/\uff0e\uff0e/x", b"/static/%ef%bc%8e%ef%bc%8e/x", id="fullwidth"),
        pytest.param("/static/a.css", b"/static/%2e%2e/private", id="raw-disagrees"),
    ],
)
def test_never_public_with_a_raw_path_that_decodes_to_something_else(
    settings: JWTSettings, path: str, raw_path: bytes
) -> None:
    assert _status(settings, path, raw_path) == 400


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        pytest.param("/static/caf\u00e9.css", b"/static/caf%c3%a9.css", id="utf8-encoded"),
        pytest.param("/static/a b.css", b"/static/a%20b.css", id="encoded-space"),
    ],
)
def test_encoded_plain_characters_stay_public(
    settings: JWTSettings, path: str, raw_path: bytes
) -> None:
    assert is_safe_path(path, raw_path)
    assert _status(settings, path, raw_path) == 200
