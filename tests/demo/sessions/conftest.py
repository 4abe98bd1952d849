"""Session fixtures: every test here whose app is built from ``demo_settings`` runs twice,
with the sessions kept in the demo's database (the default) and in the real Redis on
loopback (a key prefix of its own).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from demo_app.settings import DemoSettings
from tests.demo.databases import engine_with_tables
from tests.services import REDIS_URL


@pytest.fixture(params=["database", "redis"])
def demo_settings(request: pytest.FixtureRequest, database_url: str) -> DemoSettings:
    """The conftest's settings, once without Redis and once with its own Redis prefix."""
    if request.param == "database":
        return DemoSettings(database_url=database_url)
    prefix: str = request.getfixturevalue("redis_prefix")
    return DemoSettings(database_url=database_url, redis_url=REDIS_URL, redis_key_prefix=prefix)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The demo's engine on the test's database, its tables created as at start-up."""
    with engine_with_tables(database_url) as demo_engine:
        yield demo_engine
