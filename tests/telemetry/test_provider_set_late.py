"""With the API and no SDK, first sights are not timed; an SDK's meter provider set after
the middleware was built is used within a second. In a fresh interpreter, since a process
sets its provider once."""

from __future__ import annotations

from tests.processes import run_python

SCENARIO = """
import time
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.testclient import TestClient
from jwt_middleware import JWTSettings
from jwt_middleware.telemetry import instruments
from tests.helpers import SECRET, bearer, build_app, mint_token

def timed(reader):
    data = reader.get_metrics_data()
    return sum(
        point.count
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "jwt_middleware.verification.duration"
        for point in metric.data.data_points
    )

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


def test_a_meter_provider_set_after_the_middleware_is_used() -> None:
    result = run_python(SCENARIO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
