"""JWTSettings: from the environment and .env, validated at start-up, never showing the secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette

from jwt_middleware import ConfigurationError, JWTAuthMiddleware, JWTSettings
from tests.helpers import OTHER_SECRET, SECRET


def test_reads_every_field_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "JWT_SECRET": SECRET + OTHER_SECRET,
        "JWT_ALGORITHM": "HS512",
        "JWT_ACCESS_TOKEN_LIFETIME": "2d",
        "JWT_ISSUER": "https://id.example",
        "JWT_AUDIENCE": "api://orders",
        "JWT_LEEWAY_SECONDS": "10",
        "JWT_REALM": "orders",
        "JWT_MAX_TOKEN_BYTES": "4096",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = JWTSettings()
    assert settings.secret is not None
    assert settings.secret.get_secret_value() == SECRET + OTHER_SECRET
    assert (settings.algorithm, settings.expiry_seconds) == ("HS512", 172800)
    assert (settings.issuer, settings.audience) == ("https://id.example", "api://orders")
    assert (settings.leeway_seconds, settings.realm, settings.max_token_bytes) == (
        10,
        "orders",
        4096,
    )


def test_defaults() -> None:
    settings = JWTSettings(secret=SECRET)
    assert settings.algorithm == "HS256"
    assert settings.expiry_seconds == 7 * 86400
    assert settings.refresh_expiry_seconds == 30 * 86400
    assert settings.issuer is None
    assert settings.audience is None
    assert settings.leeway_seconds == 30  # ordinary clock skew between a provider and us
    assert settings.realm == "api"
    assert settings.max_token_bytes == 8192


def test_reads_dot_env_in_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"JWT_SECRET={SECRET}\nJWT_REALM=from-dotenv\nOTHER=1\n")
    settings = JWTSettings()
    assert settings.realm == "from-dotenv"
    assert settings.secret is not None
    assert settings.secret.get_secret_value() == SECRET


def test_environment_wins_over_dot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(f"JWT_SECRET={SECRET}\nJWT_REALM=from-dotenv\n")
    monkeypatch.setenv("JWT_REALM", "from-env")
    assert JWTSettings().realm == "from-env"


def test_missing_secret_names_the_variable_and_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError) as info:
        JWTSettings()
    message = str(info.value)
    assert "JWT_SECRET is not set" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message


@pytest.mark.parametrize(
    ("algorithm", "length", "ok"),
    [
        pytest.param("HS256", 31, False, id="hs256-31"),
        pytest.param("HS256", 32, True, id="hs256-32"),
        pytest.param("HS384", 47, False, id="hs384-47"),
        pytest.param("HS384", 48, True, id="hs384-48"),
        pytest.param("HS512", 63, False, id="hs512-63"),
        pytest.param("HS512", 64, True, id="hs512-64"),
        pytest.param("HS256", 0, False, id="empty"),
    ],
)
def test_secret_length_floor_follows_the_algorithm(algorithm: str, length: int, ok: bool) -> None:
    secret = (SECRET + OTHER_SECRET)[:length]
    if ok:
        assert JWTSettings(secret=secret, algorithm=algorithm).algorithm == algorithm
        return
    with pytest.raises(ConfigurationError) as info:
        JWTSettings(secret=secret, algorithm=algorithm)
    assert "JWT_SECRET" in str(info.value)
    if secret:
        assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        pytest.param({"algorithm": "none"}, "JWT_ALGORITHM", id="alg-none"),
        pytest.param({"algorithm": "RS256"}, "JWT_SECRET", id="asymmetric-not-yet"),
        pytest.param({"expiry_days": 0}, "JWT_EXPIRY_DAYS", id="zero-expiry"),
        pytest.param({"leeway_seconds": -1}, "JWT_LEEWAY_SECONDS", id="negative-leeway"),
        pytest.param({"realm": 'a"b'}, "JWT_REALM", id="quote-in-realm"),
        pytest.param({"realm": "a\r\nX-Injected: 1"}, "JWT_REALM", id="crlf-in-realm"),
        pytest.param({"max_token_bytes": 10}, "JWT_MAX_TOKEN_BYTES", id="tiny-token-bound"),
        pytest.param({"issuer": ""}, "JWT_ISSUER", id="empty-issuer"),
    ],
)
def test_bad_configuration_fails_validation(overrides: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        JWTSettings(secret=SECRET, **overrides)
    assert variable in str(info.value)


def test_secret_never_shows_in_repr_str_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = JWTSettings(secret=SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_EXPIRY_DAYS", "not-a-number")
    with pytest.raises(ConfigurationError) as info:
        JWTSettings()
    assert SECRET not in str(info.value)


def test_middleware_reads_the_environment_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = JWTAuthMiddleware(Starlette())
    assert broken.configuration_error is not None
    assert "JWT_SECRET" in str(broken.configuration_error)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    middleware = JWTAuthMiddleware(Starlette())
    assert middleware.settings.secret is not None


def test_settings_are_immutable() -> None:
    settings = JWTSettings(secret=SECRET)
    with pytest.raises(ValidationError):
        settings.realm = "changed"  # type: ignore[misc]  # frozen: the point of the test


def test_an_unknown_algorithm_lists_the_accepted_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_ALGORITHM", "HS999")
    with pytest.raises(ConfigurationError) as info:
        JWTSettings()
    message = str(info.value)
    assert message.startswith("JWT_ALGORITHM: ")
    assert "algorithm" not in message.split(":")[0]  # the variable, not the field
    for name in ("HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"):
        assert name in message
    assert "HS999" not in message


@pytest.mark.parametrize(
    ("variables", "access", "refresh"),
    [
        pytest.param({}, 7 * 86400, 30 * 86400, id="defaults"),
        pytest.param({"JWT_ACCESS_TOKEN_LIFETIME": "900"}, 900, 30 * 86400, id="seconds"),
        pytest.param({"JWT_ACCESS_TOKEN_LIFETIME": "900s"}, 900, 30 * 86400, id="s"),
        pytest.param({"JWT_ACCESS_TOKEN_LIFETIME": "15m"}, 900, 30 * 86400, id="minutes"),
        pytest.param({"JWT_ACCESS_TOKEN_LIFETIME": "12h"}, 43200, 30 * 86400, id="hours"),
        pytest.param({"JWT_ACCESS_TOKEN_LIFETIME": "PT15M"}, 900, 30 * 86400, id="iso-8601"),
        pytest.param({"JWT_REFRESH_TOKEN_LIFETIME": "14d"}, 7 * 86400, 14 * 86400, id="refresh"),
        pytest.param({"JWT_EXPIRY_DAYS": "0.5"}, 43200, 30 * 86400, id="older-days-form"),
        pytest.param({"JWT_REFRESH_EXPIRY_DAYS": "2"}, 7 * 86400, 2 * 86400, id="older-refresh"),
    ],
)
def test_token_lifetimes(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], access: int, refresh: int
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = JWTSettings()
    assert (settings.expiry_seconds, settings.refresh_expiry_seconds) == (access, refresh)


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        pytest.param(
            {"JWT_ACCESS_TOKEN_LIFETIME": "15m", "JWT_EXPIRY_DAYS": "1"},
            "not both",
            id="both-forms",
        ),
        pytest.param(
            {"JWT_ACCESS_TOKEN_LIFETIME": "15 minutes"},
            "JWT_ACCESS_TOKEN_LIFETIME",
            id="unknown-unit",
        ),
        pytest.param({"JWT_ACCESS_TOKEN_LIFETIME": "0s"}, "at least one second", id="zero"),
        pytest.param(
            {"JWT_REFRESH_TOKEN_LIFETIME": "-5m"}, "JWT_REFRESH_TOKEN_LIFETIME", id="negative"
        ),
    ],
)
def test_bad_lifetimes_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], says: str
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=says):
        JWTSettings()
