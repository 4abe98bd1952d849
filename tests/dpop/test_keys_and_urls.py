"""The parts of proof checking that read untrusted input on their own: the proof's JWK (its
key and its RFC 7638 thumbprint, against a real client's and the tests' own), and the
``htu`` normalization of RFC 9449 section 4.3 (a table, and properties over any text)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_middleware.keys.jwk import jwk_thumbprint, key_from_public_jwk
from jwt_middleware.verification.dpop import ProofChecker, ProofRefused, normalized_url
from tests.dpop.client import DPoPClient
from tests.dpop.proofs import PyJWTKey, b64url, thumbprint
from tests.helpers import b64url_json

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


CHECKER = ProofChecker(
    algorithms=("ES256", "EdDSA", "Ed25519", "PS256", "RS256"),
    base_url="https://api.example.com",
    proof_seconds=60,
    leeway_seconds=30,
)


@given(st.lists(st.sampled_from([p.values[0] for p in URLS]) | st.text(max_size=40), max_size=200))
def test_the_remembered_normal_forms_are_the_normal_forms(urls: list[str]) -> None:
    # Whatever came before (more URLs than it keeps, the same one again), the checker's
    # remembered answer is the one normalized_url gives.
    for url in urls:
        assert CHECKER._normal(url) == (normalized_url(url) or "")


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_JWKS = st.fixed_dictionaries(
    {"kty": st.sampled_from(["EC", "RSA", "OKP", "oct", "x"])},
    optional={
        "crv": st.sampled_from(["P-256", "P-384", "Ed25519", "Ed448", "X25519"]),
        "x": st.sampled_from([EC.jwk["x"], "", "AAAA", "a" * 2000]),
        "y": st.sampled_from([EC.jwk["y"], EC.jwk["x"], "!!"]),
        "n": st.text(max_size=10),
        "e": st.sampled_from(["AQAB", ""]),
        "d": st.just("AAAA"),
    },
)


@given(st.text(max_size=600))
def test_any_text_as_a_proof_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ProofRefused):
        CHECKER.check(text, method="GET", raw_path="/private", access_token="t", now=time.time())


@given(
    st.sampled_from(["ES256", "EdDSA", "Ed25519", "RS256", "HS256", "none"]),
    st.one_of(_JWKS, _JSON_VALUES),
    st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath"]), _JSON_VALUES),
    st.binary(max_size=80),
)
def test_any_proof_with_a_signature_not_of_its_key_is_refused_with_a_reason(
    alg: str, jwk: Any, claims: dict[str, Any], signature: bytes
) -> None:
    header = b64url_json({"alg": alg, "typ": "dpop+jwt", "jwk": jwk})
    proof = f"{header}.{b64url_json(claims)}.{b64url(signature)}"
    with pytest.raises(ProofRefused) as refused:
        CHECKER.check(proof, method="GET", raw_path="/private", access_token="t", now=time.time())
    assert refused.value.reason.value.startswith("dpop_")
