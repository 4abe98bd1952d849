"""No attribute of any metric or span the library reports holds a token, a piece of one, a
claim's value, a secret, or the ``iss`` a refused token claimed: after a mix of requests
accepted and refused, every attribute value is read back and searched."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from opentelemetry import trace

from jwt_middleware import JWTSettings
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import OTHER_SECRET, SECRET, bearer, build_app, mint_token
from tests.keypairs import RSA
from tests.keys.endpoint import Endpoint, signed

from .readings import Recorded


def values_reported(sdk: Recorded) -> Iterator[str]:
    """Every attribute value of the library's metrics and of every finished span."""
    data = sdk.reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name.startswith("jwt_middleware."):
                    for point in metric.data.data_points:
                        yield from map(str, (point.attributes or {}).values())
    for span in sdk.spans.get_finished_spans():
        yield span.name
        yield from map(str, (span.attributes or {}).values())
        if span.status.description:
            yield span.status.description


def test_no_attribute_holds_a_token_a_claim_or_a_secret(sdk: Recorded) -> None:
    marker = uuid.uuid4().hex
    issuer = f"https://issuer-{marker[:8]}.example/"
    claimed = f"https://evil-{marker}.example/"
    claims: dict[str, Any] = {
        "sub": f"user-{marker}",
        "jti": f"jti-{marker}",
        "email": f"{marker}@example.com",
        "scope": f"scope-{marker}",
    }
    tokens = [
        mint_token(iss=issuer, **claims),
        mint_token(iss=issuer, secret=OTHER_SECRET, **claims),
        mint_token(iss=claimed, **claims),
        mint_token(iss=issuer, lifetime=-3600, **claims),
        mint_token(iss=issuer, aud=f"aud-{marker}", **claims),
    ]
    app = build_app(JWTSettings(secret=SECRET, algorithm="HS256", issuer=issuer))
    with ExitStack() as stack:
        endpoint = Endpoint(stack)
        keyed = build_app(JWTSettings(algorithm="RS256", jwks_url=endpoint.url))
        requests = [(app, bearer(token)) for token in tokens]
        requests.append((keyed, bearer(signed(RSA, kid=f"kid-{marker}"))))
        requests.append((app, {"Authorization": f"Bearer {marker}.{marker}"}))
        with trace.get_tracer("tests").start_as_current_span("GET /private"):
            for target, headers in requests:
                call(
                    target, http_scope("/private", headers=scope_headers({"host": "t", **headers}))
                )
    reported = list(values_reported(sdk))
    assert any(issuer == value for value in reported)  # something was reported
    forbidden = [marker, SECRET, OTHER_SECRET, claimed]
    forbidden += [piece for token in tokens for piece in token.split(".")]
    leaks = [value for value in reported for secret in forbidden if secret in value]
    assert leaks == []
