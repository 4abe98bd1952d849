"""JWKSKeys options are checked at construction, which fetches nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jwt_middleware import KeySource
from jwt_middleware.keys.jwks import JWKSKeys
from tests.keys.endpoint import Endpoint


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
        pytest.param("https://idp.example/j", {"ttl_seconds": 0}, ValueError, id="ttl-zero"),
        pytest.param("https://idp.example/j", {"ttl_seconds": -5}, ValueError, id="ttl-negative"),
        pytest.param("https://idp.example/j", {"ttl_seconds": float("inf")}, ValueError, id="inf"),
        pytest.param("https://idp.example/j", {"ttl_seconds": float("nan")}, ValueError, id="nan"),
        pytest.param("https://idp.example/j", {"ttl_seconds": "300"}, TypeError, id="ttl-str"),
        pytest.param(
            "https://idp.example/j", {"min_refetch_interval_seconds": 0}, ValueError, id="interval"
        ),
        pytest.param("https://idp.example/j", {"timeout_seconds": 0}, ValueError, id="timeout"),
        pytest.param("https://idp.example/j", {"max_response_bytes": 0}, ValueError, id="bytes-0"),
        pytest.param("https://idp.example/j", {"max_response_bytes": 1.5}, TypeError, id="bytes"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    url: str, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        JWKSKeys(url, **{"algorithms": ["RS256"], **options})


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
