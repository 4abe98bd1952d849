"""The settings and requests of the certificate-bound tests: a proxy at a known address,
and a request as a server hands it to the app, from a chosen peer, with the headers and
the ``tls`` extension chosen."""

from __future__ import annotations

from typing import Any, Final

from jwt_middleware import JWTSettings
from tests.asgi import http_scope
from tests.helpers import SECRET, mint_token
from tests.mtls.certificates import PKI

#: The proxy's address, in ``JWT_TRUSTED_PROXIES``; a client's, not in it.
PROXY: Final = "10.0.0.7"
CLIENT: Final = "203.0.113.9"
NGINX_HEADER: Final = "x-ssl-client-cert"
ENVOY_HEADER: Final = "x-forwarded-client-cert"
#: A token bound to alice's certificate.
ALICE_TOKEN: Final = mint_token("alice", cnf={"x5t#S256": PKI.alice.x5t})


def mtls_settings(header: str | None = None, **changes: Any) -> JWTSettings:
    """Certificate-bound tokens on, with ``changes``; with ``header``, read from the
    proxies of ``10.0.0.0/24`` (``PROXY`` among them) unless ``changes`` name others."""
    values: dict[str, Any] = {"secret": SECRET, "mtls_enabled": True}
    if header is not None:
        values |= {"client_cert_header": header, "trusted_proxies": "10.0.0.0/24"}
    return JWTSettings(**(values | changes))


def tls(*chain: str, error: str | None = None) -> dict[str, Any]:
    """The ``tls`` extension of a connection whose client presented ``chain``."""
    return {"tls": {"client_cert_chain": list(chain), "client_cert_error": error}}


def request(
    token: str = ALICE_TOKEN,
    *,
    peer: str = CLIENT,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
    path: str = "/private",
) -> dict[str, Any]:
    """A request from ``peer`` with ``token`` as a bearer token and ``headers`` (their
    names lower case, as servers hand them)."""
    sent = [(b"host", b"api.example.com"), (b"authorization", f"Bearer {token}".encode())]
    sent += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    scope = http_scope(path, headers=sent, extensions=extensions)
    scope["client"] = (peer, 40000)
    return scope
