"""``make bench``'s DPoP row: its floor is a floor, not a shortcut, and the section runs.

A floor that skipped a check a DPoP verifier must make would be cheaper than any correct
verifier, and the row's ratio would flatter nothing but the floor. So the floor is held
to refuse what RFC 9449 section 4.3 refuses (each check, one case each), and to take a
proof once; and the section is run small, so that its own checks (each case accepts a
proof once and refuses its replay) keep passing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import ec

from bench.compare import DPOP_BASE_URL, SECTIONS, dpop_proofs, hs256
from bench.floors import Refused, dpop_floor
from tests.dpop.proofs import PyJWTKey, thumbprint, token_hash

URL = DPOP_BASE_URL + "/items"
WINDOW_SECONDS = 60


def _proof(key: PyJWTKey, token: str, **changes: Any) -> str:
    """A proof for ``GET`` :data:`URL` with ``token``; ``changes`` replace its claims, or its
    header (``header=``) or the key that signs it (``signer=``)."""
    claims: dict[str, Any] = {
        "jti": "the-one-jti",
        "htm": "GET",
        "htu": URL,
        "iat": int(time.time()),
        "ath": token_hash(token),
    }
    header: dict[str, Any] = changes.pop("header", {"typ": "dpop+jwt", "jwk": key.jwk})
    signer = changes.pop("signer", key.private)
    return jwt.encode({**claims, **changes}, signer, "ES256", headers=header)


def _other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


#: Each proof a DPoP verifier must refuse: what is changed in an otherwise good proof.
REFUSED: list[Any] = [
    pytest.param(lambda key: {"htm": "POST"}, id="another-method"),
    pytest.param(lambda key: {"htu": DPOP_BASE_URL + "/orders"}, id="another-url"),
    pytest.param(lambda key: {"iat": int(time.time()) - WINDOW_SECONDS - 5}, id="too-old"),
    pytest.param(lambda key: {"iat": int(time.time()) + 5}, id="in-the-future"),
    pytest.param(lambda key: {"ath": token_hash("another-token")}, id="another-token"),
    pytest.param(lambda key: {"signer": _other_key()}, id="bad-signature"),
    pytest.param(lambda key: {"header": {"typ": "JWT", "jwk": key.jwk}}, id="wrong-typ"),
    pytest.param(lambda key: {"header": {"typ": "dpop+jwt"}}, id="no-jwk"),
    pytest.param(
        lambda key: {"header": {"typ": "dpop+jwt", "jwk": key.private_jwk}}, id="private-jwk"
    ),
]


@pytest.mark.parametrize("change", REFUSED)
def test_the_floor_refuses_what_a_dpop_verifier_must(
    change: Callable[[PyJWTKey], dict[str, Any]],
) -> None:
    key = PyJWTKey()
    token = hs256(cnf={"jkt": key.jkt})
    check = dpop_floor(window_seconds=WINDOW_SECONDS)
    with pytest.raises(Refused):
        check(_proof(key, token, **change(key)), "GET", URL, token, key.jkt)


def test_the_floor_takes_a_proof_once_and_only_for_its_key() -> None:
    key = PyJWTKey()
    token = hs256(cnf={"jkt": key.jkt})
    check = dpop_floor(window_seconds=WINDOW_SECONDS)
    with pytest.raises(Refused):
        check(_proof(key, token), "GET", URL, token, PyJWTKey().jkt)  # bound to another key
    check(_proof(key, token), "GET", URL, token, key.jkt)
    with pytest.raises(Refused):
        check(_proof(key, token), "GET", URL, token, key.jkt)  # the same jti again


def test_the_bench_proofs_pass_the_floor_each_once() -> None:
    private = _other_key()
    jkt = thumbprint(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True))
    token = hs256(cnf={"jkt": jkt})
    check = dpop_floor(window_seconds=WINDOW_SECONDS)
    proofs = dpop_proofs(token, private, 3)
    assert len(set(proofs)) == 3
    for proof in proofs:
        check(proof, "GET", URL, token, jkt)


def test_the_section_runs_small(sync_redis: redis.Redis) -> None:
    """Its own checks pass, and it gives four rows, each a ratio of two positive figures,
    the last two with the replay check through the real Redis, beside the floor without
    and with one round trip to it: the 1.3x goal on each but the one beside a floor that
    no fleet-wide check could reach (``sync_redis`` makes a missing Redis fail in CI, skip
    elsewhere)."""
    loop = asyncio.new_event_loop()
    try:
        rows = SECTIONS["dpop"](loop, 30, 1)
    finally:
        loop.close()
    assert [row.case for row in rows] == [
        "proof + cached token, DPoPAuthenticator",
        "reused token + fresh proof, JWTAuthMiddleware",
        "the same, replay refused fleet-wide (Redis)",
        "the same, beside a floor with the round trip",
    ]
    for row in rows:
        assert (row.ours or 0) > 0
        assert (row.reference or 0) > 0
    assert [row.goal for row in rows] == [1.3, 1.3, None, 1.3]
