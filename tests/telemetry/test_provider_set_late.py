"""With the API and no SDK, first sights are not timed; an SDK's meter provider set after
the middleware was built is used within a second, and until the API's answer is due again
a first sight does not ask it. In a fresh interpreter, since a process sets its provider
once."""

from __future__ import annotations

import pytest

from tests.processes import run_python

#: The imports and the count of timed first sights, shared by the scenarios.
PREAMBLE = """
import time
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.testclient import TestClient
from jwt_middleware import JWTSettings, TokenVerifier
from jwt_middleware.telemetry import instruments
from tests.helpers import SECRET, bearer, build_app, mint_token

def timed(reader):
    data = reader.get_metrics_data()
    if data is None:
        return 0
    return sum(
        point.count
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "jwt_middleware.verification.duration"
        for point in metric.data.data_points
    )
"""

WITHIN_A_SECOND = """
app = build_app(JWTSettings(secret=SECRET))
with TestClient(app) as client:
    assert client.get("/private", headers=bearer(mint_token(jti="1"))).status_code == 200
    assert not instruments().reporting(time.perf_counter_ns())
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    time.sleep(1.05)
    assert client.get("/private", headers=bearer(mint_token(jti="2"))).status_code == 200
    assert timed(reader) == 1, timed(reader)
print("ok")
"""

ONLY_WHEN_DUE = """
verifier = TokenVerifier(JWTSettings(secret=SECRET))
first_sight = verifier._first_sight
assert first_sight is not None and first_sight.due_ns == 0
before = time.perf_counter_ns()
verifier.verify(mint_token(jti="1"))
assert first_sight.due_ns > before  # no SDK, and the API is not asked again until then
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
verifier.verify(mint_token(jti="2"))
assert timed(reader) == 0, "asked the API before its answer was due"
while time.perf_counter_ns() < first_sight.due_ns:
    time.sleep(0.05)
verifier.verify(mint_token(jti="3"))
assert timed(reader) == 1, timed(reader)
assert first_sight.due_ns == 0  # reporting: every first sight is timed from now on
print("ok")
"""


@pytest.mark.parametrize(
    "scenario",
    [WITHIN_A_SECOND, ONLY_WHEN_DUE],
    ids=["middleware-within-a-second", "verifier-asks-only-when-due"],
)
def test_a_meter_provider_set_after_the_middleware_is_used(scenario: str) -> None:
    result = run_python(PREAMBLE + scenario)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
