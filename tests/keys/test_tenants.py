"""Tenants whose metadata and keys are fetched from a real multi-tenant provider on
loopback (tests/keys/tenant_server.py): each tenant's fetched once, a flood of unknown
issuers held to the configured number of new tenants, an evicted tenant's key set
released. Tokens are signed with PyJWT directly."""

from __future__ import annotations

import asyncio

import pytest

from jwt_middleware import AuthenticationError, JWTSettings, TokenVerifier
from jwt_middleware.errors import KeysUnavailableError, TenantLimitError
from jwt_middleware.refusals import Reason
from tests.keypairs import RSA, RSA_ATTACKER, RSA_OTHER
from tests.keys.tenant_server import TenantProvider, tenant_provider


def _verifier(provider: TenantProvider, **settings: object) -> TokenVerifier:
    return TokenVerifier(JWTSettings(issuer=provider.template, algorithms=["RS256"], **settings))


#: The token (by tenant, and the tenant its tid claim names) and the reason (None: accepted).
TWO_TENANT_CASES = [
    pytest.param("t1", "t1", None, id="first-tenant"),
    pytest.param("t2", "t2", None, id="second-tenant"),
    pytest.param("t1", "t2", Reason.TENANT_MISMATCH, id="tid-of-another"),
]


@pytest.mark.parametrize(("tenant", "claimed", "reason"), TWO_TENANT_CASES)
def test_two_tenants_each_fetched_once(tenant: str, claimed: str, reason: Reason | None) -> None:
    asyncio.run(_two_tenants(tenant, claimed, reason))


async def _two_tenants(tenant: str, claimed: str, reason: Reason | None) -> None:
    with tenant_provider() as provider:
        provider.keys.update(t1=RSA, t2=RSA_OTHER)
        verifier = _verifier(provider)
        try:
            for other in ("t1", "t2"):  # both tenants known, three tokens each
                for _ in range(3):
                    claims = await verifier.verify_async(provider.token(other))
                    assert claims["tid"] == other
            token = provider.token(tenant, claimed_tid=claimed)
            if reason is None:
                assert (await verifier.verify_async(token))["iss"] == provider.issuer(tenant)
            else:
                with pytest.raises(AuthenticationError) as refused:
                    await verifier.verify_async(token)
                assert refused.value.reason is reason
            assert provider.metadata == {"t1": 1, "t2": 1}
            assert provider.requests["/t1/keys"] == provider.requests["/t2/keys"] == 1
        finally:
            await verifier.aclose()


def test_a_token_signed_by_another_tenant_is_refused() -> None:
    asyncio.run(_a_token_signed_by_another_tenant_is_refused())


async def _a_token_signed_by_another_tenant_is_refused() -> None:
    with tenant_provider() as provider:
        provider.keys.update(t1=RSA, t2=RSA_OTHER)
        verifier = _verifier(provider)
        try:
            await verifier.verify_async(provider.token("t2"))
            provider.keys["t2"] = RSA_ATTACKER  # its tokens now signed by a key t2 never had
            with pytest.raises(AuthenticationError) as refused:
                await verifier.verify_async(provider.token("t2"))
            assert refused.value.reason in {Reason.BAD_SIGNATURE, Reason.UNKNOWN_KID}
        finally:
            await verifier.aclose()


NEW_PER_MINUTE = 5


def test_a_flood_of_unknown_issuers_fetches_at_most_the_limit() -> None:
    asyncio.run(_a_flood_of_unknown_issuers_fetches_at_most_the_limit())


async def _a_flood_of_unknown_issuers_fetches_at_most_the_limit() -> None:
    with tenant_provider() as provider:
        provider.keys["t1"] = RSA
        verifier = _verifier(provider, new_tenants_per_minute=NEW_PER_MINUTE, max_tenants=10)
        try:
            await verifier.verify_async(provider.token("t1"))  # proven before the flood
            provider.keys.update({f"x{i}": RSA_ATTACKER for i in range(1000)})
            flood = [provider.token(f"x{i}") for i in range(1000)]
            for tid in list(provider.keys)[1:]:
                del provider.keys[tid]  # the flood's tenants do not exist at the provider
            statuses = []
            for token in flood:
                with pytest.raises(KeysUnavailableError) as refused:
                    await verifier.verify_async(token)
                statuses.append(type(refused.value))
            # The first tenants of the flood were admitted (the metadata of each tried,
            # in vain: 503), the rest limited (503 too): no 401 for a token that may be good.
            assert statuses.count(TenantLimitError) == 1000 - (NEW_PER_MINUTE - 1)
            fetched = set(provider.metadata) - {"t1"}
            assert len(fetched) == NEW_PER_MINUTE - 1
            assert sum(provider.metadata.values()) <= 1 + 2 * (NEW_PER_MINUTE - 1)
            # The proven tenant still verifies, without a fetch.
            before = sum(provider.requests.values()) + sum(provider.metadata.values())
            assert (await verifier.verify_async(provider.token("t1")))["tid"] == "t1"
            assert sum(provider.requests.values()) + sum(provider.metadata.values()) == before
            tenants = verifier.tenants
            assert tenants is not None
            assert tenants.proven == (provider.issuer("t1"),)
        finally:
            await verifier.aclose()


def test_an_evicted_tenants_key_set_is_released() -> None:
    asyncio.run(_an_evicted_tenants_key_set_is_released())


async def _an_evicted_tenants_key_set_is_released() -> None:
    with tenant_provider() as provider:
        provider.keys.update(t1=RSA, t2=RSA_OTHER)
        verifier = _verifier(provider, max_tenants=1)
        try:
            await verifier.verify_async(provider.token("t1"))
            await verifier.verify_async(provider.token("t2"))  # t1 is forgotten
            tenants = verifier.tenants
            assert tenants is not None
            assert tenants.proven == (provider.issuer("t2"),)
            pool = verifier._issuers.factory.pool if verifier._issuers.factory else None
            assert pool is not None
            for _ in range(100):  # released in the background
                if len(pool) == 1:
                    break
                await asyncio.sleep(0.01)
            assert len(pool) == 1
            await verifier.verify_async(provider.token("t1"))  # back: fetched again
            assert provider.metadata["t1"] == 2
        finally:
            await verifier.aclose()
