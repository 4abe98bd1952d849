"""How this service authenticates to an introspection endpoint (RFC 7662 section 2.1 leaves
it to the server; RFC 6749 section 2.3 and RFC 7523 say how): ``client_secret_basic``,
``client_secret_post`` or ``private_key_jwt``, made once from the settings."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any, Final
from urllib.parse import quote_plus

import jwt

from ..algorithms import read_key
from ..settings import JWTSettings

__all__ = ["ClientAuthentication"]

#: How long a client assertion (``private_key_jwt``) is valid.
_ASSERTION_SECONDS: Final = 60
_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientAuthentication:
    """How this service proves itself to the endpoint, made once from the settings:
    ``client_secret_basic`` (the default), ``client_secret_post`` or ``private_key_jwt``
    (a fresh assertion per call, signed with ``JWT_INTROSPECTION_PRIVATE_KEY``, for
    ``audience``: the issuer, else the endpoint)."""

    __slots__ = ("_algorithm", "_client_id", "_headers", "_key", "_kid", "_static", "method")

    def __init__(self, settings: JWTSettings) -> None:
        client_id = settings.introspection_client_id
        assert client_id is not None  # introspection is on only with one
        self.method = settings.introspection_auth_method
        self._client_id = client_id
        self._headers: dict[str, str] = {}
        self._static: dict[str, str] = {}
        self._key: Any = None
        self._algorithm = ""
        self._kid = settings.introspection_key_id
        secret = settings.introspection_client_secret
        if self.method == "client_secret_basic":
            assert secret is not None
            # RFC 6749 section 2.3.1: both form-encoded before they are joined.
            pair = f"{quote_plus(client_id)}:{quote_plus(secret.get_secret_value())}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif self.method == "client_secret_post":
            assert secret is not None
            self._static = {"client_id": client_id, "client_secret": secret.get_secret_value()}
        else:
            assert settings.introspection_private_key is not None
            self._algorithm = settings.introspection_signing_algorithm()
            self._key = read_key(
                settings.introspection_private_key.get_secret_value(),
                "JWT_INTROSPECTION_PRIVATE_KEY",
                private=True,
            )

    def parts(self, audience: str) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and form members that authenticate one call."""
        if self._key is None:
            return self._headers, self._static
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self._client_id,
                "sub": self._client_id,
                "aud": audience,
                "jti": secrets.token_urlsafe(18),
                "iat": now,
                "exp": now + _ASSERTION_SECONDS,
            },
            self._key,
            algorithm=self._algorithm,
            headers={"kid": self._kid} if self._kid is not None else None,
        )
        form = {
            "client_id": self._client_id,
            "client_assertion_type": _ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return {}, form

    def __repr__(self) -> str:
        return f"ClientAuthentication({self.method!r})"  # never the secret
