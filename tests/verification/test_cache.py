"""The verified-token cache: only good tokens, bounded, expiring, never shared mutably."""

from __future__ import annotations

import math
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import InvalidTokenError, JWTSettings, TokenVerifier
from jwt_middleware.types import MAX_CLAIM_DEPTH, VerifiedToken, freeze
from jwt_middleware.verification.cache import VerifiedTokenCache
from tests.helpers import (
    OTHER_SECRET,
    SECRET,
    FakeClock,
    bearer,
    build_app,
    held_and_estimated,
    mint_token,
)


def _verified(sub: str = "u", **claims: object) -> VerifiedToken:
    return VerifiedToken(
        claims=freeze({"sub": sub, **claims}),
        subject=sub,
        scopes=(),
        issuer=None,
        expires_at=math.inf,
    )


@pytest.mark.parametrize(
    ("expires_in", "ttl", "advance", "hit"),
    [
        pytest.param(3600, 60, 59, True, id="within-ttl"),
        pytest.param(3600, 60, 60, False, id="ttl-reached"),
        pytest.param(10, 60, 9, True, id="before-the-token-stops-verifying"),
        pytest.param(10, 60, 10, False, id="the-token-stops-verifying-before-ttl"),
    ],
)
def test_entries_live_until_ttl_or_the_token_stops_verifying(
    expires_in: int, ttl: float, advance: float, hit: bool
) -> None:
    clock = FakeClock(1_000_000.0)
    cache = VerifiedTokenCache(max_entries=10, ttl_seconds=ttl, clock=clock)
    cache.put("t", _verified(), expires_at=clock.now + expires_in)
    clock.now += advance
    assert (cache.get("t") is not None) is hit
    if not hit:
        assert len(cache) == 0


def test_least_recently_used_leave_first() -> None:
    cache = VerifiedTokenCache(max_entries=2, ttl_seconds=60, clock=FakeClock(1_000_000.0))
    for token in ("a", "b"):
        cache.put(token, _verified(token), expires_at=2e9)
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", _verified("c"), expires_at=2e9)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_hits_hand_out_the_cached_read_only_claims() -> None:
    cache = VerifiedTokenCache(max_entries=2, ttl_seconds=60, clock=FakeClock(1_000_000.0))
    cache.put("t", _verified(scp=["read"]), expires_at=2e9)
    first = cache.get("t")
    assert first is not None
    with pytest.raises(TypeError):
        first.claims["scp"].append("admin")
    second = cache.get("t")
    assert second is not None
    assert second.claims == {"sub": "u", "scp": ["read"]}


