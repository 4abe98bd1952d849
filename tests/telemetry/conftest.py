"""The SDK behind the API's global providers, set once for the session (see
:mod:`.readings`); each test starts with no finished span."""

from __future__ import annotations

import pytest

from .readings import Recorded, install


@pytest.fixture(scope="session")
def recorded() -> Recorded:
    return install()


@pytest.fixture
def sdk(recorded: Recorded) -> Recorded:
    recorded.spans.clear()
    return recorded
