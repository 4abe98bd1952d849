"""Where verification keys come from and which algorithms they serve: the HMAC secret and
its rotation, static key pairs, a JWKS URL, the issuers whose keys are discovered. Every key
is loaded and checked here, at start-up, so a bad one stops the app with its variable's
name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from ..algorithms import (
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
from .base import SettingsBase
from .tenants import IssuerTemplate, is_template
from .values import Issuers, IssuerSettings

__all__ = ["KeySettings"]


class KeySettings(SettingsBase):
    """The key and algorithm settings, checked together: the algorithm family decides
    which keys may be set, and with none of ``JWT_SECRET``, ``JWT_PUBLIC_KEY(S)``,
    ``JWT_PRIVATE_KEY`` or ``JWT_JWKS_URL``, each issuer's keys are discovered from its
    metadata (OpenID Connect discovery, else RFC 8414)."""

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
    issuer: Issuers = Field(
        default=None, description="Required `iss`: one issuer, or a JSON list of them."
    )

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
        for item in [value] if isinstance(value, str) else value or ():
            name = item if isinstance(item, str) else item.issuer
            if is_template(name):
                IssuerTemplate.parse(name)  # raises, naming JWT_ISSUER
        return value

    @model_validator(mode="after")
    def _keys_fit_the_algorithm(self) -> Self:
        self._choose_algorithms()
        if self.algorithm in HMAC_ALGORITHMS:
            self._check_hmac()
        else:
            self._check_asymmetric()
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
        if self._key_url_variable():
            return "ES256"  # what ALB signs with, the only algorithm its keys serve
        if self.jwks_url or self.public_keys or self.issuer or self._local_keys_variable():
            return "RS256"
        return None

    def _signs(self) -> bool:
        return self.secret is not None or self.private_key is not None

    def _check_hmac(self) -> None:
        self._check_secret_is_meant()
        if (variable := self._key_url_variable()) is not None:
            raise ValueError(
                f"{variable} serves ES256 keys, not {self.algorithm}: remove JWT_SECRET and "
                "leave JWT_ALGORITHM unset"
            )
        if self.jwks_url and self.secret is not None:
            raise ValueError(
                "JWT_SECRET and JWT_JWKS_URL are both set: verification keys come from one "
                "place. To verify tokens signed with the keys at JWT_JWKS_URL, remove "
                "JWT_SECRET; to use the shared secret (HS256), remove JWT_JWKS_URL"
            )
        if (
            self.private_key
            or self.public_key
            or self.public_keys
            or self.jwks_url
            or self._local_keys_variable()
        ):
            raise ValueError(
                f"JWT_PRIVATE_KEY, JWT_PUBLIC_KEY(S), JWT_JWKS_URL, JWT_JWKS_FILE and JWT_JWKS "
                f"need an asymmetric "
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
            self.private_key
            or self.public_key
            or self.public_keys
            or self.jwks_url
            or self.issuer
            or self._local_keys_variable()
            or self._key_url_variable()
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

    def _check_sole_key_source(
        self, variable: str, also: Iterable[tuple[str, object]] = ()
    ) -> None:
        """Refuse every other key setting beside ``variable``, a source that stands for all
        the keys (a local key set, keys fetched per ``kid``): keys come from one place.
        ``also`` are settings of its own group to name first, when set."""
        candidates: list[tuple[str | None, object]] = [
            *also,
            ("JWT_JWKS_URL", self.jwks_url),
            ("JWT_PUBLIC_KEY", self.public_key),
            ("JWT_PUBLIC_KEYS", self.public_keys),
            ("JWT_PRIVATE_KEY", self.private_key),
            (self._local_keys_variable(), True),
            (self._key_url_variable(), True),
        ]
        others = list(
            dict.fromkeys(
                name for name, value in candidates if value and name not in (None, variable)
            )
        )
        if any(issuer.jwks_url for issuer in self.issuer_settings):
            others.append("a jwks_url in JWT_ISSUER")
        if others:
            raise ValueError(
                f"{variable} and {', '.join(str(name) for name in others)} are both set: "
                "verification keys come from one place"
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
        """Every listed issuer with what is particular to it (empty: ``iss`` unchecked,
        unless there are :attr:`issuer_templates`)."""
        return tuple(i for i in self._issuer_entries() if not is_template(i.issuer))

    @property
    def issuer_templates(self) -> tuple[tuple[IssuerTemplate, IssuerSettings], ...]:
        """The templates of ``JWT_ISSUER`` (:mod:`.tenants`), each with the settings its
        tenants share."""
        return tuple(
            (IssuerTemplate.parse(i.issuer), i)
            for i in self._issuer_entries()
            if is_template(i.issuer)
        )

    def _issuer_entries(self) -> tuple[IssuerSettings, ...]:
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
    def discovered_issuers(self) -> tuple[str, ...]:
        """The issuers whose keys are found by discovery (asymmetric, no other source)."""
        if self.is_hmac or self.public_key or self.public_keys or self.private_key:
            return ()
        if self.jwks_url is not None or self._local_keys_variable() or self._key_url_variable():
            return ()
        return tuple(i.issuer for i in self.issuer_settings if i.jwks_url is None)

    def _local_keys_variable(self) -> str | None:
        """The variable of a key set that needs no fetch (``JWT_JWKS_FILE``, ``JWT_JWKS``:
        :class:`~jwt_middleware.settings.local_keys.LocalKeySettings`) when one is set:
        it stands in for the fetched ones in the checks here. None at this level."""
        return None

    def _key_url_variable(self) -> str | None:
        """The variable of keys fetched one per ``kid`` (``JWT_ALB_REGION``,
        ``JWT_KEY_URL_TEMPLATE``: :class:`~jwt_middleware.settings.alb.ALBSettings`) when
        one is set: another place keys come from, for the checks here. None at this level."""
        return None