@pytest.mark.parametrize(
    ("size", "ttl"), [pytest.param(0, 60, id="zero-size"), pytest.param(1, 0, id="zero-ttl")]
)
def test_bad_bounds_are_refused(size: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        VerifiedTokenCache(max_entries=size, ttl_seconds=ttl)


def test_verifier_remembers_only_tokens_that_passed(settings: JWTSettings) -> None:
    verifier = TokenVerifier(settings)
    good, bad = mint_token("g"), mint_token("b", secret=OTHER_SECRET)
    assert verifier.verify(good)["sub"] == "g"
    for _ in range(3):
        with pytest.raises(Exception, match="invalid"):
            verifier.verify(bad)
    assert verifier._cache is not None
    assert len(verifier._cache) == 1
    assert verifier.verify(good)["sub"] == "g"


def test_cache_can_be_turned_off() -> None:
    verifier = TokenVerifier(JWTSettings(secret=SECRET, verified_cache_size=0))
    assert verifier._cache is None
    assert verifier.verify(mint_token("x"))["sub"] == "x"
    one_off = TokenVerifier(JWTSettings(secret=SECRET), cache_verified=False)
    assert one_off._cache is None
    assert one_off.verify(mint_token("y"))["sub"] == "y"


def test_cached_requests_still_ask_the_revocation_hook(settings: JWTSettings) -> None:
    revoked: set[str] = set()

    async def is_revoked(claims: dict[str, object]) -> bool:
        return claims["jti"] in revoked

    client = TestClient(build_app(settings, is_revoked=is_revoked))
    headers = bearer(mint_token("c", jti="j1"))
    assert client.get("/private", headers=headers).status_code == 200
    revoked.add("j1")
    assert client.get("/private", headers=headers).status_code == 401


def _groups(count: int, template: str = "group-{:04d}-of-the-organisation") -> list[str]:
    return [template.format(i) for i in range(count)]


#: Claim shapes whose Python objects weigh differently per byte of JSON.
SHAPES: dict[str, dict[str, Any]] = {
    "flat": {"email": "someone@example.com", "name": "Some One", "tid": "tenant-1"},
    "many-groups": {"groups": _groups(300)},
    "many-tiny-ints": {f"c{i}": i for i in range(400)},
    "nested-objects": {"resource_access": {f"app-{i}": {"roles": ["a", "b"]} for i in range(80)}},
    "one-long-string": {"note": "x" * 6000},
    "astral-characters": {"note": "x" * 3000 + "\U0001f600"},
    "escaped-non-ascii": {"names": ["\u00e9l\u00e8ve-" + str(i) for i in range(300)]},
}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_the_size_estimate_errs_high(shape: dict[str, Any]) -> None:
    """What the cache counts is never less than the memory it really holds."""
    held, estimated = held_and_estimated([mint_token(f"user-{i}", **shape) for i in range(40)])
    assert held <= estimated


def _nested(depth: int) -> dict[str, Any]:
    claim: dict[str, Any] = {"leaf": "x"}
    for _ in range(depth):
        claim = {"a": claim}
    return {"deep": claim}


#: Claims whose estimate must be close to what they hold, not merely above it: the shapes
#: whose estimate used to be twice too high (flat, large) or too low (deeply nested).
CLOSE_SHAPES: dict[str, dict[str, Any]] = {
    "flat-2kb": {f"claim_{i:03d}": f"value-{i:05d}-abcdefgh" for i in range(60)},
    # As deep as a token may nest (deeper is refused: MAX_CLAIM_DEPTH).
    "nested-to-the-limit": _nested(MAX_CLAIM_DEPTH - 2),
    "large-9kb": {"groups": _groups(190)},
}


@pytest.mark.parametrize("shape", list(CLOSE_SHAPES.values()), ids=list(CLOSE_SHAPES))
def test_the_size_estimate_is_within_a_quarter_of_what_is_held(shape: dict[str, Any]) -> None:
    held, estimated = held_and_estimated([mint_token(f"user-{i}", **shape) for i in range(100)])
    assert abs(estimated - held) <= held / 4, (estimated, held)


def test_the_cache_holds_no_more_bytes_than_its_bound() -> None:
    bound = 256 * 1024
    verifier = TokenVerifier(
        JWTSettings(secret=SECRET, max_token_bytes=16384, verified_cache_bytes=bound)
    )
    tokens = [mint_token(f"user-{i}", groups=_groups(200)) for i in range(60)]
    for token in tokens:
        assert verifier.verify(token)["sub"].startswith("user-")
    cache = verifier._cache
    assert cache is not None
    assert 0 < cache.size_bytes <= bound
    assert 0 < len(cache) < len(tokens)  # the bytes bound, not the entries, decided
    # The most recent tokens are the ones kept.
    assert cache.get(tokens[-1]) is not None
    assert cache.get(tokens[0]) is None


def test_an_entry_larger_than_the_bound_is_not_kept() -> None:
    cache = VerifiedTokenCache(max_entries=10, ttl_seconds=60, max_bytes=1000)
    cache.put("small", _verified("small"), expires_at=2e9, size=400)
    cache.put("huge", _verified("huge"), expires_at=2e9, size=1001)
    assert cache.get("huge") is None
    assert cache.get("small") is not None
    assert cache.size_bytes == 400


def test_putting_a_token_again_counts_it_once() -> None:
    cache = VerifiedTokenCache(max_entries=10, ttl_seconds=60, max_bytes=1000)
    for _ in range(3):
        cache.put("t", _verified(), expires_at=2e9, size=300)
    assert (len(cache), cache.size_bytes) == (1, 300)
    cache.clear()
    assert (len(cache), cache.size_bytes) == (0, 0)


def test_expired_entries_give_their_bytes_back() -> None:
    clock = FakeClock(1_000_000.0)
    cache = VerifiedTokenCache(max_entries=10, ttl_seconds=60, max_bytes=1000, clock=clock)
    cache.put("t", _verified(), expires_at=clock.now + 10, size=300)
    clock.now += 11
    assert cache.get("t") is None
    assert cache.size_bytes == 0


@pytest.mark.parametrize(
    "other",
    [
        pytest.param("h.q.sig", id="other-payload"),
        pytest.param("x.p.sig", id="other-header"),
        pytest.param("h.p.sig=", id="padded"),
        pytest.param("sig", id="signature-alone"),
        pytest.param(".sig", id="empty-rest"),
    ],
)
def test_only_the_very_token_hits_not_one_with_its_signature(other: str) -> None:
    """Entries are found by their signature segment; a hit is still the whole token."""
    cache = VerifiedTokenCache(max_entries=10, ttl_seconds=60, clock=FakeClock(1_000_000.0))
    cache.put("h.p.sig", _verified("a"), expires_at=2e9)
    assert cache.get(other) is None
    assert cache.get("h.p.sig") is not None
    assert len(cache) == 1


def test_a_forged_token_with_a_cached_signature_is_refused(settings: JWTSettings) -> None:
    verifier = TokenVerifier(settings)
    good = mint_token("alice")
    assert verifier.verify(good)["sub"] == "alice"
    header, _, signature = good.split(".")
    _, payload, _ = mint_token("mallory").split(".")
    with pytest.raises(InvalidTokenError):
        verifier.verify(f"{header}.{payload}.{signature}")
    assert verifier.verify(good)["sub"] == "alice"
