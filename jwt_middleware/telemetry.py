"""Metrics and spans through the OpenTelemetry API: what an operator sees of authentication.

The library only ever uses the API (``opentelemetry-api``, the ``otel`` extra): the meter
and tracer it asks for belong to whatever providers the application set, and with none set
they are the API's no-ops. It never configures an SDK or an exporter; that is the app's
choice (``docs/observability.md`` lists every instrument and shows Prometheus).

This module is the only one that imports ``opentelemetry``, and only when a part that
reports is built (:func:`instruments`), never when the package is imported: without the
package, or with ``JWT_TELEMETRY=false``, the parts are built without instruments and pay
nothing at all. With the API and no SDK, a request pays one counter ``add`` on a no-op
instrument, and a first sight one look at a clock: it is neither timed nor made a span
until an SDK's provider is set (:meth:`Telemetry.reporting`).

What an attribute may hold, as for the refusal log (:mod:`.refusals`): an outcome is a
fixed word (``accepted`` or a :class:`~.refusals.Reason`), an issuer is named as configured
(a tenant by its template, :data:`UNKNOWN_ISSUER` when no one issuer can be named, never
the token's raw ``iss``), a key source by its URL without credentials or query. Never a
token, a claim value, a key or a secret.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, Protocol

from ._version import __version__
from .errors import AuthenticationError

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Span

    from .settings import JWTSettings
    from .settings.tenants import IssuerTemplate

__all__ = [
    "ACCEPTED",
    "INSTRUMENTATION_NAME",
    "UNKNOWN_ISSUER",
    "AuthOutcomes",
    "FirstSight",
    "IssuerLabels",
    "Telemetry",
    "instruments",
]

#: The name of the meter and the tracer (the instrumentation scope).
INSTRUMENTATION_NAME: Final = "jwt_middleware"
#: The outcome of an authenticated request; every other outcome is a refusal reason.
ACCEPTED: Final = "accepted"
#: The issuer of a refusal no one configured issuer can be named for (a malformed token,
#: an issuer we do not accept), and of tokens accepted where ``iss`` is not checked.
UNKNOWN_ISSUER: Final = "unknown"

#: Bucket boundaries for verification times, in seconds: from 10 us (an HMAC token) to
#: seconds (a first sight that waited for its issuer's keys).
_DURATION_BUCKETS: Final = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
#: How often, at most, the API is asked whether an SDK's providers were set.
_RECHECK_NS: Final = 1_000_000_000
_NEVER: Final = 2**63
#: Attribute sets remembered per outcome counter (outcome, issuer): reasons times issuers,
#: bounded in case an app resolves very many tenants.
_MAX_REMEMBERED: Final = 1024


class KeySetHealth(Protocol):
    """What the key-source gauges read of a key set (:class:`~.keys.jwks.JWKSKeys`)."""

    @property
    def source(self) -> str:
        """The URL, without credentials or query (as logged)."""
        ...

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the last successful fetch, or ``None`` before the first."""
        ...

    @property
    def key_count(self) -> int:
        """The keys held."""
        ...


class ViewHealth(Protocol):
    """What the revocation gauge reads of a store's local view."""

    def staleness_seconds(self) -> float | None:
        """Seconds since the view was last proved current, or ``None`` before that."""
        ...


class CacheCounts(Protocol):
    """What the cache counter reads of a verified-token cache."""

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...


