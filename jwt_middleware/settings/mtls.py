"""Certificate-bound tokens (RFC 8705 section 3): what turns them on, and where the TLS
client certificate comes from when a proxy in front ends TLS (its header, trusted only
from its own addresses). Every value is checked here, so a configuration that cannot work
stops start-up with the variable to set. See ``docs/mtls.md``."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Final, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from ..errors import ConfigurationError
from .base import SettingsBase
from .header import token_header_name

__all__ = ["CERTIFICATE_HEADER_FORMATS", "CertificateHeaderFormat", "MTLSSettings", "Network"]

#: An address or a range of them (``10.0.0.7``, ``10.0.0.0/8``, ``::1``).
Network = IPv4Network | IPv6Network
#: How a proxy writes the certificate: nginx's ``$ssl_client_escaped_cert`` (URL-encoded
#: PEM), or Envoy's ``x-forwarded-client-cert`` (``Hash=...;Cert="..."``).
CertificateHeaderFormat = Literal["nginx", "envoy"]
#: The header that carries Envoy's (and Istio's) format; any other header name is read as
#: nginx's.
CERTIFICATE_HEADER_FORMATS: Final[dict[str, CertificateHeaderFormat]] = {
    "x-forwarded-client-cert": "envoy"
}


def _networks(value: object) -> object:
    """``JWT_TRUSTED_PROXIES``: addresses and CIDR ranges, separated by commas or spaces
    (or a list of them)."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if isinstance(value, list | tuple):
        return tuple(_network(item) for item in value)
    return value


def _network(value: object) -> Network:
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    try:
        return ip_network(str(value).strip(), strict=True)
    except ValueError:
        raise ValueError(
            "JWT_TRUSTED_PROXIES must list IP addresses or CIDR ranges (10.0.0.0/8), "
            "without host bits set in a range"
        ) from None


Networks = Annotated[tuple[Network, ...], NoDecode, BeforeValidator(_networks)]


class MTLSSettings(SettingsBase):
    """Certificate-bound tokens are refused unless ``JWT_MTLS_ENABLED=true``; then a token
    whose ``cnf`` has ``x5t#S256`` is accepted with the TLS client certificate it names
    (and, with ``JWT_MTLS_REQUIRED=true``, no other token is)."""

    mtls_enabled: bool = Field(
        default=False,
        description="Accept certificate-bound tokens (RFC 8705) with the TLS client "
        "certificate they name.",
    )
    mtls_required: bool = Field(
        default=False,
        description="Refuse every token not bound to the request's TLS client certificate.",
    )
    client_cert_header: str | None = Field(
        default=None,
        description="Header a TLS-terminating proxy puts the client certificate in "
        "(nginx's $ssl_client_escaped_cert, or x-forwarded-client-cert from Envoy).",
    )
    trusted_proxies: Networks = Field(
        default=(),
        description="Addresses (IPs, CIDR ranges) of the proxies whose client-certificate "
        "header is believed.",
    )

    @field_validator("client_cert_header")
    @classmethod
    def _header_is_a_header_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return token_header_name(value)
        except ConfigurationError:
            raise ValueError(
                "JWT_CLIENT_CERT_HEADER must be an HTTP header name the proxy sets, not one "
                "with a meaning of its own"
            ) from None

    @model_validator(mode="after")
    def _mtls_can_work(self) -> Self:
        if not self.mtls_enabled:
            for name in ("mtls_required", "client_cert_header", "trusted_proxies"):
                if getattr(self, name):
                    raise ValueError(f"JWT_{name.upper()} needs JWT_MTLS_ENABLED=true")
            return self
        if self.client_cert_header is not None and not self.trusted_proxies:
            raise ValueError(
                "JWT_CLIENT_CERT_HEADER needs JWT_TRUSTED_PROXIES: the addresses of the proxies "
                "that set it (anyone else could send it)"
            )
        if self.trusted_proxies and self.client_cert_header is None:
            raise ValueError(
                "JWT_TRUSTED_PROXIES is only for JWT_CLIENT_CERT_HEADER: name the header "
                "the proxies put the client certificate in"
            )
        return self
