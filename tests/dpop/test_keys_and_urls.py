"""The parts of proof checking that read untrusted input on their own: the proof's JWK (its
key and its RFC 7638 thumbprint, against a real client's and the tests' own), and the
``htu`` normalization of RFC 9449 section 4.3 (a table, and properties over any text)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_middleware.keys.jwk import jwk_thumbprint, key_from_public_jwk
from jwt_middleware.verification.dpop import normalized_url
from tests.dpop.client import DPoPClient
from tests.dpop.proofs import PyJWTKey, thumbprint

EC = PyJWTKey()


@pytest.fixture(scope="module")
def client() -> Iterator[DPoPClient]:
    with DPoPClient() as running:
        yield running


@pytest.mark.parametrize("alg", ["ES256", "Ed25519", "PS256", "RS256"])
def test_the_thumbprint_is_the_clients_and_the_rfcs(client: DPoPClient, alg: str) -> None:
    key = client.key(alg)
    assert key_from_public_jwk(key.jwk, alg) is not None
    assert jwk_thumbprint(key.jwk) == key.client_jkt == thumbprint(key.jwk)


#: (the JWK, the algorithm of the proof).
REFUSED = [
    pytest.param({**EC.private_jwk}, "ES256", id="private-d"),
    pytest.param({**EC.jwk, "p": "AQAB"}, "ES256", id="rsa-private-member"),
    pytest.param({**EC.jwk, "k": "AQAB"}, "ES256", id="symmetric-member"),
    pytest.param({**EC.jwk, "crv": "P-384"}, "ES256", id="crv-of-another-alg"),
    pytest.param({**EC.jwk}, "ES384", id="alg-of-another-curve"),
    pytest.param({**EC.jwk}, "RS256", id="kty-of-another-alg"),
    pytest.param({**EC.jwk}, "EdDSA", id="ec-key-for-eddsa"),
    pytest.param({**EC.jwk}, "HS256", id="hmac"),
    pytest.param({**EC.jwk, "x": 7}, "ES256", id="member-not-a-string"),
    pytest.param({**EC.jwk, "x": EC.jwk["y"]}, "ES256", id="point-not-on-curve"),
    pytest.param({"kty": "oct", "k": "c2VjcmV0"}, "ES256", id="oct"),
    pytest.param({"kty": "OKP", "crv": "Ed448", "x": "AAAA"}, "Ed25519", id="ed448-for-ed25519"),
]


@pytest.mark.parametrize(("jwk", "alg"), REFUSED)
def test_a_jwk_that_must_not_be_used_is_refused(jwk: dict[str, Any], alg: str) -> None:
    assert key_from_public_jwk(jwk, alg) is None


#: (the htu as a client may write it, the normalized form).
URLS = [
    pytest.param("https://api.example.com/a", "https://api.example.com/a", id="plain"),
    pytest.param("HTTPS://API.EXAMPLE.COM/a", "https://api.example.com/a", id="case"),
    pytest.param("https://api.example.com:443/a", "https://api.example.com/a", id="default-port"),
    pytest.param("http://api.example.com:80/a", "http://api.example.com/a", id="default-http"),
    pytest.param("https://api.example.com:8443/a", "https://api.example.com:8443/a", id="port"),
    pytest.param("https://api.example.com", "https://api.example.com/", id="empty-path"),
    pytest.param("https://api.example.com/a?b=c#d", "https://api.example.com/a", id="query"),
    pytest.param(
        "https://api.example.com/%7euser", "https://api.example.com/~user", id="unreserved"
    ),
    pytest.param("https://api.example.com/a%2fb", "https://api.example.com/a%2Fb", id="hex-case"),
    pytest.param("https://api.example.com/a/./b/../c", "https://api.example.com/a/c", id="dots"),
    pytest.param("https://[::1]:8000/a", "https://[::1]:8000/a", id="ipv6"),
    pytest.param("ftp://api.example.com/a", None, id="not-http"),
    pytest.param("https://user@api.example.com/a", None, id="userinfo"),
    pytest.param("/a", None, id="relative"),
    pytest.param("https://api.example.com:99999/a", None, id="bad-port"),
    pytest.param("https://api.example.com/" + "a" * 3000, None, id="too-long"),
]


@pytest.mark.parametrize(("url", "normal"), URLS)
def test_the_htu_is_normalized(url: str, normal: str | None) -> None:
    assert normalized_url(url) == normal


@given(st.text(max_size=300))
def test_any_text_is_normalized_or_refused_without_raising(text: str) -> None:
    normal = normalized_url(text)
    assert normal is None or normalized_url(normal) == normal  # idempotent


@given(st.text(alphabet="abcXYZ019-._~%/", max_size=60))
def test_a_normalized_url_names_the_same_resource(path: str) -> None:
    url = "https://API.example.com:443/" + path
    normal = normalized_url(url)
    assert normal is not None
    assert normal.startswith("https://api.example.com/")
    assert normalized_url(normal) == normal
