"""RFC 9728 OAuth 2.0 Protected Resource Metadata: where a client learns how to get a token.

With ``JWT_RESOURCE`` set (this API's resource identifier, e.g.
``https://api.example.com/mcp``), the middleware serves the metadata at the RFC 9728
location (``/.well-known/oauth-protected-resource`` followed by the resource's path), and
every 401 challenge names it (``resource_metadata="..."``, RFC 9728 section 5.1). This is
how an MCP client finds the authorization server it must ask for a token. The document is
built once, from the same policy that drives the answers: its ``scopes_supported`` are the
scopes some rule requires.

The document is public and holds nothing a client could not be told, so any origin may read
it: it is served, and its CORS preflight answered, with ``Access-Control-Allow-Origin: *``
and no credentials, so that a client running in a browser on another origin (the MCP
Inspector) can discover the authorization server. A client must dial exactly the URL of
``JWT_RESOURCE`` (MCP clients refuse metadata naming another), which
:func:`resource_warnings` and :func:`bound_host_warning` check where they can.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..access.policy import AccessPolicy

__all__ = [
    "MetadataEndpoint",
    "bound_host_warning",
    "metadata_document",
    "metadata_path",
    "metadata_response",
    "metadata_url",
    "resource_warnings",
]

_WELL_KNOWN: Final = "/.well-known/oauth-protected-resource"
#: Any origin may read the document; no credentials (so no cookie) ever go with it.
_READABLE_ANYWHERE: Final = {"Access-Control-Allow-Origin": "*"}
_DOCUMENT_HEADERS: Final = {**_READABLE_ANYWHERE, "Cache-Control": "public, max-age=3600"}
# "*" covers the headers a client adds (MCP's MCP-Protocol-Version) but, by the Fetch
# standard, not Authorization, which is named. Fixed values: nothing of the request echoed.
_PREFLIGHT_HEADERS: Final = {
    **_READABLE_ANYWHERE,
    "Access-Control-Allow-Methods": "GET, HEAD",
    "Access-Control-Allow-Headers": "Authorization, *",
    "Access-Control-Max-Age": "3600",
}
_NOT_ALLOWED_HEADERS: Final = {**_READABLE_ANYWHERE, "Allow": "GET, HEAD"}
_WEBSOCKET_POLICY_VIOLATION: Final = 1008

logger = logging.getLogger("jwt_middleware")


def metadata_path(resource: str) -> str:
    """The path the metadata of ``resource`` is served at (RFC 9728 section 3.1)."""
    path = urlsplit(resource).path.rstrip("/")
    return _WELL_KNOWN + path


def metadata_url(resource: str) -> str:
    """The absolute URL of the metadata of ``resource``."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def metadata_document(
    resource: str,
    *,
    authorization_servers: Sequence[str],
    scopes_supported: Sequence[str],
    bearer_methods: Sequence[str] = ("header",),
    resource_name: str | None = None,
    dpop_algorithms: Sequence[str] | None = None,
    dpop_required: bool = False,
    certificate_bound: bool = False,
) -> bytes:
    """The JSON document (RFC 9728 section 2), encoded once. ``dpop_algorithms``, when
    DPoP is on, are the proof algorithms accepted (``dpop_signing_alg_values_supported``),
    and ``dpop_required`` says whether bearer tokens are refused
    (``dpop_bound_access_tokens_required``). ``certificate_bound``: certificate-bound
    tokens are accepted (``tls_client_certificate_bound_access_tokens``, RFC 9728 section
    2 after RFC 8705), named only when they are."""
    document: dict[str, object] = {"resource": resource}
    if authorization_servers:
        document["authorization_servers"] = list(authorization_servers)
    if scopes_supported:
        document["scopes_supported"] = list(scopes_supported)
    document["bearer_methods_supported"] = list(bearer_methods)
    if resource_name is not None:
        document["resource_name"] = resource_name
    if dpop_algorithms is not None:
        document["dpop_signing_alg_values_supported"] = list(dpop_algorithms)
        document["dpop_bound_access_tokens_required"] = dpop_required
    if certificate_bound:
        document["tls_client_certificate_bound_access_tokens"] = True
    return json.dumps(document).encode()


