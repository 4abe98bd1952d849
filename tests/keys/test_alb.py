"""AWS ALB end to end: tokens minted as ALB mints them (padded segments, ES256, ``signer``
in the header), sent in ``x-amzn-oidc-data`` through the middleware, verified with keys
fetched one PEM per ``kid`` from a real HTTP server on loopback.

A token of our load balancer is let through; one naming another load balancer, or none, is
refused before any key is fetched; an unknown ``kid`` is refused, and a flood of them
costs a bounded number of fetches; a ``kid`` that could name another resource never
reaches the key host; the key host down answers 503 for a ``kid`` not held while held
keys keep working; and a new ``kid`` (AWS rotating its key) is picked up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings, TokenVerifier, jws
from jwt_middleware.keys.kid_urls import KidURLKeys
from tests.helpers import build_app
from tests.keypairs import EC_P256, public_pem
from tests.keys.alb import (
    ARN,
    HEADER,
    ISSUER,
    KID,
    KIDS_UNFIT_FOR_A_URL,
    NEXT_KEY,
    NEXT_KID,
    OTHER_ARN,
    alb_settings,
    alb_token,
    pem_of,
    random_kid,
)
from tests.keys.endpoint import Endpoint


def client_for(endpoint: Endpoint, **overrides: Any) -> TestClient:
    endpoint.pems = {KID: pem_of(EC_P256)}
    return TestClient(build_app(alb_settings(endpoint.key_url_template, **overrides)))


def sent(token: str) -> dict[str, str]:
    return {HEADER: token}


class Case(NamedTuple):
    token: Callable[[], str]
    status: int
    reason: str
    fetches: int  # requests that reached the key host


CASES = [
    pytest.param(Case(lambda: alb_token(), 200, "", 1), id="valid"),
    pytest.param(Case(lambda: alb_token(signer=OTHER_ARN), 401, "signer", 0), id="other-signer"),
    pytest.param(Case(lambda: alb_token(signer=None), 401, "signer", 0), id="no-signer"),
    pytest.param(Case(lambda: alb_token(signer=[OTHER_ARN]), 401, "signer", 0), id="signer-list"),
    pytest.param(Case(lambda: alb_token(kid=None), 401, "unknown_kid", 0), id="no-kid"),
    pytest.param(Case(lambda: alb_token(kid=random_kid()), 401, "unknown_kid", 1), id="unknown"),
    pytest.param(Case(lambda: alb_token(NEXT_KEY), 401, "bad_signature", 1), id="other-key"),
    pytest.param(Case(lambda: alb_token(lifetime=-600), 401, "expired", 1), id="expired"),
    pytest.param(
        Case(lambda: alb_token(iss="https://elsewhere.example"), 401, "issuer", 1), id="issuer"
    ),
    pytest.param(
        Case(lambda: alb_token(header={"alg": "RS256"}), 401, "algorithm", 0), id="alg-in-header"
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_a_token_as_alb_sends_it(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, case: Case
) -> None:
    caplog.set_level(logging.INFO, logger="jwt_middleware.refusals")
    token = case.token()
    with client_for(endpoint) as client:
        answer = client.get("/private", headers=sent(token))
    assert answer.status_code == case.status
    if case.status == 200:
        assert answer.json()["user_id"] == "alice"
    else:
        assert answer.headers["www-authenticate"].startswith("Bearer")
        lines = [r.getMessage() for r in caplog.records if r.name.endswith("refusals")]
        assert len(lines) == 1
        assert lines[0].split()[1] == f"reason={case.reason}"
        assert token not in answer.text
    assert len(endpoint.paths) == case.fetches


def test_our_token_is_not_good_for_another_load_balancer(endpoint: Endpoint) -> None:
    """The same token, checked by a service behind another ALB of the region: refused."""
    token = alb_token()
    with client_for(endpoint, alb_signer=OTHER_ARN) as client:
        assert client.get("/private", headers=sent(token)).status_code == 401
    with client_for(endpoint) as client:
        assert client.get("/private", headers=sent(token)).status_code == 200


def test_an_unknown_kid_is_fetched_once_and_a_flood_of_them_a_few_times(
    endpoint: Endpoint,
) -> None:
    unknown = alb_token(kid=random_kid())
    with client_for(endpoint) as client:
        for _ in range(20):
            assert client.get("/private", headers=sent(unknown)).status_code == 401
        assert len(endpoint.paths) == 1, "remembered as missing"
        for _ in range(60):
            flood = alb_token(kid=random_kid())
            assert client.get("/private", headers=sent(flood)).status_code == 401
        flood_fetches = len(endpoint.paths) - 1
        assert flood_fetches <= 10, "at most new_kids_per_minute in a burst"
        assert client.get("/private", headers=sent(alb_token())).status_code in (200, 401)


@pytest.mark.parametrize("kid", KIDS_UNFIT_FOR_A_URL)
def test_a_kid_that_could_name_another_resource_is_never_fetched(
    endpoint: Endpoint, kid: Any
) -> None:
    token = alb_token(kid=kid)
    with client_for(endpoint, max_token_bytes=65536) as client:
        answer = client.get("/private", headers=sent(token))
    assert answer.status_code == 401
    assert endpoint.paths == []


def test_the_key_host_down(endpoint: Endpoint, caplog: pytest.LogCaptureFixture) -> None:
    """A held key keeps working; a kid not held gets 503 with Retry-After (the token may be
    valid), and the log names the template, never the kid."""
    with client_for(endpoint) as client:
        assert client.get("/private", headers=sent(alb_token())).status_code == 200
        endpoint.stop()
        caplog.set_level(logging.WARNING, logger="jwt_middleware")
        assert client.get("/private", headers=sent(alb_token())).status_code == 200
        answer = client.get("/private", headers=sent(alb_token(NEXT_KEY, kid=NEXT_KID)))
    assert answer.status_code == 503
    assert "retry-after" in answer.headers
    text = " ".join(record.getMessage() for record in caplog.records)
    assert "key fetch from" in text
    assert "/keys/{kid}" in text
    assert NEXT_KID not in text


def test_a_new_kid_is_picked_up(endpoint: Endpoint) -> None:
    """AWS rotates by signing with a key under a new kid, published at its own URL."""
    with client_for(endpoint) as client:
        assert client.get("/private", headers=sent(alb_token())).status_code == 200
        endpoint.pems[NEXT_KID] = pem_of(NEXT_KEY)
        rotated = alb_token(NEXT_KEY, kid=NEXT_KID)
        assert client.get("/private", headers=sent(rotated)).json()["user_id"] == "alice"
        assert client.get("/private", headers=sent(alb_token())).status_code == 200
    assert len(endpoint.paths) == 2


def test_the_region_builds_albs_key_url() -> None:
    settings = JWTSettings(alb_region="eu-west-1", alb_signer=ARN, issuer=ISSUER)
    assert settings.algorithms == ("ES256",)
    (source,) = {policy.keys for policy in TokenVerifier(settings).policies}
    assert isinstance(source, KidURLKeys)
    assert source.url == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}"


def test_without_the_setting_no_header_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signer check costs other configurations nothing: their tokens' headers are read
    once, for ``alg``, ``kid`` and ``typ``, as before."""

    def never(*args: object) -> object:
        raise AssertionError("header read again")

    monkeypatch.setattr(jws, "header_member", never)
    settings = JWTSettings(algorithms=["ES256"], public_keys={KID: public_pem(EC_P256)})
    assert TokenVerifier(settings).verify(alb_token())["sub"] == "alice"
    with_signer = JWTSettings(
        **settings.model_dump(include={"algorithms", "public_keys"}), alb_signer=ARN
    )
    with pytest.raises(AssertionError, match="header read again"):
        TokenVerifier(with_signer).verify(alb_token())