class Telemetry:
    """The instruments, made once per process from the API's global meter and tracer (a
    provider the app sets later is picked up by the API's proxies), and the parts the
    observable instruments read, held weakly so that reporting keeps nothing alive."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__)
        self.tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__)
        self._tracer_provider = trace.get_tracer_provider
        self._meter_provider = metrics.get_meter_provider
        self._observation = metrics.Observation
        self._metering = self._tracing = False
        #: When :meth:`reporting` next asks the API (``time.perf_counter_ns()``).
        self.recheck_ns = 0
        self.outcomes = meter.create_counter(
            "jwt_middleware.auth.outcomes",
            unit="{request}",
            description="Requests authenticated or refused, by outcome and issuer.",
        )
        self.duration = meter.create_histogram(
            "jwt_middleware.verification.duration",
            unit="s",
            description="Time to verify a token not in the verified-token cache.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.fetches = meter.create_counter(
            "jwt_middleware.keys.fetches",
            unit="{fetch}",
            description="Fetches of key sets and issuer metadata, by outcome.",
        )
        self.key_sets: weakref.WeakSet[KeySetHealth] = weakref.WeakSet()
        self._caches: weakref.WeakSet[CacheCounts] = weakref.WeakSet()
        #: What each live cache counted when last observed, by ``id``; and the sum of what
        #: the caches that are gone counted then, so that the lookups counter never goes
        #: down when a cache is collected (a middleware rebuilt, an ``explain`` run).
        self._seen: dict[int, tuple[int, int]] = {}
        self._gone = (0, 0)
        self.views: weakref.WeakKeyDictionary[ViewHealth, str] = weakref.WeakKeyDictionary()
        observed = [
            (meter.create_observable_gauge, "keys.age", self._key_ages, "s",
             "Seconds since a key set was last fetched successfully."),
            (meter.create_observable_gauge, "keys.held", self._keys_held, "{key}",
             "Usable keys held from a key set."),
            (meter.create_observable_counter, "verified_cache.lookups", self._cache_lookups,
             "{lookup}", "Lookups in the verified-token cache, hits and misses."),
            (meter.create_observable_gauge, "revocation.view.staleness", self._view_staleness,
             "s", "Seconds since the revocation view was last proved current."),
        ]  # fmt: skip
        for create, name, callback, unit, description in observed:
            create(
                f"{INSTRUMENTATION_NAME}.{name}",
                callbacks=[callback],
                unit=unit,
                description=description,
            )

    def tracing(self, now_ns: int) -> bool:
        """Whether a tracer provider of an SDK is set, at ``time.perf_counter_ns()``
        ``now_ns``: without one, no span is built at all (the API's no-op span still costs
        its arguments' processing)."""
        if now_ns >= self.recheck_ns:
            self._recheck(now_ns)
        return self._tracing

    def reporting(self, now_ns: int) -> bool:
        """Whether a meter or a tracer provider of an SDK is set: without either, a first
        sight is not even timed, so that a flood of forged tokens pays next to nothing
        for reports no one reads."""
        if now_ns >= self.recheck_ns:
            self._recheck(now_ns)
        return self._metering or self._tracing

    def _recheck(self, now_ns: int) -> None:
        """Ask the API which providers are set. It costs more than a first sight's whole
        report, so it is asked once per :data:`_RECHECK_NS` until both are (which is for
        good): a provider set after the middleware was built is used within a second. A
        provider the API defines itself (its proxy, its no-op) is no SDK's."""
        self._metering = self._metering or not _from_api(self._meter_provider())
        self._tracing = self._tracing or not _from_api(self._tracer_provider())
        done = self._metering and self._tracing
        self.recheck_ns = now_ns + _RECHECK_NS if not done else _NEVER

    # --- what the observable instruments read ------------------------------------------------

    def _key_ages(self, options: CallbackOptions) -> Iterator[Observation]:
        freshest: dict[str, float] = {}
        for key_set in list(self.key_sets):
            age = key_set.age_seconds
            if age is not None and age < freshest.get(key_set.source, float("inf")):
                freshest[key_set.source] = age
        for source, age in freshest.items():
            yield self._observation(age, {"source": source})

    def _keys_held(self, options: CallbackOptions) -> Iterator[Observation]:
        held: dict[str, int] = {}
        for key_set in list(self.key_sets):
            held[key_set.source] = max(held.get(key_set.source, 0), key_set.key_count)
        for source, count in held.items():
            yield self._observation(count, {"source": source})

    def add_cache(self, cache: CacheCounts) -> None:
        """Count ``cache``'s lookups in the ``verified_cache.lookups`` counter, for as long
        as it lives and, as it last counted them when observed, after."""
        if cache not in self._caches:
            self._caches.add(cache)
            weakref.finalize(cache, self._cache_gone, id(cache))

    def _cache_gone(self, key: int) -> None:
        hits, misses = self._seen.pop(key, (0, 0))
        self._gone = (self._gone[0] + hits, self._gone[1] + misses)

    def _cache_lookups(self, options: CallbackOptions) -> Iterator[Observation]:
        hits, misses = self._gone
        for cache in list(self._caches):
            seen = self._seen[id(cache)] = (cache.hits, cache.misses)
            hits += seen[0]
            misses += seen[1]
        yield self._observation(hits, {"result": "hit"})
        yield self._observation(misses, {"result": "miss"})

    def _view_staleness(self, options: CallbackOptions) -> Iterator[Observation]:
        least: dict[str, float] = {}
        for view, prefix in list(self.views.items()):
            staleness = view.staleness_seconds()
            if staleness is not None and staleness < least.get(prefix, float("inf")):
                least[prefix] = staleness
        for prefix, staleness in least.items():
            yield self._observation(staleness, {"key_prefix": prefix})

    # --- key fetches ----------------------------------------------------------------------------

    @contextmanager
    def key_fetch(self, document: str, source: str) -> Iterator[Callable[[str], None]]:
        """Around one fetch of a key set (``document="jwks"``) or of issuer metadata
        (``"metadata"``) from ``source``: a span, current while it runs (so a child of the
        span that needed the keys, when there is one), and the fetch counter. Yields the
        function to call with the outcome word once it is known."""
        span = (
            self.tracer.start_span(
                "jwt_middleware.keys.fetch",
                attributes={
                    "jwt_middleware.key_source": source,
                    "jwt_middleware.document": document,
                },
            )
            if self.tracing(time.perf_counter_ns())
            else None
        )
        attributes = {"source": source, "document": document}

        def outcome(word: str) -> None:
            self.fetches.add(1, {**attributes, "outcome": word})
            if span is not None:
                span.set_attribute("jwt_middleware.outcome", word)
                if word != "success":
                    _set_error(span, word)

        if span is None:
            yield outcome
            return
        from opentelemetry import trace

        # Ended however the fetch ends (cancelled at shutdown too), and never with an
        # exception's text: the fetch logs and counts its own failures.
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            yield outcome


def _from_api(provider: object) -> bool:
    """Whether ``provider`` is one the API defines (``opentelemetry.metrics`` or
    ``opentelemetry.trace``: a proxy while none is set, or a no-op), not an SDK's."""
    return type(provider).__module__.split(".")[:2] in (
        ["opentelemetry", "metrics"],
        ["opentelemetry", "trace"],
    )


def _set_error(span: Span, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))


