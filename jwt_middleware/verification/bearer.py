"""``BearerAuthenticator``: a JWT sent as an RFC 6750 bearer token, verified by a
:class:`~jwt_middleware.verification.verifier.TokenVerifier`.

The first :class:`~jwt_middleware.verification.authenticator.Authenticator`, and the one the
middleware builds from its settings unless given others. The token is read by
:mod:`jwt_middleware.edge.credentials` (the header, or the query parameter when one is
named), checked against the RFC 6750 ``b64token`` syntax unless the verified cache knows it
already, and verified without a coroutine whenever the keys are at hand. With a
:class:`~.introspection.TokenIntrospector`, a token that is not a JWT (every token, with
``JWT_INTROSPECT_ALL_TOKENS``) goes to it instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Scope

from ..edge.credentials import bearer_token, is_b64token, is_jwt_shaped
from ..errors import ConfigurationError, InvalidRequestError
from ..types import VerifiedToken
from .verifier import TokenVerifier

if TYPE_CHECKING:
    from .introspection import TokenIntrospector

__all__ = ["BearerAuthenticator"]


class BearerAuthenticator:
    """Authenticate a request by the JWT in its ``Authorization: Bearer`` header.

    ``query_param`` also accepts the token from that query parameter (RFC 6750 section
    2.3), for WebSocket clients that cannot set headers; see ``token_query_param`` of
    :class:`~jwt_middleware.middleware.JWTAuthMiddleware` for why it is off by default.
    ``introspector`` checks the opaque tokens (RFC 7662).
    """

    __slots__ = ("bearer_methods", "introspector", "query_param", "verifier")

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        query_param: str | None = None,
        introspector: TokenIntrospector | None = None,
    ) -> None:
        if query_param is not None and not query_param:
            raise ConfigurationError("token_query_param must be a parameter name or None")
        self.verifier = verifier
        self.introspector = introspector
        self.query_param = query_param
        self.bearer_methods: tuple[str, ...] = (
            ("header", "query") if query_param is not None else ("header",)
        )

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        token = bearer_token(scope, self.query_param)
        introspector = self.introspector
        if introspector is not None and token.count(".") != 2:
            return introspector.authenticate_now(token)  # no JWT: never in the verifier's cache
        verified = self.verifier.cached(token)
        if verified is not None:
            return verified
        # Only now, so that a reused JWT costs next to what it costs without introspection.
        if introspector is not None and (introspector.all_tokens or not is_jwt_shaped(token)):
            return introspector.authenticate_now(token)
        # A token in the cache has passed this check already, on its first sight.
        if not is_b64token(token):
            raise InvalidRequestError
        return self.verifier.authenticate_now(token)  # None: its keys have to be fetched

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        verified = self.authenticate_now(scope)
        if verified is None:
            token = bearer_token(scope, self.query_param)
            introspector = self.introspector
            if introspector is not None and (introspector.all_tokens or not is_jwt_shaped(token)):
                return await introspector.authenticate(token)
            verified = await self.verifier.authenticate(token)
        return verified

    async def prefetch(self) -> None:
        await self.verifier.prefetch()
        if self.introspector is not None:
            await self.introspector.prefetch()

    async def aclose(self) -> None:
        await self.verifier.aclose()
        if self.introspector is not None:
            await self.introspector.aclose()
