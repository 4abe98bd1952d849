"""``JWTSettings``: configuration from the environment, validated once at start-up."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Any, Final, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from .algorithms import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    MIN_SECRET_LENGTH,
    Algorithm,
    algorithm_for_key,
    check_key_fits,
    key_fits,
    load_private_key,
    read_key,
    secret_hint,
    secret_weakness,
)
from .errors import ConfigurationError

__all__ = ["IssuerSettings", "JWTSettings", "parse_duration"]

_SETTINGS_ERROR_FIELD: Final = re.compile(r'field "([a-z_]+)"')
# RFC 7230 quoted-string content we are willing to emit in WWW-Authenticate.
_REALM: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
# RFC 9728 section 1.2: an https URL with no fragment (and, for us, no query or quotes, as it
# goes into a quoted-string of WWW-Authenticate). Plain http only on loopback, for development.
_RESOURCE: Final = re.compile(
    r"(?:https://[^\s\"\\#?]+|http://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?(?:/[^\s\"\\#?]*)?)"
)
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DEFAULT_ACCESS_LIFETIME: Final = timedelta(days=7)
_DEFAULT_REFRESH_LIFETIME: Final = timedelta(days=30)


def parse_duration(value: object) -> object:
    """``"900"``, ``"900s"``, ``"15m"``, ``"12h"``, ``"7d"`` as a ``timedelta``; anything else
    (a number of seconds, a ``timedelta``, ISO 8601 such as ``"PT15M"``) goes on to
    pydantic unchanged."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        number, unit = match.groups()
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return value


#: A positive lifetime, written as seconds or with a unit (``15m``).
Lifetime = Annotated[timedelta, BeforeValidator(parse_duration)]


def _one_or_list(value: object) -> object:
    """``JWT_ISSUER`` and ``JWT_AUDIENCE`` are one value, or a JSON list of them."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("not valid JSON") from None
    return value


class IssuerSettings(BaseModel):
    """One accepted issuer, with what is particular to it.

    ``audience`` and ``algorithms`` replace the global ``JWT_AUDIENCE`` and
    ``JWT_ALGORITHMS`` for tokens of this issuer; ``jwks_url`` replaces discovery. Written
    in ``JWT_ISSUER`` as a JSON object in the list, e.g.
    ``[{"issuer": "https://login.microsoftonline.com/<tenant>/v2.0", "audience": "api://x"}]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1)
    audience: str | list[str] | None = None
    algorithms: list[Algorithm] | None = Field(default=None, min_length=1)
    jwks_url: str | None = None

    @property
    def audiences(self) -> tuple[str, ...] | None:
        return _as_tuple(self.audience)


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


Issuers = Annotated[
    str | list[str | IssuerSettings] | None, NoDecode, BeforeValidator(_one_or_list)
]
Audiences = Annotated[str | list[str] | None, NoDecode, BeforeValidator(_one_or_list)]
#: A claim named by a dotted path (``realm_access.roles``) or a list of keys for names that
#: contain dots themselves (``["resource_access", "my.client", "roles"]``).
ClaimPath = str | tuple[str, ...]


