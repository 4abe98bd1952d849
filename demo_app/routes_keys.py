"""``/.well-known/jwks.json`` and the discovery documents: how others verify our tokens.

When the demo signs with a key pair (``JWT_PRIVATE_KEY``, e.g. RS256), other services verify
its tokens with nothing but this URL (``JWT_JWKS_URL``), or, when ``JWT_ISSUER`` is set to the
demo's own address, with nothing but that issuer: the demo then also publishes its metadata
at ``/.well-known/openid-configuration`` and, for OAuth 2.0 clients, at
``/.well-known/oauth-authorization-server`` (RFC 8414), naming the issuer and the key set.
With an HMAC secret there is nothing that may be published, so none of these exist: 404, as
for any unknown path.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from jwt_middleware import JWTSettings, public_jwks

from .dependencies import ContextDep

__all__ = ["JWKS_PATH", "jwks_document", "metadata_document", "router"]

router = APIRouter(tags=["meta"])

JWKS_PATH = "/.well-known/jwks.json"
_NOT_PUBLISHED: dict[int | str, dict[str, Any]] = {
    404: {"description": "Tokens are signed with a shared secret; nothing is published."}
}


def jwks_document(settings: JWTSettings) -> dict[str, list[dict[str, Any]]] | None:
    """The JWK Set to serve, or ``None`` when tokens are signed with a shared secret."""
    if settings.is_hmac or not (
        settings.private_key or settings.public_key or settings.public_keys
    ):
        return None
    return public_jwks(settings)


def metadata_document(settings: JWTSettings) -> dict[str, Any] | None:
    """The discovery metadata to serve: the issuer and its key set, or ``None`` when there
    is no issuer URL or nothing to publish."""
    issuer = settings.token_issuer
    if issuer is None or jwks_document(settings) is None:
        return None
    if not issuer.startswith(("https://", "http://")):
        return None
    return {
        "issuer": issuer,
        "jwks_uri": issuer.rstrip("/") + JWKS_PATH,
        "id_token_signing_alg_values_supported": list(settings.algorithms),
        "token_endpoint": issuer.rstrip("/") + "/auth/token",
        "grant_types_supported": ["password", "refresh_token"],
    }


@router.get(
    JWKS_PATH,
    responses={
        200: {"description": "The JWK Set (RFC 7517) of the token verification keys."},
        **_NOT_PUBLISHED,
    },
)
def jwks(context: ContextDep) -> dict[str, list[dict[str, Any]]]:
    """The public keys of this service, for verifiers (``JWT_JWKS_URL``)."""
    if context.jwks is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return context.jwks


@router.get(
    "/.well-known/openid-configuration",
    responses={200: {"description": "Where this issuer's keys are."}, **_NOT_PUBLISHED},
)
def openid_configuration(context: ContextDep) -> dict[str, Any]:
    """The issuer's metadata, so a verifier needs only ``JWT_ISSUER``."""
    if context.metadata is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return context.metadata


@router.get(
    "/.well-known/oauth-authorization-server",
    responses={200: {"description": "The same metadata (RFC 8414)."}, **_NOT_PUBLISHED},
)
def oauth_authorization_server(context: ContextDep) -> dict[str, Any]:
    """The same metadata at the RFC 8414 location."""
    return openid_configuration(context)
