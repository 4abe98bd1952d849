"""A pytest plugin for the tests of apps this library protects: a fake OpenID provider.

    def test_reports(jwt_issuer: FakeIssuer) -> None:
        app.add_middleware(JWTAuthMiddleware, settings=jwt_issuer.settings(audience="api"))
        with TestClient(app) as client:
            jwt_issuer.as_user(client, "alice", scopes=["reports:read"])
            assert client.get("/reports").status_code == 200

pytest loads this module in every session of every project where the library is installed
(the ``pytest11`` entry point), so it imports nothing but pytest, which is loaded already:
the provider (:mod:`.issuer`) and everything it needs are imported when a test first asks
for a fixture. What the middleware needs to fetch the provider's keys (httpx) comes with
the ``testing`` extra. The library itself never imports this package.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .dpop import DPoPAuth, DPoPKey
    from .issuer import FakeIssuer, OutageKind, RequestCounts

__all__ = [
    "DPoPAuth",
    "DPoPKey",
    "FakeIssuer",
    "OutageKind",
    "RequestCounts",
    "jwt_issuer",
    "jwt_issuer_for_session",
]

_MISSING_EXTRA = (
    "jwt_issuer needs the testing extra (httpx, to fetch the provider's keys): "
    "pip install 'jwt-middleware-asgi[testing]'"
)


def require_testing_extra() -> None:
    """Raise an ImportError naming the ``testing`` extra when what it installs is missing."""
    try:
        import httpx  # noqa: F401 - only whether it imports
    except ImportError as exc:
        raise ImportError(_MISSING_EXTRA) from exc


@pytest.fixture(scope="session")
def jwt_issuer_for_session() -> Iterator[FakeIssuer]:
    """The session's fake OpenID provider, as it is: for session- or module-scoped fixtures.

    Tests take :func:`jwt_issuer`, which is the same provider with its controls and counters
    put back before each test.
    """
    require_testing_extra()
    from .issuer import FakeIssuer

    with FakeIssuer() as issuer:
        yield issuer


@pytest.fixture
def jwt_issuer(jwt_issuer_for_session: FakeIssuer) -> FakeIssuer:
    """The session's fake OpenID provider, answering normally and with its counters at zero.

    Its keys stay what the last :meth:`~.issuer.FakeIssuer.rotate_keys` made them: tokens
    minted in one test verify in the next.
    """
    jwt_issuer_for_session.reset()
    return jwt_issuer_for_session


def __getattr__(name: str) -> Any:
    if name in {"FakeIssuer", "OutageKind", "RequestCounts"}:
        from . import issuer

        return getattr(issuer, name)
    if name in {"DPoPAuth", "DPoPKey"}:
        require_testing_extra()
        from . import dpop

        return getattr(dpop, name)
    raise AttributeError(f"module 'jwt_middleware.testing' has no attribute {name!r}")
