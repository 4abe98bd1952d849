"""What :mod:`jwt_middleware.jws` hands the verifier: the segments as sent, the signature
and the signing input as bytes, and the payload only when asked for."""

from __future__ import annotations

import base64
import json

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


def _header_segment(header: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The header segments decoded and parsed from now on, in order."""
    reads: list[str] = []
    read = jws._read_header

    def counted(segment: str) -> tuple[str, str | None, str | None]:
        reads.append(segment)
        return read(segment)

    monkeypatch.setattr(jws, "_read_header", counted)
    return reads


def test_a_header_read_once_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forged token sent again is refused without its header being decoded again."""
    header = _header_segment({"alg": "HS256", "kid": "memo-test", "typ": "JWT"})
    reads = _count_reads(monkeypatch)
    first = jws.parse(f"{header}.eyJzdWIiOiJ1In0.c2lnbmF0dXJl")
    again = jws.parse(f"{header}.eyJzdWIiOiJ2In0.b3RoZXI")
    assert reads == [header]
    assert (again.algorithm, again.kid, again.typ) == (first.algorithm, "memo-test", "JWT")


def test_new_headers_never_push_out_a_verified_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attacker who sends a new header with every token churns the memo of headers seen,
    never the one of headers that verified."""
    verified = jws.parse(f"{_header_segment({'alg': 'HS256', 'kid': 'real'})}.e30.c2ln")
    jws.remember_header(verified)
    for number in range(3 * jws._MAX_KNOWN_HEADERS):
        jws.parse(f"{_header_segment({'alg': 'HS256', 'kid': f'forged-{number}'})}.e30.c2ln")
    assert len(jws._SEEN_HEADERS) <= jws._MAX_KNOWN_HEADERS
    reads = _count_reads(monkeypatch)
    assert jws.parse(f"{verified.header_segment}.e30.c2ln").kid == "real"
    assert reads == []


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "HS256", "crit": ["b64"]}, id="crit"),
        pytest.param({"kid": "no-alg"}, id="no-alg"),
        pytest.param({"alg": "HS256", "kid": None}, id="null-kid"),
    ],
)
def test_a_refused_header_is_refused_every_time(header: dict[str, object]) -> None:
    """Only headers that were read successfully are remembered."""
    token = f"{_header_segment(header)}.e30.c2ln"
    for _ in range(2):
        with pytest.raises(jws.MalformedTokenError):
            jws.parse(token)
