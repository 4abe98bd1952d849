"""Tokens as an AWS Application Load Balancer writes its ``x-amzn-oidc-data``, and the
settings that verify them against PEM files served by ``kid`` from a loopback endpoint
(:class:`tests.keys.endpoint.Endpoint`).

ALB signs with ES256 and pads every segment with ``=``; its header carries ``kid`` (a
UUID), ``signer`` (the load balancer's ARN), ``iss`` (the IdP), ``client`` and ``exp``;
the payload is the user's claims from the IdP, with ``sub``, ``exp`` and ``iss``. Minted
with PyJWT's algorithm objects (:func:`tests.helpers.mint_padded_token`), not our code.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from jwt_middleware import JWTSettings
from tests.helpers import mint_padded_token
from tests.keypairs import EC_P256, public_pem

HEADER = "x-amzn-oidc-data"
ISSUER = "https://idp.example"
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders/50dc6c495c0c9188"
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:210987654321:loadbalancer/app/orders/8819c0c594c6cd05"
)
#: The kid of :data:`tests.keypairs.EC_P256` on the endpoint.
KID = "7d3c2e55-1f0a-4d8c-9a3e-2b1f6c0d9e41"
#: A second key, for a rotation.
NEXT_KEY = ec.generate_private_key(ec.SECP256R1())
NEXT_KID = "c0a8e9f2-6b7d-4e1a-8f3c-5d2e9b4a7c10"


#: ``kid`` values a token may carry that must never reach the key host: they could name
#: another resource, or are not ``kid`` values at all.
KIDS_UNFIT_FOR_A_URL = [
    pytest.param("../x", id="dot-dot-slash"),
    pytest.param("..", id="dot-dot"),
    pytest.param(".", id="dot-alone"),
    pytest.param("a.pem", id="dot"),
    pytest.param("%2e%2e", id="percent-encoded-dots"),
    pytest.param("%2f..%2fx", id="percent-encoded-slash"),
    pytest.param("a/b", id="slash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("a?b=c", id="query"),
    pytest.param("a#b", id="fragment"),
    pytest.param("a@b", id="at"),
    pytest.param("a:b", id="colon"),
    pytest.param("k" * 65, id="too-long"),
    pytest.param("k" * 5000, id="very-long"),
    pytest.param("cl\u00e9", id="non-ascii"),
    pytest.param("\uff4b\uff49\uff44", id="fullwidth"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a b", id="space"),
    pytest.param("a\r\nHost: evil", id="crlf"),
    pytest.param("", id="empty"),
    pytest.param(None, id="none"),
    pytest.param(7, id="number"),
    pytest.param(["a"], id="list"),
]


def alb_token(
    key: Any = EC_P256,
    *,
    kid: Any = KID,
    signer: Any = ARN,
    lifetime: int = 120,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token as ALB mints it; ``header`` changes its header (``None`` values drop one)."""
    exp = int(time.time()) + lifetime
    fields: dict[str, Any] = {
        "kid": kid,
        "signer": signer,
        "iss": ISSUER,
        "client": "orders-web",
        "exp": exp,
        **(header or {}),
    }
    payload = {"sub": "alice", "email": "alice@example.com", "exp": exp, "iss": ISSUER, **claims}
    return mint_padded_token(
        payload,
        key,
        algorithm="ES256",
        headers={name: value for name, value in fields.items() if value is not None},
    )


def random_kid() -> str:
    return str(uuid.uuid4())


def pem_of(key: Any) -> bytes:
    return public_pem(key).encode()


def alb_settings(key_url_template: str, **overrides: Any) -> JWTSettings:
    """What proxies.md recommends for ALB, with keys from ``key_url_template``."""
    values: dict[str, Any] = {
        "key_url_template": key_url_template,
        "alb_signer": ARN,
        "issuer": ISSUER,
        "token_header": HEADER,
        "jwks_timeout_seconds": 2,
        **overrides,
    }
    return JWTSettings(**values)
