"""``make fleet``'s simulation, run small: two instances on the real Redis and one provider.

The run is deterministic in its traffic (a fixed seed), so what it reports is held exactly
where it can be (requests per instance, the views' entries) and by its meaning elsewhere
(propagation under a second, every revoked token refused by every instance).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
import redis

from bench.fleet import simulate
from bench.fleet_report import FleetConfig, FleetReport, InstanceReport, format_report
from bench.zipf import ZipfPopulation
from jwt_middleware.testing import FakeIssuer
from tests.services import REDIS_URL

CONFIG = FleetConfig(
    instances=2,
    users=1_000,
    zipf_exponent=1.1,
    requests=400,
    logout_rate=0.02,
    propagation_samples=3,
    seed=5,
    redis_url=REDIS_URL,
)
#: Under load on a shared machine a pub/sub message takes milliseconds; a second is the
#: limit the issue sets for "refused everywhere".
PROPAGATION_LIMIT_SECONDS = 1.0


@pytest.fixture(scope="module")
def report(sync_redis: redis.Redis) -> Iterator[FleetReport]:
    """One small run (``sync_redis`` makes a missing Redis fail in CI, skip elsewhere)."""
    population = ZipfPopulation(CONFIG.users, CONFIG.zipf_exponent)
    with FakeIssuer() as issuer:
        yield asyncio.run(simulate(CONFIG, issuer=issuer, population=population))


def test_requests_go_to_the_instances_in_turn(report: FleetReport) -> None:
    assert [i.requests for i in report.instances] == [200, 200]
    assert report.unexpected_answers == 0


def test_every_instance_fetched_the_keys_and_the_provider_counted_each_fetch(
    report: FleetReport,
) -> None:
    assert all(i.metadata_fetches >= 1 and i.key_set_fetches >= 1 for i in report.instances)
    assert sum(i.metadata_fetches for i in report.instances) == report.provider_metadata_requests
    assert sum(i.key_set_fetches for i in report.instances) == report.provider_key_set_requests


SHARES: list[tuple[str, Callable[[FleetReport], float]]] = [
    ("instance 0", lambda report: report.instances[0].first_sight_share),
    ("instance 1", lambda report: report.instances[1].first_sight_share),
    ("fleet", lambda report: report.first_sight_share),
    ("on paper", lambda report: report.instances[0].expected_share),
    ("CPU of first sights", lambda report: report.first_sight_cpu_share),
]


@pytest.mark.parametrize("share", [share for _, share in SHARES], ids=[id for id, _ in SHARES])
def test_shares_are_shares(report: FleetReport, share: Callable[[FleetReport], float]) -> None:
    assert 0 <= share(report) <= 1


def test_first_sights_are_the_distinct_tokens_an_instance_saw(report: FleetReport) -> None:
    """400 requests of 1,000 users: a few hundred distinct, far from the 4,096 entries, so
    nothing is evicted and every first sight stays in the cache, beside the probe tokens."""
    for instance in report.instances:
        assert 0 < instance.first_sights < instance.requests
        assert instance.cache_entries == instance.first_sights + CONFIG.propagation_samples
        assert instance.cache_bytes > instance.cache_entries * 500  # an RS256 token and more


def test_the_simulation_and_the_paper_agree(report: FleetReport) -> None:
    for instance in report.instances:
        assert instance.first_sight_share == pytest.approx(instance.expected_share, abs=0.08)


def test_a_revocation_through_instance_0_reaches_the_other_within_a_second(
    report: FleetReport,
) -> None:
    first, other = report.instances
    assert first.propagation_seconds == []
    assert len(other.propagation_seconds) == CONFIG.propagation_samples
    assert other.propagation_lost == 0
    assert max(other.propagation_seconds) < PROPAGATION_LIMIT_SECONDS


def test_every_revoked_token_is_refused_by_every_instance(report: FleetReport) -> None:
    logouts = sum(i.logouts for i in report.instances)
    assert logouts > 0
    assert report.revoked_checked == logouts + CONFIG.propagation_samples
    assert report.revoked_refused_everywhere == report.revoked_checked


def test_every_view_holds_every_revocation_of_the_fleet(report: FleetReport) -> None:
    revocations = sum(i.logouts for i in report.instances) + CONFIG.propagation_samples
    for instance in report.instances:
        assert instance.view_entries == revocations
        # a 32-character jti and a float each, and the dict
        assert instance.view_bytes > revocations * 100


def test_the_run_leaves_no_key_in_redis(report: FleetReport, sync_redis: redis.Redis) -> None:
    assert report.key_prefix.startswith("jwt-fleet:")
    assert list(sync_redis.scan_iter(match=f"{report.key_prefix}*")) == []


def test_the_table_has_a_line_per_instance_and_the_totals(report: FleetReport) -> None:
    lines = format_report(report).splitlines()
    names = [line.split("  ")[0] for line in lines[2:5]]
    assert names == ["instance 0", "instance 1", "total"]
    assert "refused as revoked by every instance at the end: " in format_report(report)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"instances": 0}, "at least one instance"),
        ({"instances": 3, "requests": 2}, "at least one instance"),
        ({"logout_rate": 1.5}, "within [0, 1]"),
    ],
    ids=["no instance", "fewer requests than instances", "logout rate above 1"],
)
def test_a_run_that_cannot_be_made_is_refused(changes: dict[str, float], problem: str) -> None:
    values: dict[str, object] = {"instances": 1, **changes}
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        FleetConfig(**values)  # type: ignore[arg-type]


def test_an_instance_without_requests_has_a_share_of_zero() -> None:
    assert InstanceReport("idle").first_sight_share == 0.0
