"""A Zipf-distributed user population, and what a fleet's verified-token caches make of it
on paper.

User ``k`` (1-based rank) sends a share ``k**-s / H`` of all requests, ``H`` the sum of
``k**-s`` over the population: a few users send most requests, most users send a few.
:mod:`bench.fleet` draws its traffic from :meth:`ZipfPopulation.draw`; the functions below
are the same population on paper, so that the simulation checks the arithmetic that
``docs/deploying.md`` then applies to a fleet too large to simulate.

The cache on paper is the library's: least recently used entries leave first once
``max_entries`` are held, and an entry ends ``ttl`` after it was put, however often it
is hit (:mod:`jwt_middleware.verification.cache`). Requests are independent draws
(no sessions, no bursts), and the byte bound is taken not to bind (tokens of a few hundred
bytes are far from 32 MiB at 4,096 entries). For LRU, Che's approximation: an entry stays
while its user sent a request within the last ``T`` requests, where ``T`` (the
*characteristic time*) is what makes the expected entries held equal ``max_entries``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ZipfPopulation", "first_sight_share", "steady_first_sight_share"]

#: Ranks up to this one are kept one by one on paper; beyond it, in groups whose shares
#: differ by less than 0.2 %, which keeps a sum over a million users to a few thousand terms.
_EXACT_RANKS: Final = 2_000
_GROUP_RATIO: Final = 1.002


@dataclass(frozen=True)
class ZipfPopulation:
    """``users`` users, the one of rank ``k`` sending a share proportional to ``k**-exponent``."""

    users: int
    exponent: float
    _cumulative: list[float] = field(init=False, repr=False, compare=False)
    #: (share of each user in the group, users in the group), rank order.
    groups: list[tuple[float, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.users < 1 or not (math.isfinite(self.exponent) and self.exponent > 0):
            raise ValueError("a population needs at least one user and a positive exponent")
        weights = [rank**-self.exponent for rank in range(1, self.users + 1)]
        cumulative = list(itertools.accumulate(weights))
        total = cumulative[-1]
        groups: list[tuple[float, int]] = []
        start = 0
        while start < self.users:
            end = start + 1 if start < _EXACT_RANKS else max(start + 1, int(start * _GROUP_RATIO))
            end = min(end, self.users)
            weight = cumulative[end - 1] - (cumulative[start - 1] if start else 0.0)
            groups.append((weight / total / (end - start), end - start))
            start = end
        object.__setattr__(self, "_cumulative", cumulative)
        object.__setattr__(self, "groups", groups)

    def draw(self, rng: random.Random, count: int) -> list[int]:
        """``count`` users (0-based ranks), each drawn independently by its share."""
        return rng.choices(range(self.users), cum_weights=self._cumulative, k=count)

    def total(self, term: Callable[[float], float]) -> float:
        """The sum of ``term(share)`` over every user."""
        return sum(count * term(share) for share, count in self.groups)


def _held(share: float, requests: float) -> float:
    """The chance that a user of ``share`` sent at least one of ``requests`` requests."""
    return -math.expm1(requests * math.log1p(-share)) if share < 1 else 1.0


def _characteristic_time(
    population: ZipfPopulation, max_entries: int, occupancy: Callable[[float, float], float]
) -> float:
    """The ``T`` (in requests) at which the expected entries held, ``sum(occupancy(share,
    T))``, are ``max_entries``; ``inf`` when even an endless ``T`` holds no more."""

    def held(time: float) -> float:
        return population.total(lambda share: occupancy(share, time))

    if held(math.inf) <= max_entries:
        return math.inf
    low, high = 1.0, 1.0
    while held(high) < max_entries:
        low, high = high, high * 2
    for _ in range(60):
        middle = math.sqrt(low * high)
        if held(middle) < max_entries:
            low = middle
        else:
            high = middle
    return high


def first_sight_share(population: ZipfPopulation, *, requests: int, max_entries: int) -> float:
    """The share of ``requests`` (one instance's, its cache empty at the first) that find
    their token not in a cache of ``max_entries`` entries and verify it: what
    :mod:`bench.fleet` measures, on paper.

    A user's first request is always a first sight. Nothing is evicted before the cache
    first fills, after ``T`` requests (as many as hold ``max_entries`` users); from then on
    a later request of a user is a first sight when that user sent nothing within the last
    ``T`` requests. The run is taken as shorter than the cache's ``ttl``, as the
    simulation's is.
    """
    capacity_time = _characteristic_time(
        population, max_entries, lambda share, time: _held(share, min(time, requests))
    )

    def misses(share: float) -> float:
        first = _held(share, requests)
        if math.isinf(capacity_time):
            return first
        later = (requests - capacity_time) * share - (first - _held(share, capacity_time))
        return first + later * math.exp(capacity_time * math.log1p(-share))

    return population.total(misses) / requests


def steady_first_sight_share(
    population: ZipfPopulation, *, requests_per_ttl: float, max_entries: int
) -> float:
    """The share of requests that verify their token, on one instance that has run for a
    long time and serves ``requests_per_ttl`` requests within one cache ``ttl``.

    The ``ttl`` alone: a first sight puts an entry that answers every request of that user
    for ``ttl``, so a user of share ``p`` misses once per ``ttl + 1/(p * rate)`` seconds,
    a share ``1 / (1 + p * requests_per_ttl)`` of its requests. The entry bound alone: a
    share ``(1 - p) ** T`` (Che). Each miss either would cause is a miss, so a user misses at
    least the larger of the two: the figure is a lower bound, close when one of the two
    dominates. Tokens renewed before they expire add one first sight per token lifetime and
    user, not counted here.
    """

    def by_ttl(share: float) -> float:
        return 1 / (1 + share * requests_per_ttl)

    def held(share: float, time: float) -> float:
        return min(_held(share, time), 1 - by_ttl(share))

    capacity_time = _characteristic_time(population, max_entries, held)

    def misses(share: float) -> float:
        evicted = 0.0 if math.isinf(capacity_time) else math.exp(capacity_time * math.log1p(-share))
        return share * max(by_ttl(share), evicted)

    return population.total(misses)