_instruments: Telemetry | None = None
_unavailable = False


def instruments() -> Telemetry | None:
    """The process's :class:`Telemetry`, made on first call; ``None`` when
    ``opentelemetry`` cannot be imported (the ``otel`` extra is not installed)."""
    global _instruments, _unavailable
    if _instruments is None and not _unavailable:
        try:
            _instruments = Telemetry()
        except ImportError:
            _unavailable = True
    return _instruments


class IssuerLabels:
    """How the metrics name the issuer of a verified token: a listed issuer as configured,
    a template's tenant by its template, a resolved tenant by the issuer the app's resolver
    returned, :data:`UNKNOWN_ISSUER` where ``iss`` is not checked. The same names as the
    refusal log's."""

    __slots__ = ("_listed", "_templates")

    def __init__(
        self, issuers: Iterable[str | None], templates: Sequence[IssuerTemplate] = ()
    ) -> None:
        self._listed: dict[str | None, str] = {None: UNKNOWN_ISSUER}
        self._listed.update((issuer, issuer) for issuer in issuers if issuer is not None)
        self._templates = tuple(templates)

    @classmethod
    def from_settings(
        cls, settings: JWTSettings, issuers: Iterable[str | None] | None = None
    ) -> IssuerLabels:
        """The names for the issuers of ``settings`` (or ``issuers``) and its templates."""
        if issuers is None:
            issuers = (issuer.issuer for issuer in settings.issuer_settings)
        return cls(issuers, [template for template, _ in settings.issuer_templates])

    def of(self, issuer: str | None) -> str:
        label = self._listed.get(issuer)
        if label is not None:
            return label
        assert issuer is not None
        for template in self._templates:
            if template.segment_of(issuer) is not None:
                return template.text
        return issuer  # a resolver's answer: configuration, if the app's


