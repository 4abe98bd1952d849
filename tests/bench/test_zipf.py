"""The fleet on paper (``bench/zipf.py``) against exact replays of the same traffic through
an LRU and TTL cache, and the revocation view's memory estimate against ``tracemalloc``."""

from __future__ import annotations

import random
import time
import tracemalloc
import uuid
from collections import OrderedDict
from collections.abc import Sequence

import pytest

from bench.fleet import view_bytes
from bench.zipf import ZipfPopulation, first_sight_share, steady_first_sight_share
from jwt_middleware.revocation.view import RevocationView

POPULATION = ZipfPopulation(20_000, 1.1)


def replay(draws: Sequence[int], *, max_entries: int, ttl: float, count_from: int = 0) -> float:
    """The share of ``draws`` (from ``count_from`` on) that miss a cache of ``max_entries``
    least recently used entries, each ending ``ttl`` requests after it was put, as
    :class:`~jwt_middleware.verification.cache.VerifiedTokenCache` does."""
    cache: OrderedDict[int, float] = OrderedDict()
    misses = 0
    for number, user in enumerate(draws):
        ends = cache.get(user)
        if ends is not None and number < ends:
            cache.move_to_end(user)
            continue
        cache.pop(user, None)
        misses += number >= count_from
        cache[user] = number + ttl
        if len(cache) > max_entries:
            cache.popitem(last=False)
    return misses / (len(draws) - count_from)


@pytest.mark.parametrize(
    ("requests", "max_entries"),
    [(2_000, 4_096), (20_000, 4_096), (20_000, 500)],
    ids=["cache never full", "cache full late", "cache full early"],
)
def test_first_sights_of_a_run_on_paper(requests: int, max_entries: int) -> None:
    draws = POPULATION.draw(random.Random(3), requests)
    exact = replay(draws, max_entries=max_entries, ttl=float("inf"))
    paper = first_sight_share(POPULATION, requests=requests, max_entries=max_entries)
    assert paper == pytest.approx(exact, rel=0.08)


@pytest.mark.parametrize(
    ("requests_per_ttl", "max_entries"),
    [(2_000, 4_096), (20_000, 4_096), (20_000, 1_000)],
    ids=["ttl binds", "both bind", "entry bound binds"],
)
def test_first_sights_in_the_long_run_on_paper(requests_per_ttl: int, max_entries: int) -> None:
    """Counted after a warm-up of ten cache lifetimes, as a fleet that has run a while."""
    warm_up = 10 * requests_per_ttl
    draws = POPULATION.draw(random.Random(4), warm_up + 60_000)
    exact = replay(draws, max_entries=max_entries, ttl=requests_per_ttl, count_from=warm_up)
    paper = steady_first_sight_share(
        POPULATION, requests_per_ttl=requests_per_ttl, max_entries=max_entries
    )
    # A lower bound by construction, close when one of the two bounds dominates.
    assert exact * 0.85 <= paper <= exact * 1.02


def test_draws_follow_the_shares() -> None:
    draws = POPULATION.draw(random.Random(5), 50_000)
    top_share = POPULATION.groups[0][0]
    assert draws.count(0) / len(draws) == pytest.approx(top_share, rel=0.1)
    assert sum(count for _, count in POPULATION.groups) == POPULATION.users
    assert sum(share * count for share, count in POPULATION.groups) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("users", "exponent"), [(0, 1.1), (10, 0.0)], ids=["no user", "flat exponent"]
)
def test_a_population_that_means_nothing_is_refused(users: int, exponent: float) -> None:
    with pytest.raises(ValueError, match="at least one user"):
        ZipfPopulation(users, exponent)


def test_the_view_memory_estimate_is_what_tracemalloc_measures() -> None:
    deadline = int(time.time()) + 900
    messages = [
        {"type": "message", "data": f"{deadline + n % 100} {uuid.uuid4().hex}".encode()}
        for n in range(20_000)
    ]
    view = RevocationView()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for message in messages:
            view.apply(message)
        measured = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(view) == len(messages)
    assert view_bytes(view) == pytest.approx(measured, rel=0.1)
