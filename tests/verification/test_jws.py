"""What :mod:`jwt_middleware.jws` hands the verifier: the segments as sent, the signature
and the signing input as bytes, and the payload only when asked for."""

from __future__ import annotations

import pytest

from jwt_middleware import jws

#: header, payload and signature segments, as a token carries them.
SEGMENT_CASES = [
    pytest.param("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiJ1In0", "c2lnbmF0dXJl", id="plain"),
    pytest.param("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiJ1eCJ9", "c2ln", id="short-signature"),
    pytest.param("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiJ1In0=", "c2lnbmF0dXJlcw==", id="padded"),
    pytest.param("eyJhbGciOiJIUzI1NiJ9", "", "c2lnbmF0dXJl", id="empty-payload"),
]


@pytest.mark.parametrize(("header", "payload", "signature"), SEGMENT_CASES)
def test_the_segments_are_the_ones_sent(header: str, payload: str, signature: str) -> None:
    parsed = jws.parse(f"{header}.{payload}.{signature}")
    assert parsed.header_segment == header
    assert parsed.payload_segment == payload
    assert parsed.signing_input == f"{header}.{payload}".encode()
    assert parsed.signature == jws.decode_segment(signature)
    assert parsed.algorithm == "HS256"


#: payload segments, and the JSON text each decodes to (None: refused as malformed).
PAYLOAD_CASES = [
    pytest.param("eyJzdWIiOiJ1In0", '{"sub":"u"}', id="unpadded"),
    pytest.param("eyJzdWIiOiJ1In0=", '{"sub":"u"}', id="padded"),
    pytest.param("eyJzdWIiOiJ1In0==", None, id="too-much-padding"),
    pytest.param("eyJzdWIiOiJ1In1", None, id="not-canonical"),
    pytest.param("eyJzdWIiOiJ1In0+", None, id="not-base64url"),
    pytest.param("_w", None, id="not-utf-8"),
]


@pytest.mark.parametrize(("payload", "text"), PAYLOAD_CASES)
def test_the_payload_is_decoded_strictly_when_asked_for(payload: str, text: str | None) -> None:
    parsed = jws.parse(f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2lnbmF0dXJl")  # parsed either way
    if text is not None:
        assert parsed.payload_json() == text
        return
    with pytest.raises(jws.MalformedTokenError):
        parsed.payload_json()
