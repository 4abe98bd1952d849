"""Whatever a JWKS endpoint answers (hypothesis), only trusted public keys of the pinned
algorithms come out, and nothing raises.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.keys.jwks import JWKSKeys
from jwt_middleware.types import BoundKey
from tests.helpers import FakeClock
from tests.keypairs import EC_P256, ED25519, RSA
from tests.keys.endpoint import header, jwk_of, public_jwk, resolve

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
TEMPLATES = [
    public_jwk(RSA, "a"),
    public_jwk(EC_P256, "e"),
    public_jwk(ED25519, "d"),
    jwk_of(EC_P256, "p"),
    {"kty": "oct", "k": "c2VjcmV0"},
]


@st.composite
def jwk_like(draw: st.DrawFn) -> Any:
    """A real JWK with a few members replaced or added by arbitrary JSON."""
    member = dict(draw(st.sampled_from(TEMPLATES)))
    names = st.sampled_from(["kty", "kid", "alg", "use", "key_ops", "n", "e", "crv", "x", "y", "d"])
    for name in draw(st.lists(names, max_size=3)):
        member[name] = draw(JSON | st.sampled_from(["RSA", "EC", "OKP", "oct", "RS256", "ES256"]))
    return member


DOCUMENTS = (
    st.builds(lambda keys: {"keys": keys}, st.lists(jwk_like() | JSON, max_size=4))
    | JSON
    | st.binary(max_size=64)
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS, kid=st.sampled_from(["a", "e", "d", "p", None]))
def test_any_response_yields_only_trusted_public_keys_or_none_at_all(
    document: Any, kid: str | None
) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))

    async def main() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            keys = JWKSKeys(
                "https://idp.example/jwks.json",
                algorithms=["RS256", "ES256", "EdDSA"],
                client=client,
                clock=FakeClock(1000.0),
            )
            for alg in ("RS256", "ES256", "EdDSA"):
                try:
                    offered = await resolve(keys, header(kid, alg))
                except KeysUnavailableError:  # nothing usable in it: "try again", no key
                    assert not keys.has_keys
                    continue
                for found in offered:
                    assert isinstance(found, BoundKey)
                    assert found.algorithm == alg
                    assert isinstance(
                        found.key,
                        rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
                    )
            await keys.aclose()

    asyncio.run(main())
