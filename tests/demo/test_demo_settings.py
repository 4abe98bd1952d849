"""``DemoSettings``: defaults, the environment, and URLs it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from demo_app.settings import DemoSettings


def test_defaults() -> None:
    settings = DemoSettings()

    assert settings.database_url == "sqlite:///./demo.db"
    assert settings.password_min_length == 8
    assert settings.max_body_bytes == 64 * 1024
    assert settings.port == 8000
    assert settings.redis_url is None
    assert settings.redis_key_prefix == "jwt-demo:"
    assert settings.revocation_on_error == "deny"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db.example/demo")
    monkeypatch.setenv("DEMO_PASSWORD_MIN_LENGTH", "12")
    monkeypatch.setenv("DEMO_MAX_BODY_BYTES", "10000")
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("REDIS_URL", "redis://:pw@cache.example:6379/2")
    monkeypatch.setenv("DEMO_REDIS_KEY_PREFIX", "shop:")
    monkeypatch.setenv("DEMO_REVOCATION_ON_ERROR", "allow")

    settings = DemoSettings()

    assert settings.database_url == "postgresql+psycopg://u@db.example/demo"
    assert (settings.password_min_length, settings.max_body_bytes, settings.port) == (
        12,
        10000,
        9001,
    )
    assert settings.redis_url == "redis://:pw@cache.example:6379/2"
    assert (settings.redis_key_prefix, settings.revocation_on_error) == ("shop:", "allow")


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://h:6380", "unix:///run/redis.sock"]
)
def test_redis_urls_accepted(url: str) -> None:
    assert DemoSettings(redis_url=url).redis_url == url


def test_empty_redis_url_means_no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")

    assert DemoSettings().redis_url is None


def test_values_come_from_dot_env_in_the_working_folder(tmp_path: object) -> None:
    with open(".env", "w", encoding="utf-8") as env_file:
        env_file.write("DATABASE_URL=sqlite:///./other.db\nDEMO_PASSWORD_MIN_LENGTH=9\n")

    settings = DemoSettings()

    assert (settings.database_url, settings.password_min_length) == ("sqlite:///./other.db", 9)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////var/lib/demo.db", "sqlite:////var/lib/demo.db"),
    ],
    ids=["postgresql", "postgres", "explicit-driver", "sqlite-absolute"],
)
def test_postgres_urls_get_the_psycopg3_driver(given: str, expected: str) -> None:
    assert DemoSettings(database_url=given).database_url == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "not a url"),
        ("database_url", "mysql://u@h/db"),
        ("password_min_length", 0),
        ("password_min_length", 2000),
        ("max_body_bytes", 100),
        ("port", 0),
        ("port", 70000),
        ("redis_url", "http://:hunter2@cache.example"),
        ("redis_url", "cache.example:6379"),
        ("redis_key_prefix", ""),
        ("revocation_on_error", "ignore"),
    ],
)
def test_bad_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        DemoSettings(**{field: value})

    assert "mysql://u@h" not in str(caught.value)
    assert "hunter2" not in str(caught.value)
