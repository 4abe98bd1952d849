"""RFC 9728 OAuth 2.0 Protected Resource Metadata: where a client learns how to get a token.

With ``JWT_RESOURCE`` set (this API's resource identifier, e.g.
``https://api.example.com/mcp``), the middleware serves the metadata at the RFC 9728
location (``/.well-known/oauth-protected-resource`` followed by the resource's path), and
every 401 challenge names it (``resource_metadata="..."``, RFC 9728 section 5.1). This is
how an MCP client finds the authorization server it must ask for a token. The document is
built once, from the same policy that drives the answers: its ``scopes_supported`` are the
scopes some rule requires.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["metadata_document", "metadata_path", "metadata_url"]

_WELL_KNOWN = "/.well-known/oauth-protected-resource"


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
) -> bytes:
    """The JSON document (RFC 9728 section 2), encoded once."""
    document: dict[str, object] = {"resource": resource}
    if authorization_servers:
        document["authorization_servers"] = list(authorization_servers)
    if scopes_supported:
        document["scopes_supported"] = list(scopes_supported)
    document["bearer_methods_supported"] = list(bearer_methods)
    if resource_name is not None:
        document["resource_name"] = resource_name
    return json.dumps(document).encode()
