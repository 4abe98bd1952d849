"""``BearerAuthenticator``: a JWT sent as an RFC 6750 bearer token, verified by a
:class:`~jwt_middleware.verification.verifier.TokenVerifier`.

The first :class:`~jwt_middleware.verification.authenticator.Authenticator`, and the one the
middleware builds from its settings unless given others. The token is read by
:mod:`jwt_middleware.edge.credentials` (the header, or the query parameter when one is
named), checked against the RFC 6750 ``b64token`` syntax unless the verified cache knows it
already, and verified without a coroutine whenever the keys are at hand.
"""

from __future__ import annotations

from starlette.types import Scope

from ..edge.credentials import bearer_token, is_b64token
from ..errors import ConfigurationError, InvalidRequestError
from ..types import VerifiedToken
from .verifier import TokenVerifier

__all__ = ["BearerAuthenticator"]


class BearerAuthenticator:
    """Authenticate a request by the JWT in its ``Authorization: Bearer`` header.

    ``query_param`` also accepts the token from that query parameter (RFC 6750 section
    2.3), for WebSocket clients that cannot set headers; see ``token_query_param`` of
    :class:`~jwt_middleware.middleware.JWTAuthMiddleware` for why it is off by default.
    """

    __slots__ = ("bearer_methods", "query_param", "verifier")

    def __init__(self, verifier: TokenVerifier, *, query_param: str | None = None) -> None:
        if query_param is not None and not query_param:
            raise ConfigurationError("token_query_param must be a parameter name or None")
        self.verifier = verifier
        self.query_param = query_param
        self.bearer_methods: tuple[str, ...] = (
            ("header", "query") if query_param is not None else ("header",)
        )

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        token = bearer_token(scope, self.query_param)
        verified = self.verifier.cached(token)
        if verified is not None:
            return verified
        # A token in the cache has passed this check already, on its first sight.
        if not is_b64token(token):
            raise InvalidRequestError
        return self.verifier.authenticate_now(token)  # None: its keys have to be fetched

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        verified = self.authenticate_now(scope)
        if verified is None:
            verified = await self.verifier.authenticate(bearer_token(scope, self.query_param))
        return verified

    @property
    def ready(self) -> bool:
        """Whether the verifier's key sources hold usable keys (see
        :mod:`jwt_middleware.edge.readiness`)."""
        return self.verifier.ready

    async def prefetch(self) -> None:
        await self.verifier.prefetch()

    async def aclose(self) -> None:
        await self.verifier.aclose()
