"""``Authorization`` headers as sent on the wire: spellings accepted, malformed and repeated
headers refused with ``invalid_request``, bad tokens with ``invalid_token``, and bytes that
are no field value refused by the server or the middleware.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.helpers import OTHER_SECRET, mint_token
from tests.wire.exchange import (
    EXPIRED,
    EXPIRED_TOKEN,
    INVALID,
    LONG,
    MALFORMED,
    NO_CREDENTIALS,
    NO_TOKEN,
    TWO_HEADERS,
    VALID,
    exchange,
    expected_challenge,
)
from tests.wire.peers import REFUSAL_BODY, by_server, on_every_server


class HeaderCase(NamedTuple):
    """Authorization headers as sent, and the answer expected for a protected path.

    ``error`` and ``description`` are the RFC 6750 fields of the challenge (``error=None``:
    a bare challenge); ``user_id`` is what the handler sees when the request gets through.
    """

    headers: list[tuple[str, str]]
    status: int
    error: str | None = None
    description: str | None = None
    user_id: str | None = None


def header_case(case_id: str, *values: str, **expected: Any) -> Any:
    headers = [("Authorization", value) for value in values]
    return pytest.param(HeaderCase(headers, **expected), id=case_id)


def accepted(case_id: str, *values: str) -> Any:
    return header_case(case_id, *values, status=200, user_id="user-1")


def bare_challenge(case_id: str, *values: str) -> Any:
    """No bearer credentials at all: 401 with a challenge that names no error."""
    return header_case(case_id, *values, status=401)


def malformed(case_id: str, *values: str, description: str = MALFORMED) -> Any:
    return header_case(
        case_id, *values, status=400, error="invalid_request", description=description
    )


def invalid(case_id: str, *values: str, description: str = INVALID) -> Any:
    return header_case(case_id, *values, status=401, error="invalid_token", description=description)


HEADER_CASES = [
    accepted("valid", f"Bearer {VALID}"),
    accepted("lower-case-scheme", f"bearer {VALID}"),
    accepted("upper-case-scheme", f"BEARER {VALID}"),
    accepted("two-spaces", f"Bearer  {VALID}"),
    accepted("trailing-spaces", f"Bearer {VALID}   "),
    malformed("valid-then-garbage", f"Bearer {VALID}", "Bearer garbage", description=TWO_HEADERS),
    malformed("garbage-then-valid", "Bearer garbage", f"Bearer {VALID}", description=TWO_HEADERS),
    malformed("valid-twice", f"Bearer {VALID}", f"Bearer {VALID}", description=TWO_HEADERS),
    malformed("latin-1-byte", "Bearer \xe9"),
    malformed("latin-1-in-token", f"Bearer {VALID}\xe9"),
    malformed("comma-list", f"Bearer {VALID}, Bearer x"),
    malformed("two-tokens", f"Bearer {VALID} x"),
    malformed("scheme-only", "Bearer", description=NO_TOKEN),
    malformed("scheme-and-space", "Bearer ", description=NO_TOKEN),
    bare_challenge("basic", "Basic abc"),
    bare_challenge("token-without-scheme", VALID),
    # RFC 9110 11.4: only spaces separate the scheme from the credentials, so this is not
    # a Bearer credential at all.
    bare_challenge("tab-separator", f"Bearer\t{VALID}"),
    invalid("ten-kib-token", f"Bearer {LONG}"),
    invalid("not-a-jwt", "Bearer abc.def.ghi"),
    invalid("other-secret", f"Bearer {mint_token(secret=OTHER_SECRET)}"),
    invalid("expired", f"Bearer {EXPIRED_TOKEN}", description=EXPIRED),
    invalid("alg-none", f"Bearer {mint_token(secret='', algorithm='none')}"),
    # Read before the signature is checked, so anyone can send it.
    invalid("typ-list", f"Bearer {mint_token(headers={'typ': ['JWT']})}"),
]


@pytest.mark.parametrize("case", HEADER_CASES)
def test_authorization_header_on_protected_path(protected: str, case: HeaderCase) -> None:
    reply = exchange(protected, "GET /private HTTP/1.1", case.headers)

    assert reply.status == case.status
    if case.status == 200:
        assert reply.json()["user_id"] == case.user_id
        assert reply.header("WWW-Authenticate") is None
        return
    assert reply.header("WWW-Authenticate") == expected_challenge(case.error, case.description)
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {"detail": case.description or NO_CREDENTIALS["detail"]}
    for _, value in case.headers:
        token = value.partition(" ")[2].strip().encode("latin-1")
        assert len(token) < 8 or token not in reply.body


@pytest.mark.parametrize("case", HEADER_CASES)
def test_authorization_header_on_public_path(protected: str, case: HeaderCase) -> None:
    """On a public path a bad header is ignored, and a valid one still names the user."""
    reply = exchange(protected, "GET /health HTTP/1.1", case.headers)

    assert reply.status == 200
    assert reply.json()["user_id"] == case.user_id
    assert reply.header("WWW-Authenticate") is None


@pytest.mark.parametrize(
    ("value", "refused_by"),
    [
        pytest.param(f"Bearer {VALID}\x00", on_every_server("server"), id="nul"),
        # DEL is no field-vchar (RFC 9110 5.5); h11 (so uvicorn's h11 and hypercorn) passes
        # it on all the same, and the middleware refuses it.
        pytest.param(
            f"Bearer {VALID}\x7f",
            by_server(
                httptools="server", h11="middleware", hypercorn="middleware", granian="server"
            ),
            id="del",
        ),
        pytest.param(f"Bearer {VALID}\r", on_every_server("server"), id="bare-cr"),
    ],
)
def test_header_bytes_outside_field_values(
    protected: str, server: str, value: str, refused_by: dict[str, str]
) -> None:
    reply = exchange(protected, "GET /private HTTP/1.1", [("Authorization", value)])

    assert reply.status == 400
    if refused_by[server] == "server":
        assert reply.body == REFUSAL_BODY[server]
        assert reply.header("WWW-Authenticate") is None
    else:
        assert reply.json() == {"detail": MALFORMED}
