"""JWKSKeys options are checked at construction, which fetches nothing."""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import pytest

from jwt_middleware import JWTSettings, KeySource, TokenVerifier
from jwt_middleware.errors import ConfigurationError
from jwt_middleware.keys.issuers import Issuers
from jwt_middleware.keys.jwks import JWKSKeys, JWKSOptions
from tests.keys.endpoint import Endpoint, jwks_keys


@pytest.mark.parametrize(
    ("url", "options", "error"),
    [
        pytest.param("ftp://idp.example/jwks", {}, ValueError, id="ftp-url"),
        pytest.param("/jwks.json", {}, ValueError, id="relative-url"),
        pytest.param("https://", {}, ValueError, id="no-host"),
        pytest.param("https://idp.example/j", {"algorithms": []}, ValueError, id="no-algorithm"),
        pytest.param("https://idp.example/j", {"algorithms": "RS256"}, TypeError, id="alg-str"),
        pytest.param("https://idp.example/j", {"algorithms": ["HS256"]}, ValueError, id="hmac"),
        pytest.param(
            "https://idp.example/j", {"algorithms": ["RS256", "HS512"]}, ValueError, id="mixed"
        ),
        pytest.param("https://idp.example/j", {"algorithms": ["none"]}, ValueError, id="none"),
        pytest.param("https://idp.example/j", {"algorithms": ["RS999"]}, ValueError, id="unknown"),
        pytest.param("https://idp.example/j", {"cache_seconds": 0}, ValueError, id="cache-zero"),
        pytest.param(
            "https://idp.example/j", {"cache_seconds": -5}, ValueError, id="cache-negative"
        ),
        pytest.param(
            "https://idp.example/j", {"cache_seconds": float("inf")}, ValueError, id="inf"
        ),
        pytest.param(
            "https://idp.example/j", {"cache_seconds": float("nan")}, ValueError, id="nan"
        ),
        pytest.param("https://idp.example/j", {"cache_seconds": "300"}, TypeError, id="cache-str"),
        pytest.param(
            "https://idp.example/j", {"min_refetch_seconds": 0}, ValueError, id="interval"
        ),
        pytest.param("https://idp.example/j", {"timeout_seconds": 0}, ValueError, id="timeout"),
        pytest.param(
            "https://idp.example/j", {"max_stale_seconds": float("inf")}, ValueError, id="stale"
        ),
        pytest.param("https://idp.example/j", {"options": {}}, TypeError, id="options-dict"),
        pytest.param("https://idp.example/j", {"max_response_bytes": 0}, ValueError, id="bytes-0"),
        pytest.param("https://idp.example/j", {"max_response_bytes": 1.5}, TypeError, id="bytes"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    url: str, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        jwks_keys(url, **options)


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        pytest.param("http://idp.example/jwks.json", True, id="plain-http"),
        pytest.param("https://idp.example/jwks.json", False, id="https"),
        pytest.param("http://127.0.0.1:8080/jwks.json", False, id="loopback"),
        pytest.param("http://localhost/jwks.json", False, id="localhost"),
    ],
)
def test_plain_http_to_a_remote_host_is_a_warning(
    url: str, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jwt_middleware")
    JWKSKeys(url, algorithms=["RS256"])
    assert any("plain http" in r.getMessage() for r in caplog.records) is warns


def test_construction_fetches_nothing_and_makes_a_key_source(endpoint: Endpoint) -> None:
    keys = JWKSKeys(endpoint.url, algorithms=["RS256"])
    assert isinstance(keys, KeySource)
    assert endpoint.requests == 0


def test_options_from_settings_keep_the_settings_names() -> None:
    """``JWT_JWKS_<NAME>`` is ``JWKSOptions.<name>``: one name from the environment to the
    code, for every JWKS setting but the URL (and the file, which is not fetched)."""
    named = {
        name.removeprefix("jwks_")
        for name in JWTSettings.model_fields
        if name.startswith("jwks_")
        and name not in ("jwks_url", "jwks_file", "jwks_file_check_seconds")
    }
    assert named == {field.name for field in fields(JWKSOptions)}
    settings = JWTSettings(
        jwks_url="https://idp.example/jwks.json",
        jwks_cache_seconds=60,
        jwks_min_refetch_seconds=2,
        jwks_max_stale_seconds=3600,
        jwks_timeout_seconds=3,
    )
    expected = JWKSOptions(
        cache_seconds=60, min_refetch_seconds=2, max_stale_seconds=3600, timeout_seconds=3
    )
    assert JWKSOptions.from_settings(settings) == expected
    # ... and they are what the verifier's key sets fetch with.
    pool = Issuers.from_settings(settings)._pool
    assert pool is not None
    assert pool.options == expected


def test_defaults_are_the_settings_defaults() -> None:
    settings = JWTSettings(jwks_url="https://idp.example/jwks.json")
    assert JWKSOptions.from_settings(settings) == JWKSOptions()


def test_an_infinite_max_stale_setting_names_its_variable() -> None:
    """The setting admits ``inf``; a key set can never be that old, so it is refused at
    start-up naming the variable (it used to be a bare ValueError from JWKSKeys)."""
    settings = JWTSettings(jwks_url="https://idp.example/jwks.json", jwks_max_stale_seconds="inf")
    with pytest.raises(ConfigurationError, match="JWT_JWKS_MAX_STALE_SECONDS"):
        TokenVerifier(settings)
