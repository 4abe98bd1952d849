"""What a proxy's certificate header may hold, parsed without surprise: any bytes give a
thumbprint or a refusal with a reason, never another exception; and a thumbprint only for
the certificate written in it, whatever else Envoy's value carries around it."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_middleware.edge.client_certificate import (
    CertificateRefused,
    ClientCertificates,
    envoy_certificate,
)
from jwt_middleware.refusals import Reason
from tests.mtls.certificates import PKI
from tests.mtls.requests import ENVOY_HEADER, NGINX_HEADER, PROXY, mtls_settings, request

_REASONS = {
    Reason.CERTIFICATE_MISSING,
    Reason.CERTIFICATE_MALFORMED,
    Reason.CERTIFICATE_MISMATCH,
}
_SOURCES = {
    name: ClientCertificates.from_settings(mtls_settings(name))
    for name in (NGINX_HEADER, ENVOY_HEADER)
}
_PIECES = st.sampled_from(
    [
        "Hash=",
        "Cert=",
        "Chain=",
        "By=",
        '"',
        ";",
        ",",
        "\\",
        "=",
        PKI.alice.sha256_hex,
        quote(PKI.alice.pem, safe=""),
        "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%2D%2D%2D%2D%2D",
    ]
)


@given(st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=12).map("".join))
def test_any_value_is_a_thumbprint_or_a_reason(value: str) -> None:
    for name, source in _SOURCES.items():
        scope = request(peer=PROXY)
        scope["headers"].append((name.encode(), value.encode("utf-8", "surrogatepass")))
        reason = None
        try:
            source.check(scope, PKI.alice.x5t)
        except CertificateRefused as refused:
            reason = refused.reason
        # Only alice's certificate, or its hash, is alice's.
        alices = PKI.alice.sha256_hex in value or quote(PKI.alice.pem, safe="") in value
        assert reason in _REASONS if reason is not None else alices


@given(st.binary(max_size=300))
def test_any_bytes_in_envoys_format_parse_or_are_refused(value: bytes) -> None:
    try:
        pem, hashed = envoy_certificate(value)
    except CertificateRefused as refused:
        pem, hashed, reason = None, None, refused.reason
    else:
        reason = Reason.CERTIFICATE_MALFORMED
    assert reason is Reason.CERTIFICATE_MALFORMED
    assert pem is None or isinstance(pem, bytes)
    assert hashed is None or len(hashed) == 43  # base64url of 32 bytes, no padding


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(PKI.alice.envoy_header(), id="as-envoy-sets-it"),
        pytest.param(f'Cert="{quote(PKI.alice.pem, safe="")}"', id="cert-quoted"),
        pytest.param(f"cert={quote(PKI.alice.pem, safe='')}", id="cert-lower-case-unquoted"),
        pytest.param(f"Hash={PKI.alice.sha256_hex};", id="hash-trailing-semicolon"),
        pytest.param(
            f'Subject="CN=x,O=\\"a;b\\"";Hash={PKI.alice.sha256_hex}', id="escaped-quotes"
        ),
    ],
)
def test_envoys_value_names_alices_certificate(value: str) -> None:
    scope = request(peer=PROXY, headers={ENVOY_HEADER: value})
    _SOURCES[ENVOY_HEADER].check(scope, PKI.alice.x5t)
