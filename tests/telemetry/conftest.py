"""The SDK behind the API's global providers, set once for the session (see
:mod:`.readings`); each test starts with no finished span, and spans are kept only while
a test that reads them runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .readings import Recorded, install


@pytest.fixture(scope="session")
def recorded() -> Recorded:
    return install()


@pytest.fixture
def sdk(recorded: Recorded) -> Iterator[Recorded]:
    recorded.spans.clear()
    recorded.processor.armed = True
    yield recorded
    recorded.processor.armed = False
    recorded.spans.clear()
