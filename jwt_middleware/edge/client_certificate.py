"""The TLS client certificate of a request, for certificate-bound tokens (RFC 8705), and
its SHA-256 thumbprint (section 3.1: base64url of the SHA-256 of the DER certificate).

Two places, never both for one request:

* the ASGI ``tls`` extension (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM
  strings, the client's certificate first), where the server ended TLS itself and fills
  it, as the ASGI TLS extension specification describes;
* a header a TLS-terminating proxy sets (``JWT_CLIENT_CERT_HEADER``), believed only when
  the request's peer (``scope["client"]``) is one of ``JWT_TRUSTED_PROXIES``: URL-encoded
  PEM as nginx's ``$ssl_client_escaped_cert`` gives it, or Envoy's
  ``x-forwarded-client-cert`` (``Hash=<hex>;Cert="<URL-encoded PEM>";...``).

From a trusted proxy only its header counts: the TLS session the app sees is the proxy's,
and a certificate on it is the proxy's own. From anyone else the header is ignored (never
an error: a client may send anything; it just proves nothing), and only the ``tls``
extension counts. Certificates are parsed with ``cryptography`` alone. Nothing here is
asked unless a token is certificate-bound: a plain bearer request pays nothing for it.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.types import Scope

from ..refusals import Reason
from ..settings import JWTSettings
from ..settings.mtls import CERTIFICATE_HEADER_FORMATS, CertificateHeaderFormat, Network

__all__ = [
    "CertificateRefused",
    "ClientCertificates",
    "certificate_thumbprint",
    "envoy_certificate",
]

#: Longest header value read (an RSA 4096 certificate chain, URL-encoded, is ~10 KB).
_MAX_HEADER_BYTES: Final = 32 * 1024
#: Certificates whose thumbprint is remembered (at most this many times the header limit).
_REMEMBERED_CERTIFICATES: Final = 256
_PEM_BEGIN: Final = b"-----BEGIN CERTIFICATE-----"
_SHA256_HEX_CHARACTERS: Final = 64
_BACKSLASH, _QUOTE, _EQUALS, _SEMICOLON, _COMMA = b'\\"=;,'
_NOT_IN_KEY: Final = frozenset(b'",\\')


class CertificateRefused(Exception):
    """No usable client certificate for this request; :attr:`reason` says why (in the
    log only: a fixed word, never the header's text)."""

    __slots__ = ("reason",)

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@lru_cache(maxsize=_REMEMBERED_CERTIFICATES)
def certificate_thumbprint(pem: bytes) -> str:
    """The RFC 8705 ``x5t#S256`` of the first certificate in ``pem``: base64url, without
    padding, of the SHA-256 of its DER encoding. :class:`CertificateRefused` when it is no
    certificate.

    Remembered by the PEM's bytes (a client sends the same certificate on every request,
    and parsing it costs several times what the rest of a cached request does); a refusal
    is not remembered. Only asked once a bound token verified, so what fills it is
    certificates of clients holding good tokens."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        der = certificate.public_bytes(Encoding.DER)
    except ValueError:
        raise CertificateRefused(Reason.CERTIFICATE_MALFORMED) from None
    return _b64url(hashlib.sha256(der).digest())


def _b64url(digest: bytes) -> str:
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def envoy_certificate(value: bytes) -> tuple[bytes | None, str | None]:
    """The client certificate an Envoy ``x-forwarded-client-cert`` value names: its
    ``Cert`` (URL-encoded PEM, quoted or not) as PEM, and its ``Hash`` (hex SHA-256 of the
    DER certificate) as an ``x5t#S256``; either may be absent.

    One element only: a value with several (a comma outside quotes) comes from a proxy
    that appended its hop to what the client sent (``APPEND_FORWARD``), and which one is
    the client's cannot be told; :class:`CertificateRefused` then, as for a value that does
    not parse (an unclosed quote, a key twice, a ``Hash`` that is not 64 hex digits).
    Configure Envoy with ``forward_client_cert_details: SANITIZE_SET``.
    """
    pairs: dict[str, bytes] = {}
    key = bytearray()
    current = bytearray()
    in_key, quoted, closed, escaped = True, False, False, False
    for octet in value + b";":  # the last pair ends as the others do
        if quoted:
            if escaped:
                current.append(octet)
                escaped = False
            elif octet == _BACKSLASH:
                escaped = True
            elif octet == _QUOTE:
                quoted, closed = False, True
            else:
                current.append(octet)
        elif in_key:
            if octet == _EQUALS:
                in_key = False
            elif octet in _NOT_IN_KEY or (octet == _SEMICOLON and key.strip()):
                raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
            elif octet != _SEMICOLON:  # an empty pair (";;", a trailing ";") is skipped
                key.append(octet)
        elif octet == _SEMICOLON:
            name = key.strip().decode("ascii", "replace").lower()
            if not name or name in pairs:
                raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
            pairs[name] = bytes(current)
            key.clear()
            current.clear()
            in_key, closed = True, False
        elif octet == _QUOTE and not current and not closed:
            quoted = True
        elif octet in (_COMMA, _QUOTE) or closed:
            # A second element, or text after a closing quote: not one value.
            raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
        else:
            current.append(octet)
    if quoted or not in_key:
        raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
    pem = unquote_to_bytes(pairs["cert"]) if pairs.get("cert") else None
    hashed = pairs.get("hash")
    thumbprint = None
    if hashed is not None:
        try:
            if len(hashed) != _SHA256_HEX_CHARACTERS:
                raise ValueError
            thumbprint = _b64url(bytes.fromhex(hashed.decode("ascii")))
        except ValueError:
            raise CertificateRefused(Reason.CERTIFICATE_MALFORMED) from None
    return pem, thumbprint


@dataclass(frozen=True, slots=True)
class ClientCertificates:
    """Where this deployment's requests carry their client certificate (see the module):
    the ``tls`` extension always; ``header`` (lower case, as ASGI gives names) from the
    ``trusted`` peers, in ``header_format`` (``"nginx"`` or ``"envoy"``)."""

    header: bytes | None = None
    header_format: CertificateHeaderFormat = "nginx"
    trusted: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: JWTSettings) -> ClientCertificates:
        """The sources ``JWT_CLIENT_CERT_HEADER`` and ``JWT_TRUSTED_PROXIES`` describe."""
        name = settings.client_cert_header
        if name is None:
            return cls()
        return cls(
            header=name.encode("ascii"),
            header_format=CERTIFICATE_HEADER_FORMATS.get(name, "nginx"),
            trusted=settings.trusted_proxies,
        )

    def thumbprint(self, scope: Scope) -> str:
        """The ``x5t#S256`` of the request's client certificate, or
        :class:`CertificateRefused`: ``certificate_missing`` (none at all),
        ``certificate_untrusted`` (the header from a peer not trusted with it, or a
        certificate the server's TLS verification refused), ``certificate_malformed``."""
        if self.header is not None and self._from_trusted_proxy(scope):
            return self._from_header(scope, self.header)
        tls = _tls_extension(scope)
        if tls is not None:
            if tls.get("client_cert_error") is not None:
                raise CertificateRefused(Reason.CERTIFICATE_UNTRUSTED)
            chain = tls.get("client_cert_chain")
            if chain:
                first = next(iter(chain), None)
                if not isinstance(first, str) or not first.isascii():
                    raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
                return certificate_thumbprint(first.encode("ascii"))
        if self.header is not None and any(name == self.header for name, _ in scope["headers"]):
            raise CertificateRefused(Reason.CERTIFICATE_UNTRUSTED)
        raise CertificateRefused(Reason.CERTIFICATE_MISSING)

    def check(self, scope: Scope, expected: object) -> None:
        """Refuse (:class:`CertificateRefused`) a request whose client certificate is not
        the one ``expected`` (a token's ``cnf.x5t#S256``) names: ``certificate_mismatch``,
        or why there is no certificate to compare (:meth:`thumbprint`). Compared in
        constant time; a thumbprint that is not a string matches nothing."""
        presented = self.thumbprint(scope)
        if not isinstance(expected, str) or not hmac.compare_digest(
            expected.encode("utf-8", "replace"), presented.encode("ascii")
        ):
            raise CertificateRefused(Reason.CERTIFICATE_MISMATCH)

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            peer = ip_address(str(client[0]).split("%", 1)[0])
        except ValueError:  # a Unix socket's path, say: no address to trust
            return False
        return any(peer in network for network in self.trusted)

    def _from_header(self, scope: Scope, header: bytes) -> str:
        value: bytes | None = None
        for name, each in scope["headers"]:
            if name == header:
                if value is not None:
                    raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
                value = each
        if value is None or not value.strip():
            raise CertificateRefused(Reason.CERTIFICATE_MISSING)
        if len(value) > _MAX_HEADER_BYTES:
            raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
        if self.header_format != "envoy":
            return _nginx_thumbprint(value.strip())
        pem, hashed = envoy_certificate(value.strip())
        if pem is None:
            if hashed is None:
                raise CertificateRefused(Reason.CERTIFICATE_MISSING)
            return hashed
        thumbprint = _pem_thumbprint(pem)
        if hashed is not None and not hmac.compare_digest(hashed, thumbprint):
            raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)  # the proxy contradicts itself
        return thumbprint


def _nginx_thumbprint(value: bytes) -> str:
    """The thumbprint of nginx's ``$ssl_client_escaped_cert`` (URL-encoded PEM); a PEM
    that was not encoded (``$ssl_client_cert`` of old, tabs for its line breaks) is no
    header nginx sends today, and refused with the rest."""
    return _pem_thumbprint(unquote_to_bytes(value))


def _pem_thumbprint(pem: bytes) -> str:
    if not pem.lstrip().startswith(_PEM_BEGIN):
        raise CertificateRefused(Reason.CERTIFICATE_MALFORMED)
    return certificate_thumbprint(pem)


def _tls_extension(scope: Scope) -> Mapping[str, Any] | None:
    extensions = scope.get("extensions")
    if not isinstance(extensions, Mapping):
        return None
    tls = extensions.get("tls")
    return tls if isinstance(tls, Mapping) else None
