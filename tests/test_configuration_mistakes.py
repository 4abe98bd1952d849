"""Configuration that used to start quietly and then do the wrong thing is refused at
start-up with a message that names the variables and says what to do instead: a secret
left beside an identity provider's settings, a secret that is evidently not random (a
shell command pasted into ``.env``, a placeholder, a few characters repeated), and a
middleware given its verifier that still read the environment.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from jwt_middleware import ConfigurationError, JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.algorithms import secret_weakness
from tests.helpers import OTHER_SECRET, SECRET, bearer, mint_token, whoami

ISSUER = "https://idp.example/realms/x"

AMBIGUOUS = [
    pytest.param({"secret": SECRET, "issuer": ISSUER}, ("JWT_SECRET", "JWT_ISSUER"), id="issuer"),
    pytest.param(
        {"secret": SECRET, "issuer": [ISSUER, "https://other.example"]},
        ("JWT_SECRET", "JWT_ISSUER"),
        id="issuers",
    ),
    pytest.param(
        {"secret": SECRET, "jwks_url": "https://idp.example/jwks"},
        ("JWT_SECRET", "JWT_JWKS_URL"),
        id="jwks-url",
    ),
]


@pytest.mark.parametrize(("values", "names"), AMBIGUOUS)
def test_a_secret_beside_a_providers_settings_is_refused(
    values: dict[str, object], names: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError) as info:
        JWTSettings(**values)
    message = str(info.value)
    for name in names:
        assert name in message
    assert "remove JWT_SECRET" in message  # and how to choose
    assert SECRET not in message


def test_the_secret_left_in_dotenv_beside_an_issuer_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"JWT_SECRET={SECRET}\n")
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    with pytest.raises(ConfigurationError, match="JWT_SECRET and JWT_ISSUER are both set"):
        JWTSettings()


@pytest.mark.parametrize("algorithm", ["HS256", "HS512"])
def test_an_explicit_hmac_algorithm_says_the_secret_is_meant(algorithm: str) -> None:
    secret = SECRET + OTHER_SECRET
    settings = JWTSettings(secret=secret, issuer=ISSUER, algorithm=algorithm)
    assert settings.is_hmac
    assert settings.discovered_issuers == ()
    assert settings.token_issuer == ISSUER


#: What people put in JWT_SECRET that passes the length check and is no secret at all.
NOT_RANDOM = [
    pytest.param(
        "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')",
        "unexpanded shell command",
        id="readme-shell-line-in-dotenv",
    ),
    pytest.param("${JWT_SECRET_FROM_VAULT_AT_DEPLOY_TIME_PLEASE}", "shell", id="shell-variable"),
    pytest.param("`openssl rand -base64 32 | tr -d newline-chars`", "shell", id="backticks"),
    pytest.param("<your-secret-of-at-least-32-characters>", "template", id="angle-brackets"),
    pytest.param("{{ .Values.jwt.secret | default secretvalue }}", "template", id="helm"),
    pytest.param("changeme-changeme-changeme-changeme-1", "placeholder", id="changeme"),
    pytest.param("your-256-bit-secret-goes-right-here-ok", "placeholder", id="your-secret"),
    pytest.param("replace-me-with-a-real-secret-before-prod", "placeholder", id="replace-me"),
    pytest.param("x" * 40, "placeholder", id="xxxx"),
    pytest.param("k" * 64, "repeated", id="one-character"),
    pytest.param("ab" * 20, "repeated", id="two-characters"),
    pytest.param("passwordpasswordpasswordpassword", "repeated", id="repeated-word"),
    pytest.param("0123456789" * 4, "repeated", id="repeated-digits"),
    pytest.param("aaaaaaaaaaaabbbbbbbbbbbbcccccccccccc", "repeated", id="three-runs"),
    pytest.param("abcdefghijklmnopqrstuvwxyz012345", "predictable", id="alphabet"),
    pytest.param("aaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghij", "predictable", id="low-entropy"),
]


@pytest.mark.parametrize(("secret", "says"), NOT_RANDOM)
def test_a_secret_that_is_evidently_not_random_is_refused(secret: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        JWTSettings(secret=secret)
    message = str(info.value)
    assert message.startswith("JWT_SECRET is ")
    assert says in message
    assert "secrets.token_urlsafe" in message  # how to make one
    assert secret not in message


@pytest.mark.parametrize(("secret", "says"), NOT_RANDOM[:4])
def test_and_so_is_a_previous_secret(secret: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match="JWT_PREVIOUS_SECRETS is "):
        JWTSettings(secret=SECRET, previous_secrets=[secret])


def test_the_readme_shell_line_pasted_into_dotenv_does_not_start(tmp_path: Path) -> None:
    line = (
        """export JWT_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\""""
    )
    (tmp_path / ".env").write_text(line + "\n")
    with pytest.raises(ConfigurationError, match="unexpanded shell command"):
        JWTSettings()


def _alphabet_secret(alphabet: str, length: int) -> Callable[[random.Random], str]:
    return lambda rng: "".join(rng.choice(alphabet) for _ in range(length))


def _b64(nbytes: int, *, urlsafe: bool) -> Callable[[random.Random], str]:
    def make(rng: random.Random) -> str:
        data = rng.randbytes(nbytes)
        if urlsafe:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        return base64.b64encode(data).decode()

    return make


#: What the usual generators print (secrets.token_urlsafe / token_hex, openssl rand).
GENERATED = [
    pytest.param(_b64(32, urlsafe=True), id="token_urlsafe-32"),
    pytest.param(_b64(64, urlsafe=True), id="token_urlsafe-64"),
    pytest.param(_alphabet_secret(string.hexdigits[:16], 32), id="token_hex-16"),
    pytest.param(_alphabet_secret(string.hexdigits[:16], 64), id="token_hex-32"),
    pytest.param(_b64(24, urlsafe=False), id="openssl-base64-24"),
    pytest.param(_b64(32, urlsafe=False), id="openssl-base64-32"),
    pytest.param(_alphabet_secret(string.digits, 32), id="32-digits"),
]


@pytest.mark.parametrize("generate", GENERATED)
def test_what_a_generator_prints_is_never_refused(generate: Callable[[random.Random], str]) -> None:
    rng = random.Random(20261206)  # fixed: a failure names a secret that can be looked at
    refused = [s for s in (generate(rng) for _ in range(20_000)) if secret_weakness(s)]
    assert refused == []


def test_a_given_verifier_needs_no_environment(tmp_path: Path) -> None:
    # No JWT_* variable and no .env (the suite's fixtures see to both): only the verifier.
    verifier = TokenVerifier(JWTSettings(secret=SECRET))
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(JWTAuthMiddleware, verifier=verifier)
    with TestClient(app) as client:
        assert client.get("/private", headers=bearer(mint_token())).status_code == 200
        refused = client.get("/private")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="api"'
