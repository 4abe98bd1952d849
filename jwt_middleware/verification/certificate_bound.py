"""``CertificateBoundAuthenticator``: an access token bound to a TLS client certificate
(RFC 8705 section 3), sent as ``Authorization: Bearer``, through the
:class:`~jwt_middleware.verification.authenticator.Authenticator` seam.

Such a token is a bearer token on the wire; what makes it good is the certificate of the
connection it comes on. So this authenticator stands in front of the bearer one and takes
the requests whose token names a certificate (``"x5t#S256"`` in its payload, looked for in
the bytes, never parsed before the signature is checked); every other request it leaves to
the next authenticator (:class:`~jwt_middleware.errors.MissingTokenError`), and a chain
does not even ask it about one (:meth:`~CertificateBoundAuthenticator.declines`: the
header as sent, searched, its payload not decoded nor its token looked up). A token it
takes is accepted when, in this order: it verifies with the authenticator's own
:class:`~jwt_middleware.verification.verifier.TokenVerifier` (``certificate_bound=True``:
``cnf`` must hold ``x5t#S256`` and nothing else, and its verified-token cache is its own,
never the bearer path's); and the request's client certificate
(:mod:`jwt_middleware.edge.client_certificate`) has that thumbprint. The certificate is
compared on every request, for a token found in the cache as for one seen first: the cache
remembers the signature and claims, never the certificate. An accepted request's scope is
marked (:data:`CERTIFICATE_PROVED_SCOPE_KEY`), for the ``mtls=`` rules and
``JWT_MTLS_REQUIRED``, which refuse any token that was not bound here (or by the DPoP path,
for a token bound to a key and a certificate).

The routing fails closed both ways: a bound token the search misses (its JSON escapes the
name) goes to the bearer path, which refuses any ``cnf``; a plain token that happens to
hold the text comes here, where a token without ``cnf`` is refused. Refusals are
``401 invalid_token`` with a ``Bearer`` challenge (RFC 8705 defines no scheme of its own),
logged once with their reason: ``certificate_missing``, ``certificate_untrusted``,
``certificate_malformed``, ``certificate_mismatch``, or the verifier's.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from collections.abc import Callable
from typing import Final, NoReturn

from starlette.types import Scope

from .. import jws
from ..edge.client_certificate import CertificateRefused, ClientCertificates
from ..edge.credentials import bearer_token, is_b64token
from ..errors import ConfigurationError, InvalidRequestError, MissingTokenError, invalid_token
from ..refusals import Reason, log_refusal
from ..settings import JWTSettings
from ..types import VerifiedToken
from .verifier import TokenVerifier

__all__ = [
    "CERTIFICATE_PROVED_SCOPE_KEY",
    "CertificateBoundAuthenticator",
    "certificate_confirmed",
    "names_a_certificate",
]

#: Set in a request's scope when its token's binding to the request's TLS client
#: certificate was checked (here, by introspection for an opaque token, or by the DPoP path
#: for a token bound to both): what an ``mtls=`` rule and ``JWT_MTLS_REQUIRED`` ask for.
CERTIFICATE_PROVED_SCOPE_KEY: Final = "jwt_middleware.certificate_proved"

#: The confirmation member of RFC 8705 section 3.1, as a JSON string in a payload.
_X5T_S256: Final = b'"x5t#S256"'


def _base64url_cores(text: bytes) -> tuple[str, ...]:
    """What the base64url encoding of any payload holding ``text`` holds, whichever of the
    three alignments ``text`` has in it: the characters its own bytes decide alone."""
    cores = []
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        whole = (offset + len(text)) // 3 * 4
        encoded = urlsafe_b64encode(bytes(offset) + text).decode("ascii")
        cores.append(encoded[skip:whole])
    return tuple(cores)


#: A payload segment without any of these has no ``"x5t#S256"``: looked for in the text as
#: sent, so that a plain bearer token is not decoded to learn it is not this path's.
_X5T_S256_CORES: Final = _base64url_cores(_X5T_S256)
#: The same, one by one: three searches are cheaper written out than as a loop, on every
#: plain bearer request (:meth:`CertificateBoundAuthenticator.declines`).
_FIRST_CORE, _SECOND_CORE, _THIRD_CORE = _X5T_S256_CORES


def names_a_certificate(token: str, max_bytes: int) -> bool:
    """Whether the payload of ``token`` (no longer than ``max_bytes``) holds the name
    ``"x5t#S256"``: where it goes, not whether it is good (see the module)."""
    if len(token) > max_bytes:
        return False  # the bearer path refuses it unread (too_large)
    if not any(core in token for core in _X5T_S256_CORES):
        return False
    first = token.find(".")
    second = token.find(".", first + 1)
    if first < 0 or second < 0:
        return False
    try:
        payload = jws.decode_segment(token[first + 1 : second])
    except jws.MalformedTokenError:
        return False
    return _X5T_S256 in payload


class CertificateBoundAuthenticator:
    """Authenticate a request by its certificate-bound token and its TLS client
    certificate (see the module).

    ``verifier`` must be a certificate-bound verifier
    (``TokenVerifier(settings, certificate_bound=True)``), never the bearer path's;
    ``certificates`` says where a request's certificate is read
    (:class:`~jwt_middleware.edge.client_certificate.ClientCertificates`). Put a
    :class:`~jwt_middleware.verification.bearer.BearerAuthenticator` after it for the
    plain bearer tokens it leaves.
    """

    __slots__ = ("_max_bytes", "bearer_methods", "certificates", "verifier")

    def __init__(self, verifier: TokenVerifier, *, certificates: ClientCertificates) -> None:
        if not verifier.certificate_bound:
            raise ConfigurationError(
                "a CertificateBoundAuthenticator needs its own verifier: "
                "TokenVerifier(settings, certificate_bound=True)"
            )
        self.verifier = verifier
        self.certificates = certificates
        self._max_bytes = verifier.settings.max_token_bytes
        #: Its tokens come in the Authorization header, as bearer tokens do.
        self.bearer_methods: tuple[str, ...] = ("header",)

    @classmethod
    def from_settings(
        cls, settings: JWTSettings, verifier: TokenVerifier | None = None
    ) -> CertificateBoundAuthenticator:
        """The authenticator ``JWT_MTLS_ENABLED``, ``JWT_CLIENT_CERT_HEADER`` and
        ``JWT_TRUSTED_PROXIES`` describe, with ``verifier`` (a certificate-bound verifier
        built from ``settings`` when not given)."""
        if not settings.mtls_enabled:
            raise ConfigurationError("a CertificateBoundAuthenticator needs JWT_MTLS_ENABLED=true")
        return cls(
            verifier if verifier is not None else TokenVerifier(settings, certificate_bound=True),
            certificates=ClientCertificates.from_settings(settings),
        )

    def declines(self, authorization: bytes | None) -> bool:
        """Whether a request with this ``Authorization`` header is surely not this
        authenticator's (see
        :class:`~jwt_middleware.verification.authenticator.DecliningAuthenticator`): no
        header, another scheme than ``Bearer``, or a token without any of the base64url
        texts of ``"x5t#S256"`` (:func:`names_a_certificate` could not find the name), read
        as :func:`~jwt_middleware.edge.credentials.bearer_token` reads it: a header it
        refuses (not ASCII, no token) is not declined. The payload is not decoded, and the
        cache not asked (a token in it came through here, so its text names the
        certificate): a plain token is left to the next authenticator for three searches."""
        if authorization is None:
            return True
        try:
            text = authorization.decode("ascii")
        except UnicodeDecodeError:
            return False
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer":
            return True
        return (
            _FIRST_CORE not in token
            and _SECOND_CORE not in token
            and _THIRD_CORE not in token
            and token.strip(" ") != ""
        )

    def _bound_token(self, scope: Scope) -> tuple[str, VerifiedToken | None]:
        """The request's bearer token if it is this authenticator's, with its cached
        verification if any; :class:`MissingTokenError` for a token it leaves."""
        token = bearer_token(scope)
        verified = self.verifier.cached(token)
        if verified is not None:
            return token, verified
        if not names_a_certificate(token, self._max_bytes):
            raise MissingTokenError  # a plain bearer token: the next authenticator's
        if not is_b64token(token):
            raise InvalidRequestError
        return token, None

    def _bound(self, scope: Scope, verified: VerifiedToken) -> VerifiedToken:
        """``verified``, if the request's certificate is the one it is bound to."""
        return certificate_confirmed(self.certificates, scope, verified)

    def authenticate_now(self, scope: Scope) -> VerifiedToken | None:
        token, verified = self._bound_token(scope)
        if verified is None:
            verified = self.verifier.authenticate_now(token)
            if verified is None:
                return None  # its keys have to be fetched: authenticate() does it all again
        return self._bound(scope, verified)

    async def authenticate(self, scope: Scope) -> VerifiedToken:
        token, verified = self._bound_token(scope)
        if verified is None:
            verified = await self.verifier.authenticate(token)
        return self._bound(scope, verified)

    @property
    def ready(self) -> bool:
        """Whether the verifier's key sources hold usable keys."""
        return self.verifier.ready

    async def prefetch(self) -> None:
        await self.verifier.prefetch()

    async def aclose(self) -> None:
        await self.verifier.aclose()


def certificate_confirmed(
    certificates: ClientCertificates,
    scope: Scope,
    verified: VerifiedToken,
    *,
    refuse: Callable[[Reason], NoReturn] | None = None,
) -> VerifiedToken:
    """``verified``, a token whose claims name a certificate (``cnf`` an object holding a
    string ``x5t#S256``: :data:`~.claims.CERTIFICATE_BOUND` checked it, or the DPoP path's
    claim check), if the request's client certificate is the one it names, the request
    marked (:data:`CERTIFICATE_PROVED_SCOPE_KEY`); else ``refuse(reason)``, by default the
    refusal logged as ``401 invalid_token`` in a ``Bearer`` challenge (the DPoP path
    answers in its own). The one comparison of a certificate-bound token, a JWT's here or
    on the DPoP path and an opaque token's introspection answer (:mod:`.introspection`)
    alike, so that they cannot drift apart."""
    try:
        certificates.check(scope, verified.claims["cnf"]["x5t#S256"])
    except CertificateRefused as refused:
        (refuse or _refuse)(refused.reason)
    scope[CERTIFICATE_PROVED_SCOPE_KEY] = True
    return verified


def _refuse(reason: Reason) -> NoReturn:
    log_refusal(reason)
    raise invalid_token(reason)