class JWTSettings(BaseSettings):
    """Everything the middleware and the token helpers need, read from ``JWT_*`` variables.

    Values come from the environment first, then from a ``.env`` file in the working folder.
    Anything invalid raises :class:`~jwt_middleware.errors.ConfigurationError`, whose message
    names each environment variable to fix (``JWT_EXPIRY_DAYS``, not ``expiry_days``) and
    never includes the offending input, so a secret that is too short is not echoed into a
    log.

    Where the verification keys come from follows from what is set: ``JWT_SECRET`` (HMAC);
    ``JWT_PUBLIC_KEY``/``JWT_PUBLIC_KEYS``/``JWT_PRIVATE_KEY`` (static key pairs);
    ``JWT_JWKS_URL``; or, with none of those, ``JWT_ISSUER`` alone: each issuer's keys are
    discovered from its metadata (OpenID Connect discovery, else RFC 8414).
    """

    model_config = SettingsConfigDict(
        env_prefix="JWT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    secret: SecretStr | None = Field(
        default=None, description="HMAC signing and verification secret (JWT_SECRET)."
    )
    previous_secrets: tuple[SecretStr, ...] = Field(
        default=(), description="Retired HMAC secrets that still verify during a rotation."
    )
    algorithm: Algorithm = Field(
        default="HS256",
        description="The algorithm tokens are signed with (and verified with, by default).",
    )
    algorithms: tuple[Algorithm, ...] = Field(
        default=(),
        description="The algorithms tokens may be verified with; the signing one by default.",
    )
    private_key: SecretStr | None = Field(
        default=None, description="PEM signing key, inline or a file path (asymmetric)."
    )
    public_key: str | None = Field(
        default=None, description="PEM verification key, inline or a file path (asymmetric)."
    )
    public_keys: dict[str, str] = Field(
        default_factory=dict, description="More verification keys by kid (rotation)."
    )
    key_id: str | None = Field(
        default=None, min_length=1, description="kid stamped on created tokens."
    )
    jwks_url: str | None = Field(
        default=None, description="Take verification keys from this JWKS URL instead."
    )
    jwks_cache_seconds: float = Field(
        default=300, gt=0, le=86400, description="How long fetched keys and metadata are used."
    )
    jwks_min_refetch_seconds: float = Field(
        default=5, gt=0, le=3600, description="Least time between two fetches of one JWKS."
    )
    jwks_max_stale_seconds: float | None = Field(
        default=None, gt=0, description="Oldest key set still used when refreshes fail."
    )
    jwks_timeout_seconds: float = Field(
        default=5, gt=0, le=60, description="A whole fetch must fit in this."
    )
    access_token_lifetime: Lifetime | None = Field(
        default=None,
        description="Lifetime of created access tokens: 900, 900s, 15m, 12h, 7d or PT15M.",
    )
    refresh_token_lifetime: Lifetime | None = Field(
        default=None, description="Lifetime of created refresh tokens, written the same way."
    )
    expiry_days: float | None = Field(
        default=None, gt=0, description="Lifetime of access tokens in days (older form)."
    )
    refresh_expiry_days: float | None = Field(
        default=None, gt=0, description="Lifetime of refresh tokens in days (older form)."
    )
    verified_cache_size: int = Field(
        default=4096, ge=0, le=1_000_000, description="Verified tokens remembered; 0 turns off."
    )
    verified_cache_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024**3,
        description="Estimated memory the verified-token cache may hold, in bytes.",
    )
    verified_cache_seconds: float = Field(
        default=60, gt=0, le=3600, description="Longest a verified token is remembered."
    )
    require_explicit_type: bool = Field(
        default=False, description="Accept only access tokens typed `at+jwt` (RFC 9068)."
    )
    require_jti: bool | None = Field(
        default=None,
        description="Refuse tokens without `jti`; unset means: when a revocation check is on.",
    )
    required_claims: tuple[str, ...] = Field(
        default=(), description="Claims every token must carry (besides exp and sub)."
    )
    accept_bound_tokens_as_bearer: bool = Field(
        default=False,
        description="Accept sender-constrained tokens (a `cnf` claim: DPoP, mTLS) as plain "
        "bearer tokens, for a migration; refused by default.",
    )
    max_token_age_seconds: int | None = Field(
        default=None, gt=0, description="Refuse tokens issued (iat) longer ago than this."
    )
    scope_claims: tuple[ClaimPath, ...] = Field(
        default=("scope", "scp"),
        description="Claims whose values become request.auth.scopes (dotted paths allowed).",
    )
    issuer: Issuers = Field(
        default=None, description="Required `iss`: one issuer, or a JSON list of them."
    )
    audience: Audiences = Field(
        default=None, description="Required `aud`: one value, or a JSON list (any matches)."
    )
    resource: str | None = Field(
        default=None,
        description="This API's resource identifier (RFC 9728): serves its metadata, and is "
        "the audience when JWT_AUDIENCE is unset.",
    )
    resource_name: str | None = Field(
        default=None, max_length=200, description="A human-readable name in the metadata."
    )
    strict_rules: bool = Field(
        default=False, description="A rule that matches no route stops start-up (else a warning)."
    )
    log_refusals: bool = Field(
        default=False,
        description="Log why each token is refused, to stderr if the app configures no logging.",
    )
    websocket_recheck_seconds: float = Field(
        default=30, gt=0, le=3600, description="How soon an open WebSocket sees a revocation."
    )
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="Allowed clock skew.")
    realm: str = Field(default="api", description="Realm named in WWW-Authenticate.")
    max_token_bytes: int = Field(
        default=8192, ge=256, le=65536, description="Longer tokens are refused unparsed."
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(
                _describe(exc, self.model_config.get("env_prefix", ""))
            ) from None
        except SettingsError as exc:
            # pydantic-settings could not parse a JSON value; its message names the field
            # (never the value), which we turn into the variable.
            field = _SETTINGS_ERROR_FIELD.search(str(exc))
            variable = "JWT_" + field.group(1).upper() if field else "a JWT_* variable"
            raise ConfigurationError(f"{variable}: not valid JSON") from None

    @field_validator("realm")
    @classmethod
    def _realm_is_header_safe(cls, value: str) -> str:
        if not _REALM.fullmatch(value):
            raise ValueError("JWT_REALM must be printable ASCII without '\"' or '\\'")
        return value

    @field_validator("resource")
    @classmethod
    def _resource_is_an_https_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _RESOURCE.fullmatch(value):
            raise ValueError(
                "JWT_RESOURCE must be an https URL without fragment, query or quotes "
                "(http only on localhost), e.g. https://api.example.com/mcp"
            )
        return value

    @field_validator("audience")
    @classmethod
    def _audiences_are_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None and (not value or any(not item for item in value)):
            raise ValueError("JWT_AUDIENCE must not be empty")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuers_are_not_empty(
        cls, value: str | list[str | IssuerSettings] | None
    ) -> str | list[str | IssuerSettings] | None:
        if isinstance(value, list):
            names = [item if isinstance(item, str) else item.issuer for item in value]
            if not names or not all(names):
                raise ValueError("JWT_ISSUER must not be empty")
            if len(set(names)) != len(names):
                raise ValueError("JWT_ISSUER names an issuer twice")
        elif value is not None and not value:
            raise ValueError("JWT_ISSUER must not be empty")
        return value

    @model_validator(mode="after")
    def _keys_fit_the_algorithm(self) -> Self:
        self._choose_algorithms()
        if self.algorithm in HMAC_ALGORITHMS:
            self._check_hmac()
        else:
            self._check_asymmetric()
        self._check_lifetimes()
        return self

    def _choose_algorithms(self) -> None:
        """Fill in the signing algorithm and the verification list where they were left
        out, and refuse a list that mixes HMAC with asymmetric algorithms."""
        explicit = "algorithm" in self.model_fields_set
        if not explicit:
            inferred = self._inferred_algorithm()
            if inferred is not None:
                object.__setattr__(self, "algorithm", inferred)
        if not self.algorithms:
            object.__setattr__(self, "algorithms", (self.algorithm,))
        elif explicit and self.algorithm not in self.algorithms and self._signs():
            raise ValueError(
                f"JWT_ALGORITHM ({self.algorithm}) must be one of JWT_ALGORITHMS: tokens this "
                "service signs must verify"
            )
        families = {name in HMAC_ALGORITHMS for name in self.algorithms}
        for issuer in self.issuer_settings:
            families |= {name in HMAC_ALGORITHMS for name in issuer.algorithms or ()}
        if len(families) > 1:
            raise ValueError(
                "JWT_ALGORITHMS mixes HMAC (HS*) and asymmetric algorithms; one verifier "
                "takes one family, so a public key can never be taken for a shared secret"
            )

    def _inferred_algorithm(self) -> str | None:
        if self.algorithms:
            return self.algorithms[0]
        if self.secret is not None:
            return "HS256"
        if self.private_key is not None:
            value = self.private_key.get_secret_value()
            return algorithm_for_key(read_key(value, "JWT_PRIVATE_KEY", private=True))
        if self.public_key is not None:
            return algorithm_for_key(read_key(self.public_key, "JWT_PUBLIC_KEY", private=False))
        if self.jwks_url or self.public_keys or self.issuer:
            return "RS256"
        return None

    def _signs(self) -> bool:
        return self.secret is not None or self.private_key is not None

    def _check_lifetimes(self) -> None:
        for new, old in [
            ("access_token_lifetime", "expiry_days"),
            ("refresh_token_lifetime", "refresh_expiry_days"),
        ]:
            lifetime = getattr(self, new)
            if lifetime is not None and getattr(self, old) is not None:
                raise ValueError(
                    f"set JWT_{new.upper()} or JWT_{old.upper()}, not both: they are one setting"
                )
            if lifetime is not None and lifetime.total_seconds() < 1:
                raise ValueError(f"JWT_{new.upper()} must be at least one second")

    def _check_hmac(self) -> None:
        self._check_secret_is_meant()
        if self.jwks_url and self.secret is not None:
            raise ValueError(
                "JWT_SECRET and JWT_JWKS_URL are both set: verification keys come from one "
                "place. To verify tokens signed with the keys at JWT_JWKS_URL, remove "
                "JWT_SECRET; to use the shared secret (HS256), remove JWT_JWKS_URL"
            )
        if self.private_key or self.public_key or self.public_keys or self.jwks_url:
            raise ValueError(
                f"JWT_PRIVATE_KEY, JWT_PUBLIC_KEY(S) and JWT_JWKS_URL need an asymmetric "
                f"JWT_ALGORITHM ({', '.join(ASYMMETRIC_ALGORITHMS)}), not {self.algorithm}"
            )
        if any(issuer.jwks_url for issuer in self.issuer_settings):
            raise ValueError("a jwks_url in JWT_ISSUER needs asymmetric JWT_ALGORITHMS")
        if self.secret is None or not self.secret.get_secret_value():
            raise ValueError(
                "JWT_SECRET is not set. Set it in the environment or in .env; generate one "
                f"with: {secret_hint(self.algorithm)}"
            )
        self._check_secret_strength(self.secret)

    def _check_secret_strength(self, current: SecretStr) -> None:
        """Each secret, current and previous, long enough for the strongest algorithm, and
        random rather than a word, a pattern or a PEM key pasted in the wrong place."""
        minimum = max(MIN_SECRET_LENGTH[name] for name in self.algorithms)
        for name, secret in [("JWT_SECRET", current)] + [
            ("JWT_PREVIOUS_SECRETS", old) for old in self.previous_secrets
        ]:
            value = secret.get_secret_value()
            if len(value) < minimum:
                strongest = max(self.algorithms, key=MIN_SECRET_LENGTH.__getitem__)
                raise ValueError(
                    f"{name} must be at least {minimum} characters for {strongest}; "
                    f"generate one with: {secret_hint(strongest)}"
                )
            if "-----BEGIN" in value:
                raise ValueError(f"{name} looks like a PEM key; an HMAC secret must not be one")
            weakness = secret_weakness(value)
            if weakness is not None:
                raise ValueError(
                    f"{name} is {weakness}, not a random secret, and anyone could guess it. "
                    f"Generate one with: {secret_hint(self.algorithm)}, then put the printed "
                    f"value itself in .env as {name}=<value>"
                )

    def _check_secret_is_meant(self) -> None:
        """A secret next to an identity provider's settings is ambiguous: refuse it.

        ``JWT_SECRET`` makes HS256 the algorithm, and with it ``JWT_ISSUER`` is only the
        ``iss`` of tokens this service signs, so a secret left in ``.env`` beside a
        provider's issuer turned off discovery and every RS256 token was refused with a
        quiet 401. An explicit ``JWT_ALGORITHM`` (or ``JWT_ALGORITHMS``) of the HMAC family
        says the secret is meant.
        """
        if self.secret is None or not self.issuer:
            return
        if {"algorithm", "algorithms"} & self.model_fields_set:
            return
        raise ValueError(
            "JWT_SECRET and JWT_ISSUER are both set, and it is unclear which keys verify "
            "tokens. To verify an identity provider's tokens (keys found by discovery from "
            "JWT_ISSUER), remove JWT_SECRET; to sign and verify this service's own tokens "
            "with JWT_SECRET, with JWT_ISSUER as their iss, also set JWT_ALGORITHM=HS256"
        )

    def _check_asymmetric(self) -> None:
        if self.secret is not None or self.previous_secrets:
            raise ValueError(
                f"JWT_SECRET is for HS256/HS384/HS512; {self.algorithm} uses JWT_PRIVATE_KEY "
                "to sign and JWT_PUBLIC_KEY, JWT_PUBLIC_KEYS, JWT_JWKS_URL or JWT_ISSUER "
                "(discovery) to verify"
            )
        if not (
            self.private_key or self.public_key or self.public_keys or self.jwks_url or self.issuer
        ):
            raise ValueError(
                f"{self.algorithm} needs keys: JWT_PRIVATE_KEY (PEM, inline or a file path) to "
                "sign, and/or JWT_PUBLIC_KEY, JWT_PUBLIC_KEYS, JWT_JWKS_URL or JWT_ISSUER "
                "(keys found by discovery) to verify"
            )
        self._check_key_urls()
        self._load_keys()

    def _check_key_urls(self) -> None:
        """Where keys are fetched from: http(s) URLs, and one place only."""
        for name, url in [("JWT_JWKS_URL", self.jwks_url)] + [
            ("JWT_ISSUER jwks_url", issuer.jwks_url) for issuer in self.issuer_settings
        ]:
            if url is not None and not url.startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an http(s) URL")
        if self.jwks_url is not None and (self.public_key or self.public_keys):
            raise ValueError(
                "JWT_JWKS_URL replaces JWT_PUBLIC_KEY(S): verification keys come from one place"
            )
        for issuer in self.discovered_issuers:
            if not issuer.startswith(("https://", "http://")):
                raise ValueError(
                    "JWT_ISSUER must be an http(s) URL for its keys to be discovered "
                    "(or set JWT_JWKS_URL or JWT_PUBLIC_KEY)"
                )

    def _load_keys(self) -> None:
        """Load every key now, so a bad one stops the app at start-up with its variable's
        name."""
        if self.private_key is not None:
            load_private_key(self.private_key.get_secret_value(), self.algorithm, "JWT_PRIVATE_KEY")
        for name, pem in [("JWT_PUBLIC_KEY", self.public_key)] + [
            (f"JWT_PUBLIC_KEYS[{kid!r}]", value) for kid, value in self.public_keys.items()
        ]:
            if pem is None:
                continue
            key = read_key(pem, name, private=False)
            if not any(key_fits(key, algorithm) for algorithm in self.algorithms):
                # The message of the algorithm it was meant for says what is wrong.
                expected = self.algorithm if self.algorithm in self.algorithms else None
                check_key_fits(key, expected or self.algorithms[0], name)

    @property
    def is_hmac(self) -> bool:
        """Whether tokens are signed with a shared secret rather than a key pair."""
        return self.algorithm in HMAC_ALGORITHMS

    @property
    def issuer_settings(self) -> tuple[IssuerSettings, ...]:
        """Every accepted issuer with what is particular to it (empty: ``iss`` unchecked)."""
        if self.issuer is None:
            return ()
        items = [self.issuer] if isinstance(self.issuer, str) else self.issuer
        return tuple(
            IssuerSettings(issuer=item) if isinstance(item, str) else item for item in items
        )

    @property
    def token_issuer(self) -> str | None:
        """The ``iss`` of tokens this service creates: the first issuer configured."""
        issuers = self.issuer_settings
        return issuers[0].issuer if issuers else None

    @property
    def audiences(self) -> tuple[str, ...] | None:
        """The accepted audiences (any one matches), or ``None``: no ``aud`` accepted.

        Without ``JWT_AUDIENCE``, a configured ``JWT_RESOURCE`` is the audience: tokens for
        a protected resource name it (RFC 8707), which is what keeps a token meant for
        another resource out.
        """
        if self.audience is None and self.resource is not None:
            return (self.resource,)
        return _as_tuple(self.audience)

    @property
    def discovered_issuers(self) -> tuple[str, ...]:
        """The issuers whose keys are found by discovery (asymmetric, no other source)."""
        if self.is_hmac or self.public_key or self.public_keys or self.private_key:
            return ()
        if self.jwks_url is not None:
            return ()
        return tuple(i.issuer for i in self.issuer_settings if i.jwks_url is None)

    @property
    def expiry_seconds(self) -> int:
        """Lifetime of created access tokens in whole seconds."""
        return _seconds(self.access_token_lifetime, self.expiry_days, _DEFAULT_ACCESS_LIFETIME)

    @property
    def refresh_expiry_seconds(self) -> int:
        """Lifetime of created refresh tokens in whole seconds."""
        return _seconds(
            self.refresh_token_lifetime, self.refresh_expiry_days, _DEFAULT_REFRESH_LIFETIME
        )


def _describe(error: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the environment variable, never the input."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        message = problem["msg"].removeprefix("Value error, ")
        location = problem["loc"]
        if location:
            variable = prefix + str(location[0]).upper()
            if len(location) > 1:
                variable += "[" + "][".join(repr(part) for part in location[1:]) + "]"
            if not message.startswith(variable):
                message = f"{variable}: {message}"
        lines.append(message)
    if len(lines) == 1:
        return lines[0]
    return "JWT settings are invalid:\n" + "\n".join(f"- {line}" for line in lines)


def _seconds(lifetime: timedelta | None, days: float | None, default: timedelta) -> int:
    if lifetime is not None:
        return int(lifetime.total_seconds())
    if days is not None:
        return int(days * 86400)
    return int(default.total_seconds())