def metadata_response(scope: Scope, document: bytes) -> Response:
    """The answer of the metadata endpoint to an HTTP request: the document to GET and HEAD,
    a CORS preflight's answer to OPTIONS with ``Access-Control-Request-Method``, 405 to the
    rest; every one readable from any origin, none with credentials."""
    method = scope["method"]
    if method == "GET" or method == "HEAD":
        return Response(document, media_type="application/json", headers=_DOCUMENT_HEADERS)
    if method == "OPTIONS" and any(
        name == b"access-control-request-method" for name, _ in scope["headers"]
    ):
        return Response(status_code=204, headers=_PREFLIGHT_HEADERS)
    return Response(status_code=405, headers=_NOT_ALLOWED_HEADERS)


def resource_warnings(resource: str) -> list[str]:
    """What is likely wrong with ``resource``, known from configuration alone: fixed text,
    for a start-up warning."""
    if not urlsplit(resource).path.strip("/"):
        return [
            "JWT_RESOURCE has no path: set it to the URL clients dial, such as "
            "https://api.example.com/mcp, so that its tokens and metadata are this API's alone"
        ]
    return []


def bound_host_warning(resource: str, server: object) -> str | None:
    """Why clients will not find ``resource`` on a server answering on loopback address
    ``server`` (an ASGI scope's ``server``, ``(host, port)``), or ``None``.

    Only a mismatch that is certain is reported: the server is on a loopback address and
    ``resource`` names ``localhost`` or another loopback address. A public host name is
    never reported, since a proxy on the same machine may serve it; nor is anything when the
    address is unknown (a Unix socket). ``server`` is the socket's own address, not a header
    a client chose, and only its parsed, normalised form is in the message.
    """
    if not isinstance(server, (tuple, list)) or not server or not isinstance(server[0], str):
        return None
    try:
        bound = ipaddress.ip_address(server[0])
    except ValueError:
        return None
    host = urlsplit(resource).hostname
    if not bound.is_loopback or host is None:
        return None
    try:
        named: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        named = None
    if named == bound or (named is None and host != "localhost"):
        return None
    if named is not None and not named.is_loopback:
        return None
    return (
        f"JWT_RESOURCE names host {host} but this server answers on {bound}: clients must "
        "dial the JWT_RESOURCE URL exactly (MCP clients refuse metadata for another host)"
    )


class MetadataEndpoint:
    """The RFC 9728 endpoint of one middleware: its document, built again by :meth:`build`
    once the policy knows the routes' own requirements (its ``scopes_supported`` count
    them), and the one-time check that clients can reach ``resource`` here
    (:meth:`check_server`).

    ``bearer_methods`` are each authenticator's, in order; the document names each method
    once.
    """

    __slots__ = (
        "_document",
        "authorization_servers",
        "bearer_methods",
        "certificate_bound",
        "dpop_algorithms",
        "dpop_required",
        "path",
        "policy",
        "resource",
        "resource_name",
        "server_checked",
    )

    def __init__(
        self,
        resource: str,
        *,
        authorization_servers: Sequence[str],
        policy: AccessPolicy,
        bearer_methods: Iterable[Sequence[str]],
        resource_name: str | None = None,
        dpop_algorithms: Sequence[str] | None = None,
        dpop_required: bool = False,
        certificate_bound: bool = False,
    ) -> None:
        self.resource = resource
        self.certificate_bound = certificate_bound
        self.dpop_algorithms = dpop_algorithms
        self.dpop_required = dpop_required
        self.path = metadata_path(resource)
        self.authorization_servers = list(authorization_servers)
        self.policy = policy
        self.bearer_methods = list(dict.fromkeys(m for methods in bearer_methods for m in methods))
        self.resource_name = resource_name
        self.server_checked = False
        self.build()
        for warning in resource_warnings(resource):
            logger.warning("%s", warning)

    def build(self) -> None:
        """Build the document (again), from the policy as it is now."""
        self._document = metadata_document(
            self.resource,
            authorization_servers=self.authorization_servers,
            scopes_supported=self.policy.scopes_supported,
            bearer_methods=self.bearer_methods,
            resource_name=self.resource_name,
            dpop_algorithms=self.dpop_algorithms,
            dpop_required=self.dpop_required,
            certificate_bound=self.certificate_bound,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": _WEBSOCKET_POLICY_VIOLATION})
            return
        if not self.server_checked:
            self.check_server(scope)
        await metadata_response(scope, self._document)(scope, receive, send)

    def check_server(self, scope: Scope) -> None:
        """Warn, once, when clients cannot reach ``JWT_RESOURCE`` at the address this
        server answers on (asked on the first metadata request or refusal: what a client
        discovering this API sends first, and off the path of authenticated requests)."""
        self.server_checked = True
        warning = bound_host_warning(self.resource, scope.get("server"))
        if warning is not None:
            logger.warning("%s", warning)
