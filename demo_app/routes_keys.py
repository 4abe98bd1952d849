"""``/.well-known/jwks.json``: the public keys that verify this service's tokens.

Other services verify the demo's tokens with nothing but this URL (``JWT_JWKS_URL``) when
it signs with a key pair (``JWT_PRIVATE_KEY``, e.g. RS256). With an HMAC secret there is
nothing that may be published, so the document does not exist: 404, as for any unknown path.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from jwt_middleware import JWTSettings, public_jwks

from .dependencies import ContextDep

__all__ = ["jwks_document", "router"]

router = APIRouter(tags=["meta"])


def jwks_document(settings: JWTSettings) -> dict[str, list[dict[str, Any]]] | None:
    """The JWK Set to serve, or ``None`` when tokens are signed with a shared secret."""
    if settings.is_hmac or not (
        settings.private_key or settings.public_key or settings.public_keys
    ):
        return None
    return public_jwks(settings)


@router.get(
    "/.well-known/jwks.json",
    responses={
        200: {"description": "The JWK Set (RFC 7517) of the token verification keys."},
        404: {"description": "Tokens are signed with a shared secret; nothing is published."},
    },
)
def jwks(context: ContextDep) -> dict[str, list[dict[str, Any]]]:
    """The public keys of this service, for verifiers (``JWT_JWKS_URL``)."""
    if context.jwks is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return context.jwks
