"""The ALB settings: ``JWT_ALB_REGION`` or ``JWT_KEY_URL_TEMPLATE`` is the one place keys
come from, serves ES256 only and needs ``JWT_ALB_SIGNER``; every mistake stops start-up
with a message naming the variable and never the value; and a middleware so misconfigured
fails closed.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from jwt_middleware import (
    ConfigurationError,
    InvalidTokenError,
    JWTAuthMiddleware,
    JWTSettings,
    TokenVerifier,
)
from jwt_middleware.refusals import Reason
from tests.helpers import SECRET
from tests.keypairs import EC_P256, public_pem
from tests.keys.alb import ARN, ISSUER, OTHER_ARN, alb_token

TEMPLATE = "https://keys.example/{kid}"
US_ARN = ARN.replace("eu-west-1", "us-east-1")

#: settings, the variables the message must name.
MISTAKES = [
    pytest.param({"alb_region": "eu-west-1"}, ("JWT_ALB_REGION", "JWT_ALB_SIGNER"), id="no-signer"),
    pytest.param(
        {"key_url_template": TEMPLATE}, ("JWT_KEY_URL_TEMPLATE", "JWT_ALB_SIGNER"), id="template"
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "key_url_template": TEMPLATE, "alb_signer": ARN},
        ("JWT_ALB_REGION", "JWT_KEY_URL_TEMPLATE"),
        id="both",
    ),
    pytest.param({"alb_region": "eu_west_1", "alb_signer": ARN}, ("JWT_ALB_REGION",), id="region"),
    pytest.param(
        {"alb_region": "us-gov-west-1", "alb_signer": ARN},
        ("JWT_ALB_REGION", "JWT_KEY_URL_TEMPLATE"),
        id="govcloud",
    ),
    pytest.param(
        {"alb_region": "cn-north-1", "alb_signer": ARN},
        ("JWT_ALB_REGION", "JWT_KEY_URL_TEMPLATE"),
        id="china",
    ),
    pytest.param(
        {"alb_region": "us-east-1", "alb_signer": ARN}, ("JWT_ALB_SIGNER",), id="other-region"
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": "arn:aws:iam::123456789012:role/x"},
        ("JWT_ALB_SIGNER",),
        id="not-an-alb",
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": ARN.replace("/app/", "/net/")},
        ("JWT_ALB_SIGNER",),
        id="network-load-balancer",
    ),
    pytest.param({"alb_region": "eu-west-1", "alb_signer": "[]"}, ("JWT_ALB_SIGNER",), id="empty"),
    pytest.param(
        {"key_url_template": "http://keys.example/{kid}", "alb_signer": ARN},
        ("JWT_KEY_URL_TEMPLATE",),
        id="plain-http",
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": ARN, "algorithms": ["RS256"]},
        ("JWT_ALB_REGION", "JWT_ALGORITHMS"),
        id="rs256",
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": ARN, "algorithms": ["ES256", "RS256"]},
        ("JWT_ALB_REGION", "JWT_ALGORITHMS"),
        id="es256-and-more",
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": ARN, "secret": SECRET},
        ("JWT_ALB_REGION", "JWT_SECRET"),
        id="secret",
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": ARN, "public_key": public_pem(EC_P256)},
        ("JWT_ALB_REGION", "JWT_PUBLIC_KEY"),
        id="public-key",
    ),
    pytest.param(
        {"alb_region": "eu-west-1", "alb_signer": ARN, "jwks_url": "https://idp.example/jwks"},
        ("JWT_ALB_REGION", "JWT_JWKS_URL"),
        id="jwks-url",
    ),
    pytest.param(
        {
            "alb_region": "eu-west-1",
            "alb_signer": ARN,
            "issuer": [{"issuer": ISSUER, "jwks_url": "https://idp.example/jwks"}],
        },
        ("JWT_ALB_REGION", "jwks_url in JWT_ISSUER"),
        id="issuer-jwks-url",
    ),
]


@pytest.mark.parametrize(("values", "names"), MISTAKES)
def test_a_mistake_stops_start_up_naming_the_variables(
    values: dict[str, Any], names: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        JWTSettings(**values)
    message = str(refused.value)
    for name in names:
        assert name in message
    for value in values.values():
        if isinstance(value, str) and len(value) > 12:
            assert value not in message


def test_the_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALB_REGION", "eu-west-1")
    monkeypatch.setenv("JWT_ALB_SIGNER", f'["{ARN}", "{OTHER_ARN}"]')
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    monkeypatch.setenv("JWT_TOKEN_HEADER", "x-amzn-oidc-data")
    settings = JWTSettings()
    assert settings.alb_signers == (ARN, OTHER_ARN)
    assert settings.algorithms == ("ES256",)
    assert settings.discovered_issuers == (), "the keys are ALB's, not the IdP's"
    assert settings.key_url is not None
    assert settings.key_url.url("k-1") == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/k-1"


def test_a_signer_alone_checks_tokens_of_pinned_keys() -> None:
    """JWT_ALB_SIGNER needs no ALB key source: with ALB's PEMs pinned, it still applies."""
    settings = JWTSettings(
        algorithms=["ES256"], public_keys={"k": public_pem(EC_P256)}, alb_signer=US_ARN
    )
    assert settings.alb_signers == (US_ARN,)
    verifier = TokenVerifier(settings)
    assert verifier.verify(alb_token(kid="k", signer=US_ARN))["sub"] == "alice"
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify(alb_token(kid="k"))
    assert refused.value.reason is Reason.SIGNER
    assert (
        JWTSettings(algorithms=["ES256"], public_keys={"k": public_pem(EC_P256)}).alb_signers == ()
    )


def test_a_middleware_without_a_signer_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from the environment, the mistake selects the fail-closed app, whose start-up
    fails with the message."""
    monkeypatch.setenv("JWT_ALB_REGION", "eu-west-1")
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    app = Starlette()
    app.add_middleware(JWTAuthMiddleware)
    with pytest.raises(ConfigurationError, match="JWT_ALB_SIGNER"), TestClient(app):
        pass
