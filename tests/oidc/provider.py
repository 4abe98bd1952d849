"""A real, independently written OpenID provider on loopback for the identity-provider tests.

:class:`OpenIDProvider` runs panva's certified ``oidc-provider`` (Node.js, pinned in
``tests/oidc/package-lock.json``) through ``tests/oidc/provider.mjs``: real discovery, a real
JWKS, real RFC 9068 JWT access tokens by RFC 8707 resource indicator (DPoP-bound ones, RFC
9449, when the token request carries a proof), and real id_tokens from an authorization code
flow driven over plain HTTP. Nothing about issuance is mocked; the harness only adds switches
around the metadata documents and a request counter.

Node.js and the npm packages come from :func:`tests.oidc.node.ensure_node`: installed from the
lockfile on first use; without Node.js the tests skip on a developer machine and fail in CI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.oidc.node import OIDC_DIR, ensure_node

SCRIPT: Final = OIDC_DIR / "provider.mjs"
START_TIMEOUT_SECONDS: Final = 20.0
STOP_TIMEOUT_SECONDS: Final = 5.0
HTTP_TIMEOUT_SECONDS: Final = 10.0
# The harness's own requests (readiness, metadata, the login pages) stay out of the counters.
_INTERNAL: Final = {"x-harness-internal": "1"}
_MAX_INTERACTION_STEPS: Final = 10

SERVICE_CLIENT_ID: Final = "service-client"
"""The client_credentials client."""
WEB_CLIENT_ID: Final = "web-client"
"""The authorization code client (id_tokens)."""

JWK = dict[str, str]

RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_CURVES: Final = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
SIGNING_ALGORITHMS: Final = (*RSA_ALGORITHMS, *EC_CURVES, "EdDSA")
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


def generate_jwk(alg: str, kid: str) -> JWK:
    """A new private signing JWK for ``alg`` with ``kid``, ``alg`` and ``use: sig``.

    RSA keys are 2048 bits; ES512 is P-521; EdDSA is Ed25519. The ``alg`` member binds the
    key to that one algorithm in the provider (an RSA key without it would serve RS* and PS*).
    """
    if alg in RSA_ALGORITHMS:
        jwk = RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048), as_dict=True)
    elif alg in EC_CURVES:
        curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        jwk = ECAlgorithm.to_jwk(ec.generate_private_key(curve[EC_CURVES[alg]]), as_dict=True)
    elif alg == "EdDSA":
        jwk = OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate(), as_dict=True)
    else:
        raise ValueError(f"unsupported algorithm {alg!r}; one of {', '.join(SIGNING_ALGORITHMS)}")
    # PyJWT marks private keys key_ops ["sign"]; the provider would publish that on the
    # public key, where a strict verifier would (rightly) refuse it for verification.
    jwk.pop("key_ops", None)
    members = {name: str(value) for name, value in jwk.items()}
    return {**members, "kid": kid, "alg": alg, "use": "sig"}


def public_jwk(jwk: Mapping[str, str]) -> JWK:
    """The public part of a private JWK (what the provider publishes at its jwks_uri)."""
    return {name: value for name, value in jwk.items() if name not in _PRIVATE_MEMBERS}


def _key_fits(jwk: Mapping[str, str], alg: str) -> bool:
    """Whether the provider can sign ``alg`` with ``jwk`` (its own selection rules)."""
    if "alg" in jwk and jwk["alg"] != alg:
        return False
    if alg in RSA_ALGORITHMS:
        return jwk.get("kty") == "RSA"
    if alg in EC_CURVES:
        return jwk.get("kty") == "EC" and jwk.get("crv") == EC_CURVES[alg]
    return alg == "EdDSA" and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519"


@dataclass(frozen=True)
class ResourceServer:
    """What the provider issues for one RFC 8707 resource indicator: RFC 9068 JWT access
    tokens with ``aud`` = the indicator, signed with ``alg`` (by the key ``kid`` if given,
    else the first key in the set that fits), carrying the requested scopes that are in
    ``scope`` (space-separated; the others are dropped, as the provider does)."""

    alg: str
    scope: str = ""
    kid: str | None = None
    access_token_ttl_seconds: int = 300
    #: ``"opaque"``: opaque access tokens instead, checked by introspection.
    access_token_format: str = "jwt"


@dataclass(frozen=True)
class ProviderConfig:
    """Everything a restart may change; the port and the issuer stay.

    ``keys`` are private JWKs, published (public part) in this order. ``id_token_alg``
    defaults to the first key's ``alg``. ``openid_discovery=False`` answers 404 at
    ``<issuer>/.well-known/openid-configuration``, leaving the RFC 8414 location;
    ``metadata_issuer`` makes both metadata documents claim that issuer instead of the real
    one (tokens keep the real one).

    ``dynamic_registration=True`` opens RFC 7591 dynamic client registration (no initial
    access token), as MCP clients use it; its ``registration_endpoint`` is in the metadata.
    ``scopes`` are scope values the provider supports besides ``openid`` and
    ``offline_access``: they are in ``scopes_supported``, and only these may be in a
    registration's ``scope``. A resource server's scopes must be listed here for a client
    to register for them; tokens still carry a scope only for the resources that have it.
    ``extra_clients`` are more clients' metadata, registered as given (resource servers
    that introspect tokens with their own ``token_endpoint_auth_method``).
    ``mtls_certificate_header`` turns on the provider's mTLS feature: a client registered
    with ``tls_client_certificate_bound_access_tokens`` gets tokens bound to the certificate
    (RFC 8705), read from that header as URL-encoded PEM, as a proxy in front would pass it.
    """

    keys: Sequence[JWK]
    resources: Mapping[str, ResourceServer] = field(default_factory=dict)
    id_token_alg: str | None = None
    openid_discovery: bool = True
    metadata_issuer: str | None = None
    dynamic_registration: bool = False
    scopes: Sequence[str] = ()
    extra_clients: Sequence[Mapping[str, object]] = ()
    mtls_certificate_header: str | None = None

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("the provider needs at least one signing key")
        kids = [key.get("kid") for key in self.keys]
        if None in kids or len(set(kids)) != len(kids):
            raise ValueError("every key needs a kid of its own")
        wanted: list[tuple[str, str | None]] = [(self.signing_alg_for_id_tokens, None)]
        wanted += [(server.alg, server.kid) for server in self.resources.values()]
        for alg, kid in wanted:
            if not any(_key_fits(key, alg) and kid in (None, key["kid"]) for key in self.keys):
                raise ValueError(f"no key for {alg}" + (f" with kid {kid!r}" if kid else ""))

    @property
    def signing_alg_for_id_tokens(self) -> str:
        return self.id_token_alg or self.keys[0].get("alg", "RS256")


@dataclass(frozen=True)
class HarnessStats:
    """GET requests the provider received since it started or :meth:`reset_stats`.

    ``paths`` counts every GET path (not the harness's own requests), so a test can also see
    where a client looked that it should not have; ``posts`` every POST path (the token
    and introspection endpoints).
    """

    jwks: int
    openid_configuration: int
    oauth_authorization_server: int
    paths: Mapping[str, int]
    posts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeFlowTokens:
    """The token endpoint's answer to an authorization code exchange."""

    id_token: str
    access_token: str
    scope: str


class _FormParser(HTMLParser):
    """The action and the inputs of the first form of a page (the devInteractions pages
    have exactly one)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and not self._done:
            self.action = values.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and "name" in values:
            self.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


class OpenIDProvider:
    """``oidc-provider`` in a child process on ``127.0.0.1``; a context manager.

    ``issuer_path`` ("" or like ``"/realms/test"``) is where the provider is mounted; the
    issuer is ``http://127.0.0.1:<port><issuer_path>``. ``port=0`` takes any free port (bound
    by the provider itself, so no other process can take it in between); the port and so the
    issuer are kept across :meth:`restart` and :meth:`stop` / :meth:`start`. The counters of
    :meth:`stats` start at zero with each process.
    """

    def __init__(self, config: ProviderConfig, *, issuer_path: str = "", port: int = 0) -> None:
        if issuer_path and (not issuer_path.startswith("/") or issuer_path.endswith("/")):
            raise ValueError('issuer_path must be "" or start with "/" and not end with "/"')
        self.config = config
        self.issuer_path = issuer_path
        self._port = port
        self._workdir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self._service_secret = secrets.token_urlsafe(32)
        self._web_secret = secrets.token_urlsafe(32)
        self._cookie_keys = [secrets.token_urlsafe(32)]
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._metadata: dict[str, object] = {}
        self._http = httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT_SECONDS)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- where it is ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the provider has not been started")
        return self._port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.origin}{self.issuer_path}"

    @property
    def discovery_url(self) -> str:
        """OpenID Connect Discovery: ``<issuer>/.well-known/openid-configuration``."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def oauth_metadata_url(self) -> str:
        """RFC 8414 section 3.1: the well-known part goes between the host and the path."""
        return f"{self.origin}/.well-known/oauth-authorization-server{self.issuer_path}"

    @property
    def jwks_uri(self) -> str:
        return self._endpoint("jwks_uri")

    @property
    def token_endpoint(self) -> str:
        return self._endpoint("token_endpoint")

    @property
    def introspection_endpoint(self) -> str:
        return self._endpoint("introspection_endpoint")

    @property
    def service_client(self) -> tuple[str, str]:
        """The client_credentials client: (client_id, client_secret)."""
        return SERVICE_CLIENT_ID, self._service_secret

    @property
    def web_client(self) -> tuple[str, str]:
        """The authorization code client: (client_id, client_secret)."""
        return WEB_CLIENT_ID, self._web_secret

    @property
    def registration_endpoint(self) -> str:
        """RFC 7591 dynamic client registration (with ``dynamic_registration=True`` only)."""
        return self._endpoint("registration_endpoint")

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/__harness/callback"

    def log(self) -> str:
        """What the provider wrote on stderr (its warnings and server errors)."""
        path = self._workdir / "provider.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _endpoint(self, name: str) -> str:
        value = self._metadata.get(name)
        if not isinstance(value, str):
            raise RuntimeError(f"the provider's metadata has no {name}")
        return value

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and wait until its metadata answers; raise with its log if not."""
        if self._process is not None:
            raise RuntimeError("the provider is already running")
        node = ensure_node()
        config_path = self._workdir / "config.json"
        config_path.write_text(json.dumps(self._config_document()))
        ready_path = self._workdir / "ready.json"
        ready_path.unlink(missing_ok=True)
        self._log_file = (self._workdir / "provider.log").open("ab")
        with ready_path.open("wb") as ready_file:
            self._process = subprocess.Popen(  # noqa: S603 - node on PATH, our own script
                [node, str(SCRIPT), str(config_path)],
                cwd=OIDC_DIR,
                stdin=subprocess.PIPE,  # the provider exits when this closes
                stdout=ready_file,
                stderr=self._log_file,
            )
        try:
            self._wait_ready(ready_path)
        except BaseException:
            self.stop()
            raise

    def _config_document(self) -> dict[str, object]:
        config = self.config
        return {
            "port": self._port,
            "issuer_path": self.issuer_path,
            "jwks": {"keys": list(config.keys)},
            "id_token_alg": config.signing_alg_for_id_tokens,
            "resources": {
                indicator: {
                    "alg": server.alg,
                    "kid": server.kid,
                    "scope": server.scope,
                    "access_token_ttl_seconds": server.access_token_ttl_seconds,
                    "access_token_format": server.access_token_format,
                }
                for indicator, server in config.resources.items()
            },
            "clients": {
                "service": {"client_id": SERVICE_CLIENT_ID, "client_secret": self._service_secret},
                "web": {"client_id": WEB_CLIENT_ID, "client_secret": self._web_secret},
            },
            "cookie_keys": self._cookie_keys,
            "openid_discovery": config.openid_discovery,
            "metadata_issuer": config.metadata_issuer,
            "dynamic_registration": config.dynamic_registration,
            "scopes": list(config.scopes),
            "extra_clients": [dict(client) for client in config.extra_clients],
            "mtls_certificate_header": config.mtls_certificate_header,
        }

    def _wait_ready(self, ready_path: Path) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited with {process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider not ready in time:\n{self.log()}")
            line = ready_path.read_text()
            if line.endswith("\n"):
                ready = json.loads(line)
                self._port = int(ready["port"])
                if ready["issuer"] != self.issuer:
                    raise RuntimeError(f"issuer {ready['issuer']} is not {self.issuer}")
                break
            time.sleep(0.02)
        # The line comes once it listens; "ready" is the metadata answering, which is also
        # where the endpoints come from. RFC 8414's location works with either switch.
        while True:
            try:
                response = self._http.get(self.oauth_metadata_url, headers=_INTERNAL)
                if response.status_code == 200:
                    self._metadata = response.json()
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider metadata does not answer:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL); the port is free afterwards. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
            if process.stdin is not None:
                process.stdin.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self, config: ProviderConfig | None = None) -> None:
        """Stop, then start with ``config`` (or the same one) on the same port and issuer:
        a key rotation is ``restart(replace(config, keys=[new_key, *config.keys]))``."""
        self.stop()
        if config is not None:
            self.config = config
        self.start()

    def close(self) -> None:
        """Stop the process and remove its working folder."""
        self.stop()
        self._http.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    # -- tokens -----------------------------------------------------------------------------

    def client_credentials_token(self, resource: str, scope: str = "") -> str:
        """An RFC 9068 access token for ``resource`` from the client_credentials grant."""
        return str(self.client_credentials_answer(resource, scope)["access_token"])

    def client_credentials_answer(
        self, resource: str, scope: str = "", *, dpop_proof: str | None = None
    ) -> dict[str, object]:
        """The token endpoint's whole answer to a client_credentials request for
        ``resource``; with ``dpop_proof`` (a proof for ``POST`` to :attr:`token_endpoint`,
        made by the client) sent as its ``DPoP`` header, a DPoP-bound token
        (``token_type`` ``DPoP``, ``cnf.jkt`` in a JWT access token)."""
        form = {"grant_type": "client_credentials", "resource": resource}
        if scope:
            form["scope"] = scope
        headers = {} if dpop_proof is None else {"DPoP": dpop_proof}
        response = self._http.post(
            self.token_endpoint, data=form, headers=headers, auth=self.service_client
        )
        return self._token_answer(response)

    def authorization_code_tokens(
        self, *, login: str = "user-1", scope: str = "openid", resource: str | None = None
    ) -> CodeFlowTokens:
        """Log ``login`` in through the provider's own login and consent pages and exchange
        the code (with PKCE): ``/auth`` → ``/interaction/<uid>`` → login form → consent form
        → redirect with the code → ``/token``. ``resource`` asks for a JWT access token for
        that resource server instead of the opaque one for the userinfo endpoint.
        """
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        query = {
            "client_id": WEB_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        if resource is not None:
            query["resource"] = resource
        # A client of its own: the login's cookies belong to this flow only.
        with httpx.Client(
            trust_env=False, timeout=HTTP_TIMEOUT_SECONDS, headers=_INTERNAL
        ) as browser:
            response = browser.get(self._endpoint("authorization_endpoint"), params=query)
            code = self._drive_interaction(browser, response, login, state)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        if resource is not None:
            form["resource"] = resource
        answer = self._token_answer(
            self._http.post(self.token_endpoint, data=form, auth=self.web_client)
        )
        return CodeFlowTokens(
            id_token=str(answer["id_token"]),
            access_token=str(answer["access_token"]),
            scope=str(answer.get("scope", "")),
        )

    def id_token(self, login: str = "user-1") -> str:
        """An id_token for the web client, ``sub`` = ``login``."""
        return self.authorization_code_tokens(login=login).id_token

    def follow_authorization(
        self, authorization_url: str, *, redirect_uri: str, login: str = "user-1"
    ) -> dict[str, str]:
        """What a user's browser does with the authorization URL a client opens: log
        ``login`` in and consent on the provider's own pages, up to the redirect to
        ``redirect_uri`` (never requested); the query parameters of that redirect.

        Nothing in them is checked here (``code`` or ``error``, ``state``, ``iss``): that is
        the client's job, and the client is what a test of this method tests.
        """
        with httpx.Client(
            trust_env=False, timeout=HTTP_TIMEOUT_SECONDS, headers=_INTERNAL
        ) as browser:
            response = browser.get(authorization_url)
            location = self._interact(browser, response, login, redirect_uri)
        return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}

    def _drive_interaction(
        self, browser: httpx.Client, response: httpx.Response, login: str, state: str
    ) -> str:
        """The code from the redirect to the web client, its state and iss checked."""
        location = self._interact(browser, response, login, self.redirect_uri)
        params = parse_qs(urlsplit(location).query)
        if "code" not in params:
            raise RuntimeError(f"authorization failed: {params}\n{self.log()}")
        if params.get("state") != [state] or params.get("iss") != [self.issuer]:
            raise RuntimeError(f"unexpected state or iss in {params}")
        return params["code"][0]

    def _interact(
        self, browser: httpx.Client, response: httpx.Response, login: str, redirect_uri: str
    ) -> str:
        """Follow redirects, fill in each page's form, until the redirect to
        ``redirect_uri``; its URL."""
        for _ in range(_MAX_INTERACTION_STEPS):
            if response.is_redirect:
                location = str(response.url.join(response.headers["location"]))
                if location.startswith(redirect_uri):
                    return location
                response = browser.get(location)
                continue
            if response.status_code != 200:
                raise RuntimeError(
                    f"{response.request.url} answered {response.status_code}:\n"
                    f"{response.text[:2000]}\n{self.log()}"
                )
            page = _FormParser()
            page.feed(response.text)
            if page.action is None:
                raise RuntimeError(f"no form at {response.request.url}")
            fields = dict(page.fields)
            if fields.get("prompt") == "login":
                # devInteractions accepts any login (it becomes the subject) and any password.
                fields.update(login=login, password="any-password")
            response = browser.post(response.url.join(page.action), data=fields)
        raise RuntimeError(f"no code after {_MAX_INTERACTION_STEPS} steps")

    def _token_answer(self, response: httpx.Response) -> dict[str, object]:
        if response.status_code != 200:
            raise RuntimeError(
                f"token endpoint answered {response.status_code}: {response.text}\n{self.log()}"
            )
        answer: dict[str, object] = response.json()
        return answer

    # -- counters ---------------------------------------------------------------------------

    def stats(self) -> HarnessStats:
        """GETs of the jwks_uri and the two metadata documents (and of every path)."""
        data = self._http.get(f"{self.origin}/__harness/stats").raise_for_status().json()
        return HarnessStats(
            jwks=int(data["jwks"]),
            openid_configuration=int(data["openid_configuration"]),
            oauth_authorization_server=int(data["oauth_authorization_server"]),
            paths={str(path): int(count) for path, count in data["paths"].items()},
            posts={str(path): int(count) for path, count in data["posts"].items()},
        )

    def reset_stats(self) -> None:
        self._http.delete(f"{self.origin}/__harness/stats").raise_for_status()
