"""A certificate authority, a server certificate for 127.0.0.1 and client certificates,
made by the tests with ``cryptography``; what RFC 8705 binds a token to (``x5t#S256``),
computed here with ``hashlib`` on the DER bytes, independently of the library; and the
headers a TLS-terminating proxy sets (nginx's ``$ssl_client_escaped_cert``, Envoy's
``x-forwarded-client-cert``)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """A certificate and its key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    name: str

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write the certificate and its key (PEM) into ``folder``; their paths."""
        stem = self.name.replace(" ", "-")
        cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
        cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def x5t(self) -> str:
        """RFC 8705 section 3.1: base64url (no padding) of SHA-256 of the DER certificate."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()

    @property
    def sha256_hex(self) -> str:
        """What Envoy's ``Hash=`` holds."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def nginx_header(self) -> str:
        """``$ssl_client_escaped_cert``: the PEM, URL-encoded as nginx does it."""
        return quote(self.pem, safe="")

    def envoy_header(self, *, cert: bool = True, hashed: bool = True) -> str:
        """``x-forwarded-client-cert`` as Envoy sets it with ``SANITIZE_SET``."""
        parts = ["By=spiffe://cluster.local/ns/default/sa/api"]
        if hashed:
            parts.append(f"Hash={self.sha256_hex}")
        if cert:
            parts.append(f'Cert="{quote(self.pem, safe="")}"')
        parts.append('Subject="CN=client,OU=a;b"')
        parts.append("URI=spiffe://cluster.local/ns/default/sa/client")
        return ";".join(parts)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def authority(name: str = "test CA") -> Issued:
    """A self-signed certificate authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _builder(name, _name(name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key, name)


def issue(ca: Issued, name: str, *, server: bool = False) -> Issued:
    """A certificate ``ca`` signs: for TLS servers on 127.0.0.1, or for TLS clients."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(name, ca.certificate.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key, name)


@dataclass(frozen=True)
class Pki:
    """One CA, the server's certificate, and two clients' (alice's and mallory's)."""

    ca: Issued
    server: Issued
    alice: Issued
    mallory: Issued


def make_pki() -> Pki:
    ca = authority()
    return Pki(
        ca=ca,
        server=issue(ca, "127.0.0.1", server=True),
        alice=issue(ca, "alice"),
        mallory=issue(ca, "mallory"),
    )


#: The tests' own, made once at import: key generation is what costs.
PKI: Final = make_pki()
