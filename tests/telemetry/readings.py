"""The OpenTelemetry SDK the telemetry tests read the library's instruments with.

The library reports through the API's global providers, which a process sets once: the
session fixture of ``conftest.py`` sets an SDK meter provider with an in-memory reader and
a tracer provider with an in-memory span exporter (:func:`install`), and the tests read
what their own requests added. Counters keep counting across tests, so a test compares two
readings (:func:`reading`, :func:`added`) and names an issuer or a key set of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    InMemoryMetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

#: A reading of one instrument: each attribute set (as sorted items) to its value (a
#: histogram's: the number of values recorded).
Reading = dict[tuple[tuple[str, Any], ...], float]


class ArmedSpanProcessor(SimpleSpanProcessor):
    """Hands spans to the exporter only while armed (while a telemetry test runs): the
    providers stay set for the rest of the session, and the tests after these must not
    find memory held by spans of theirs that no one reads."""

    armed = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.armed:
            super().on_end(span)


@dataclass(frozen=True)
class Recorded:
    """The SDK's in-memory reader and span exporter behind the global providers."""

    reader: InMemoryMetricReader
    spans: InMemorySpanExporter
    processor: ArmedSpanProcessor

    def reading(self, name: str) -> Reading:
        """What the instrument ``name`` holds now, by attribute set."""
        return reading(self.reader.get_metrics_data(), name)

    def finished_spans(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]


def install() -> Recorded:
    """Set SDK providers as the global ones, which the process may do once: fails if
    anything set one before (the library never does)."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.fail("a tracer provider was set before the telemetry tests set theirs")
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    processor = ArmedSpanProcessor(exporter)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    trace.set_tracer_provider(tracer_provider)
    # The library asks whether a tracer provider is set at most once a second (asking
    # costs more than a first sight's report): after one, every span is made.
    time.sleep(1.0)
    return Recorded(reader=reader, spans=exporter, processor=processor)


def reading(data: MetricsData | None, name: str) -> Reading:
    found: Reading = {}
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                points = metric.data
                for point in points.data_points:
                    key = tuple(sorted((point.attributes or {}).items()))
                    if isinstance(points, Histogram):
                        found[key] = point.count  # type: ignore[union-attr]
                    elif isinstance(points, Sum | Gauge):
                        found[key] = point.value  # type: ignore[union-attr]
    return found


def added(before: Reading, after: Reading) -> dict[tuple[tuple[str, Any], ...], float]:
    """What changed between two readings of a counter or histogram, by attribute set."""
    return {
        key: value - before.get(key, 0)
        for key, value in after.items()
        if value != before.get(key, 0)
    }


def attributes(**values: Any) -> tuple[tuple[str, Any], ...]:
    """An attribute set as :data:`Reading` keys it."""
    return tuple(sorted(values.items()))


def with_attribute(
    found: Mapping[tuple[tuple[str, Any], ...], float], name: str, value: Any
) -> dict[tuple[tuple[str, Any], ...], float]:
    """The entries of ``found`` whose attribute ``name`` is ``value``."""
    return {key: count for key, count in found.items() if (name, value) in key}


def unique_issuer() -> str:
    """An issuer no other test names, so that a test reads only its own counts."""
    return f"https://issuer-{uuid.uuid4().hex[:12]}.example/"