class AuthOutcomes:
    """The ``jwt_middleware.auth.outcomes`` counter as one middleware adds to it: the
    attribute sets made once and remembered, so a reused token costs one ``add``."""

    __slots__ = ("_add", "_labels", "_sets")

    def __init__(self, telemetry: Telemetry, labels: IssuerLabels) -> None:
        self._add = telemetry.outcomes.add
        self._labels = labels
        self._sets: dict[tuple[str, str | None], Mapping[str, str]] = {}

    def accepted(self, issuer: str | None) -> None:
        """Count a request whose token was accepted (``issuer``: the verified token's)."""
        attributes = self._sets.get((ACCEPTED, issuer))
        if attributes is None:
            attributes = self._remember(ACCEPTED, issuer, self._labels.of(issuer))
        self._add(1, attributes)

    def refused(self, error: AuthenticationError, issuer: str | None = None) -> None:
        """Count a refusal by its reason; ``issuer`` is the verified token's, for a token
        refused after its verification (scopes, revocation), else the error's is used."""
        label = self._labels.of(issuer) if issuer is not None else error.issuer
        attributes = self._sets.get((error.reason, label))
        if attributes is None:
            attributes = self._remember(error.reason, label, label or UNKNOWN_ISSUER)
        self._add(1, attributes)

    def _remember(self, outcome: str, key: str | None, label: str) -> Mapping[str, str]:
        attributes = {"outcome": outcome, "issuer": label}
        if len(self._sets) < _MAX_REMEMBERED:
            self._sets[(outcome, key)] = attributes
        return attributes


class FirstSight:
    """The verification of a token not in the cache, timed into the histogram and, when a
    tracer provider is set, a span that starts when it started: one per token verified
    or refused, none for an attempt that found its keys had to be fetched first."""

    __slots__ = ("_labels", "_record", "_sets", "_telemetry", "due_ns")

    def __init__(self, telemetry: Telemetry, labels: IssuerLabels) -> None:
        self._telemetry = telemetry
        self._record = telemetry.duration.record
        self._labels = labels
        self._sets: dict[tuple[str, str], Mapping[str, str]] = {}
        #: The ``time.perf_counter_ns()`` before which a first sight is not reported and
        #: :meth:`reporting` need not be asked; ``0`` while reporting. An attribute the
        #: verifier compares with its clock, not a call: with the API and no SDK, a flood of
        #: forged tokens pays one comparison a token for a report no one reads.
        self.due_ns = 0

    def reporting(self, now_ns: int) -> bool:
        """Whether to time a first sight at ``time.perf_counter_ns()`` ``now_ns``
        (:meth:`Telemetry.reporting`); when not, :attr:`due_ns` says until when not to
        ask again."""
        telemetry = self._telemetry
        if telemetry.reporting(now_ns):
            self.due_ns = 0
            return True
        self.due_ns = telemetry.recheck_ns
        return False

    def done(self, started_ns: int, outcome: str, issuer: str) -> None:
        """A verification that began at ``time.perf_counter_ns()`` ``started_ns`` ended now
        with ``outcome`` (``accepted`` or a reason), for the issuer named ``issuer``."""
        now = time.perf_counter_ns()
        elapsed = now - started_ns
        attributes = self._sets.get((outcome, issuer))
        if attributes is None:
            attributes = {"outcome": outcome, "issuer": issuer}
            if len(self._sets) < _MAX_REMEMBERED:
                self._sets[(outcome, issuer)] = attributes
        self._record(elapsed / 1e9, attributes)
        telemetry = self._telemetry
        if telemetry.tracing(now):
            end = time.time_ns()
            span = telemetry.tracer.start_span(
                "jwt_middleware.verify",
                start_time=end - elapsed,
                attributes={"jwt_middleware.outcome": outcome, "jwt_middleware.issuer": issuer},
            )
            if outcome != ACCEPTED:
                _set_error(span, outcome)
            span.end(end_time=end)

    def accepted(self, started_ns: int, issuer: str | None) -> None:
        self.done(started_ns, ACCEPTED, self._labels.of(issuer))

    def refused(self, started_ns: int, error: AuthenticationError) -> None:
        self.done(started_ns, error.reason, error.issuer or UNKNOWN_ISSUER)
