"""What ``make fleet`` runs and prints: a run's settings, each instance's report and the
fleet's, and the tables (:mod:`bench.fleet` fills the reports)."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from bench.zipf import ZipfPopulation, steady_first_sight_share

__all__ = [
    "REDIS_URL",
    "FleetConfig",
    "FleetReport",
    "InstanceReport",
    "format_paper",
    "format_report",
]

REDIS_URL: Final = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class FleetConfig:
    """One run: ``instances`` instances serving ``requests`` requests in turn."""

    instances: int
    users: int = 100_000
    zipf_exponent: float = 1.1
    requests: int = 30_000
    #: The share of requests after which their user logs out.
    logout_rate: float = 0.001
    #: Revocations through instance 0 whose propagation is timed.
    propagation_samples: int = 9
    seed: int = 19
    redis_url: str = REDIS_URL

    def __post_init__(self) -> None:
        if self.instances < 1 or self.requests < self.instances:
            raise ValueError("a fleet needs at least one instance and a request for each")
        if not 0 <= self.logout_rate <= 1:
            raise ValueError("logout_rate is a share of requests, within [0, 1]")


@dataclass
class InstanceReport:
    """What one instance saw and holds at the end of a run."""

    name: str
    requests: int = 0
    first_sights: int = 0
    #: Time spent serving the requests whose token the cache did not hold (first sights)
    #: and those it did, in ns.
    first_sight_ns: int = 0
    reused_ns: int = 0
    logouts: int = 0
    metadata_fetches: int = 0
    key_set_fetches: int = 0
    #: Seconds from a logout on instance 0 to this instance's first refusal, per sample.
    propagation_seconds: list[float] = field(default_factory=list)
    #: Samples this instance still accepted after the give-up time.
    propagation_lost: int = 0
    view_entries: int = 0
    view_bytes: int = 0
    cache_entries: int = 0
    cache_bytes: int = 0
    expected_share: float = math.nan

    @property
    def first_sight_share(self) -> float:
        return self.first_sights / self.requests if self.requests else 0.0


@dataclass
class FleetReport:
    """One run: each instance's report, what the provider counted, and what was checked."""

    config: FleetConfig
    instances: list[InstanceReport]
    #: What the provider itself counted: discovery documents and key sets served.
    provider_metadata_requests: int
    provider_key_set_requests: int
    #: Answers during the traffic other than 200 (or 204 for a logout): none expected.
    unexpected_answers: int
    #: Revoked tokens (the timed ones and every logout's) refused as revoked by every
    #: instance at the end, out of how many were asked about.
    revoked_refused_everywhere: int
    revoked_checked: int
    seconds: float
    #: The run's Redis key prefix (its keys are deleted at the end).
    key_prefix: str

    @property
    def requests(self) -> int:
        return sum(instance.requests for instance in self.instances)

    @property
    def first_sight_share(self) -> float:
        return sum(instance.first_sights for instance in self.instances) / self.requests

    @property
    def propagation_seconds(self) -> list[float]:
        return [s for instance in self.instances for s in instance.propagation_seconds]

    def mean_request_us(self, *, first_sight: bool) -> float:
        """The mean time of a request, in us: of the first sights, or of the others."""
        count = sum(
            i.first_sights if first_sight else i.requests - i.first_sights for i in self.instances
        )
        spent = sum(i.first_sight_ns if first_sight else i.reused_ns for i in self.instances)
        return spent / count / 1000 if count else math.nan

    @property
    def first_sight_cpu_share(self) -> float:
        """The share of request time spent on first sights beyond what the same requests
        would have cost with their token in the cache."""
        total = sum(i.first_sight_ns + i.reused_ns for i in self.instances)
        reused = sum(i.requests - i.first_sights for i in self.instances)
        if not total or not reused:
            return math.nan
        per_reused = sum(i.reused_ns for i in self.instances) / reused
        extra = sum(i.first_sight_ns - i.first_sights * per_reused for i in self.instances)
        return max(0.0, extra) / total


# The table ---------------------------------------------------------------------------------

_COLUMNS: Final = (
    ("", 11),
    ("requests", 9),
    ("first sight", 12),
    ("share", 6),
    ("on paper", 9),
    ("key fetches", 12),
    ("propagation p50/max", 20),
    ("view entries", 13),
    ("view KiB", 9),
    ("cache entries", 14),
    ("cache MiB", 10),
)


