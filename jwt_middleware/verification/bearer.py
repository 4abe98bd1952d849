"""``BearerAuthenticator``: a JWT sent as an RFC 6750 bearer token, verified by a
:class:`~jwt_middleware.verification.verifier.TokenVerifier`.

The first :class:`~jwt_middleware.verification.authenticator.Authenticator`, and the one the
middleware builds from its settings unless given others. The token is read by
:mod:`jwt_middleware.edge.credentials` (the header, or the query parameter when one is
named, or the header a proxy sets when one is named), checked against the RFC 6750
``b64token`` syntax unless the verified cache knows it already (a proxy's header is left
to the JWS parser), and verified without a coroutine whenever the keys are at hand. With a
:class:`~.introspection.TokenIntrospector`, a token that is not a JWT (every token, with
``JWT_INTROSPECT_ALL_TOKENS``) goes to it instead; one whose answer binds it to a TLS
client certificate (RFC 8705 section 3.2) passes only with that certificate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Scope

from ..edge.credentials import bearer_token, is_b64token, proxy_token
from ..errors import ConfigurationError, InvalidRequestError
from ..settings.header import token_header_name
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
    ``token_header`` also accepts the raw token from that header, set by a proxy in front
    (:func:`~jwt_middleware.edge.credentials.proxy_token`: a token in it and in
    ``Authorization`` or the query is refused with 400). ``introspector`` checks the
    opaque tokens (RFC 7662).
    """

    __slots__ = ("_header", "bearer_methods", "introspector", "query_param", "verifier")

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        query_param: str | None = None,
        token_header: str | None = None,
        introspector: TokenIntrospector | None = None,
    ) -> None:
        if query_param is not None and not query_param:
            raise ConfigurationError("token_query_param must be a parameter name or None")
        if verifier.dpop:
            # Its tokens are bound to a key: accepted without a proof, they would be bearer
            # tokens again, and its cache would hand them to anyone who holds one.
            raise ConfigurationError("a BearerAuthenticator cannot use a DPoP verifier")
        if verifier.certificate_bound:
            # The same: its tokens are good only with the certificate they name.
            raise ConfigurationError(
                "a BearerAuthenticator cannot use a certificate-bound verifier"
            )
        self.verifier = verifier
        self.introspector = introspector
        self.query_param = query_param
        self._header = (
            token_header_name(token_header).encode("ascii") if token_header is not None else None
        )
        self.bearer_methods: tuple[str, ...] = (
            ("header", "query") if query_param is not None else ("header",)
        )

    @property
    def token_header(self) -> str | None:
        """The header a proxy sets the token in (lower case), or ``None``."""
        return self._header.decode("ascii") if self._header is not None else None

    def _token(self, scope: Scope) -> str:
        header = self._header
        if header is None:
            return bearer_token(scope, self.query_param)
        return proxy_token(scope, header, self.query_param)

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        token = self._token(scope)
        introspector = self.introspector
        if introspector is not None and token.count(".") != 2:
            # No JWT: never in the verifier's cache.
            return _confirmed(introspector, scope, introspector.authenticate_now(token))
        verified = self.verifier.cached(token)
        if verified is not None:
            return verified
        # Only now, so that a reused JWT costs next to what it costs without introspection.
        if introspector is not None and introspector.takes(token):
            return _confirmed(introspector, scope, introspector.authenticate_now(token))
        # A token in the cache has passed this check already, on its first sight; a token
        # from a proxy's header is no RFC 6750 bearer token (the JWS parser checks it).
        if self._header is None and not is_b64token(token):
            raise InvalidRequestError
        return self.verifier.authenticate_now(token)  # None: its keys have to be fetched

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        verified = self.authenticate_now(scope)
        if verified is None:
            token = self._token(scope)
            introspector = self.introspector
            if introspector is not None and introspector.takes(token):
                return introspector.confirmed(scope, await introspector.authenticate(token))
            verified = await self.verifier.authenticate(token)
        return verified

    @property
    def ready(self) -> bool:
        """Whether the verifier's key sources hold usable keys (see
        :mod:`jwt_middleware.edge.readiness`)."""
        return self.verifier.ready

    async def prefetch(self) -> None:
        await self.verifier.prefetch()
        if self.introspector is not None:
            await self.introspector.prefetch()

    async def aclose(self) -> None:
        await self.verifier.aclose()
        if self.introspector is not None:
            await self.introspector.aclose()


def _confirmed(
    introspector: TokenIntrospector, scope: Scope, verified: VerifiedToken | None
) -> VerifiedToken | None:
    """An introspected identity, once the request shows what its answer binds it to (a
    client certificate: :meth:`~.introspection.TokenIntrospector.confirmed`)."""
    return introspector.confirmed(scope, verified) if verified is not None else None
