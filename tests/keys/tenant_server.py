"""A multi-tenant identity provider on loopback, shaped like Entra ID: each tenant's
metadata at ``/{tid}/v2.0/.well-known/openid-configuration`` names its issuer and a key set
at ``/{tid}/keys``; the test says which tenants exist and with which key, and counts what
was fetched. Tokens are signed with PyJWT directly."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers import mint_token
from tests.keypairs import PrivateKey
from tests.keys.endpoint import public_jwk
from tests.servers import serve


class TenantProvider:
    """The provider's state: ``keys`` by tenant id, and the paths it was asked for."""

    def __init__(self) -> None:
        self.keys: dict[str, PrivateKey] = {}
        self.requests: Counter[str] = Counter()
        #: Metadata requests by tenant segment.
        self.metadata: Counter[str] = Counter()
        self.base_url = ""

    @property
    def template(self) -> str:
        return f"{self.base_url}/{{tid}}/v2.0"

    def issuer(self, tid: str) -> str:
        return f"{self.base_url}/{tid}/v2.0"

    def token(self, tid: str, *, claimed_tid: str | None = None, **claims: Any) -> str:
        """A token of tenant ``tid``, signed by its key, whose ``tid`` claim is
        ``claimed_tid`` (the tenant's own by default)."""
        return mint_token(
            secret=self.keys[tid],
            algorithm="RS256",
            headers={"kid": f"key-{tid}"},
            iss=self.issuer(tid),
            tid=claimed_tid if claimed_tid is not None else tid,
            jti=uuid.uuid4().hex,
            **claims,
        )

    async def _metadata(self, request: Request) -> Response:
        tid = request.path_params["tid"]
        self.metadata[tid] += 1
        if tid not in self.keys:
            return JSONResponse({"error": "tenant not found"}, status_code=400)
        return JSONResponse({"issuer": self.issuer(tid), "jwks_uri": f"{self.base_url}/{tid}/keys"})

    async def _keys(self, request: Request) -> Response:
        tid = request.path_params["tid"]
        self.requests[request.url.path] += 1
        if tid not in self.keys:
            return JSONResponse({"error": "tenant not found"}, status_code=404)
        return JSONResponse({"keys": [public_jwk(self.keys[tid], f"key-{tid}")]})


@contextmanager
def tenant_provider() -> Iterator[TenantProvider]:
    """A :class:`TenantProvider` served on loopback for the block."""
    provider = TenantProvider()
    app = Starlette(
        routes=[
            Route("/{tid}/v2.0/.well-known/openid-configuration", provider._metadata),
            Route("/.well-known/oauth-authorization-server/{tid}/v2.0", provider._metadata),
            Route("/{tid}/keys", provider._keys),
        ]
    )
    with serve(app) as base_url:
        provider.base_url = base_url
        yield provider
