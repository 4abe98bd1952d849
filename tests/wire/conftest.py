"""Real servers on loopback for the wire tests: settings read once for module-wide servers,
and the app under test (and an echo of the scope) served by every server in
:data:`tests.wire.peers.SERVERS`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from jwt_middleware import JWTSettings
from tests.helpers import SECRET, build_app
from tests.public_paths import PUBLIC
from tests.wire.apps import echo_scope
from tests.wire.peers import SERVERS, serve_on


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> JWTSettings:
    """Settings for module-wide servers, read with no JWT_* variables and no .env around."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("JWT_"):
                patch.delenv(name)
        patch.chdir(tmp_path_factory.mktemp("settings"))
        return JWTSettings(secret=SECRET)


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def protected(
    module_settings: JWTSettings, server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """:func:`tests.helpers.build_app` with PUBLIC as the allowlist, on the server under test."""
    app = build_app(module_settings, public=PUBLIC)
    workdir = tmp_path_factory.mktemp("protected")
    with serve_on(server, app, factory="tests.wire.apps:protected_app", workdir=workdir) as base:
        yield base


@pytest.fixture(scope="module")
def echo(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An app without the middleware that reports the scope, to see what the server delivers."""
    workdir = tmp_path_factory.mktemp("echo")
    with serve_on(server, echo_scope, factory="tests.wire.apps:echo_app", workdir=workdir) as base:
        yield base