def _row(cells: Sequence[str]) -> str:
    first, *rest = cells
    return (
        first.ljust(_COLUMNS[0][1])
        + "".join(cell.rjust(width) for cell, (_, width) in zip(rest, _COLUMNS[1:], strict=True))
    ).rstrip()


def _milliseconds(samples: Sequence[float], lost: int) -> str:
    if lost:
        return f"{lost} lost"
    if not samples:
        return "-"
    return f"{statistics.median(samples) * 1000:.1f} / {max(samples) * 1000:.1f} ms"


def format_report(report: FleetReport) -> str:
    """The table of one run, a line per instance and the totals, then what it checked."""
    config = report.config
    lines = [
        f"{config.instances} instance{'s' if config.instances > 1 else ''}: "
        f"{report.requests:,} requests in turn, {config.users:,} users (Zipf s="
        f"{config.zipf_exponent:g}), a logout after {config.logout_rate:.1%} of requests",
        _row([name for name, _ in _COLUMNS]),
    ]
    for i in report.instances:
        propagation = "(the logouts)" if i is report.instances[0] else None
        lines.append(
            _row(
                [
                    i.name,
                    f"{i.requests:,}",
                    f"{i.first_sights:,}",
                    f"{i.first_sight_share:.3f}",
                    f"{i.expected_share:.3f}",
                    f"{i.metadata_fetches} + {i.key_set_fetches}",
                    propagation or _milliseconds(i.propagation_seconds, i.propagation_lost),
                    f"{i.view_entries:,}",
                    f"{i.view_bytes / 1024:.1f}",
                    f"{i.cache_entries:,}",
                    f"{i.cache_bytes / 1024**2:.2f}",
                ]
            )
        )
    instances = report.instances
    lost = sum(i.propagation_lost for i in instances)
    lines.append(
        _row(
            [
                "total",
                f"{report.requests:,}",
                f"{sum(i.first_sights for i in instances):,}",
                f"{report.first_sight_share:.3f}",
                "",
                f"{sum(i.metadata_fetches for i in instances)} + "
                f"{sum(i.key_set_fetches for i in instances)}",
                _milliseconds(report.propagation_seconds, lost)
                if len(instances) > 1
                else "(no other)",
                f"{sum(i.view_entries for i in instances):,}",
                f"{sum(i.view_bytes for i in instances) / 1024:.1f}",
                f"{sum(i.cache_entries for i in instances):,}",
                f"{sum(i.cache_bytes for i in instances) / 1024**2:.2f}",
            ]
        )
    )
    lines += [
        f"  the provider served {report.provider_metadata_requests} metadata and "
        f"{report.provider_key_set_requests} key-set requests; "
        f"{sum(i.logouts for i in instances)} logouts in the traffic; "
        f"answers other than 200/204: {report.unexpected_answers}",
        f"  revoked tokens refused as revoked by every instance at the end: "
        f"{report.revoked_refused_everywhere} of {report.revoked_checked}; {report.seconds:.1f} s",
        f"  a request took {report.mean_request_us(first_sight=False):.0f} us with its token "
        f"cached, {report.mean_request_us(first_sight=True):.0f} us on first sight: first "
        f"sights took {report.first_sight_cpu_share:.1%} of request time beyond a cached "
        f"token's cost",
    ]
    return "\n".join(lines)


def format_paper(
    *,
    instances: int,
    users: int,
    exponent: float,
    rates: Sequence[int],
    max_entries: int,
    ttl_seconds: float,
) -> str:
    """The first-sight share of a fleet too large to simulate, once it has run for a while:
    each instance serves ``rate`` requests/s of independent Zipf draws
    (:func:`~bench.zipf.steady_first_sight_share`)."""
    population = ZipfPopulation(users, exponent)
    lines = [
        f"on paper: {instances} instances, {users:,} users (Zipf s={exponent:g}), a cache of "
        f"{max_entries:,} entries and {ttl_seconds:g} s on each, after the first minute"
    ]
    for rate in rates:
        share = steady_first_sight_share(
            population, requests_per_ttl=rate * ttl_seconds, max_entries=max_entries
        )
        lines.append(
            f"  {rate:,} requests/s per instance ({rate * instances:,}/s in all): "
            f"first-sight share {share:.3f}, {share * rate:,.0f} verifications/s per instance"
        )
    return "\n".join(lines)
