"""Which bearer tokens the certificate-bound path takes: those whose payload holds the
name ``"x5t#S256"``, found in the base64url text without decoding a plain token, at any
of the three alignments; every other token is left to the bearer path, declined from the
header as sent (``declines``) without a search more than that."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jwt_middleware.verification.certificate_bound import (
    CertificateBoundAuthenticator,
    names_a_certificate,
)
from tests.mtls.requests import mtls_settings

AUTHENTICATOR = CertificateBoundAuthenticator.from_settings(mtls_settings())

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _token(payload: dict[str, Any]) -> str:
    segment = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{segment}.c2ln"


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=4), st.text(max_size=5))
def test_a_payload_naming_a_certificate_is_taken_wherever_the_name_falls(
    claims: dict[str, Any], padding: str
) -> None:
    payload = {"pad": padding, **claims, "cnf": {"x5t#S256": "thumbprint"}}
    assert names_a_certificate(_token(payload), 8192)


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=4), st.text(max_size=5))
def test_a_token_naming_a_certificate_is_never_declined(
    claims: dict[str, Any], padding: str
) -> None:
    """Fails if the header is read for fewer alignments than the token is."""
    payload = {"pad": padding, **claims, "cnf": {"x5t#S256": "thumbprint"}}
    assert not AUTHENTICATOR.declines(f"Bearer {_token(payload)}".encode())


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=4))
def test_a_payload_without_the_name_is_left_to_the_bearer_path(claims: dict[str, Any]) -> None:
    assert names_a_certificate(_token(claims), 8192) is ('"x5t#S256"' in json.dumps(claims))


def test_a_token_over_the_size_limit_is_left_to_the_bearer_path() -> None:
    token = _token({"cnf": {"x5t#S256": "t"}, "pad": "x" * 9000})
    assert names_a_certificate(token, 16384)
    assert not names_a_certificate(token, 8192)
