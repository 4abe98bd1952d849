"""Fixtures of the edge tests: a JWKS endpoint on loopback, for readiness."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.keys.endpoint import Endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with ExitStack() as stack:
        yield Endpoint(stack)
