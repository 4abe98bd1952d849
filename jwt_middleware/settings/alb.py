"""Keys fetched one PEM file per ``kid`` (``JWT_KEY_URL_TEMPLATE``, or ``JWT_ALB_REGION``,
which builds AWS ALB's URL), and the load balancers whose tokens are accepted
(``JWT_ALB_SIGNER``).

An AWS Application Load Balancer signs its ``x-amzn-oidc-data`` tokens with ES256 keys it
publishes one PEM file at a time, at ``https://public-keys.auth.elb.REGION.amazonaws.com/KID``.
Those keys are the region's, shared by every ALB of every account in it: a signature only
says that *some* ALB signed the token, and the ``signer`` field of its header (the load
balancer's ARN) says which one. So the key source and the signer check come together:
either key setting without ``JWT_ALB_SIGNER`` stops start-up.

The ``kid`` a token names goes into a URL, and a token is anyone's to write. So a template
has exactly one ``{kid}``, filling the start of a path segment after the host (no query,
no userinfo, no escapes), and :meth:`KeyURLTemplate.url` puts a ``kid`` into it only when
it is 1 to 64 letters, digits, ``-`` or ``_`` (an ALB ``kid`` is a UUID): no dot, slash,
percent sign or anything else that could make the URL name another resource. Pure: no
network, no keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from .keys import KeySettings
from .values import one_or_list

__all__ = ["ALB_KEY_ALGORITHM", "ALBSettings", "KeyURLTemplate", "alb_key_url"]

#: The algorithm ALB signs with, and so the one its keys are bound to.
ALB_KEY_ALGORITHM: Final = "ES256"

#: What a ``kid`` must be to go into a URL: letters, digits, ``-`` and ``_`` (RFC 3986
#: unreserved characters, less ``.`` and ``~``), at most 64 of them.
_KID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLACEHOLDER: Final = "{kid}"
# The fixed part before {kid}: the scheme and host, then whole path segments (as an issuer
# template's, :mod:`.tenants`); after it, the rest of that segment and more segments.
_FIXED: Final = re.compile(
    r"(?:https://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?"
    r"|http://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?)"
    r"(?:/[A-Za-z0-9._~-]+)*/"
)
_SUFFIX: Final = re.compile(r"[A-Za-z0-9._~-]*(?:/[A-Za-z0-9._~-]+)*")
# A path segment of dots only ("." or ".."), which a client or server may resolve away.
_DOT_SEGMENT: Final = re.compile(r"/\.+(?=/|$)")
# An AWS region of the commercial partition, for which ALB's URL is the one below.
_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_OTHER_PARTITIONS: Final = ("cn-", "us-gov-", "us-iso")
# An Application Load Balancer's ARN; group 1 is its region.
_ALB_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:loadbalancer/app/"
    r"[A-Za-z0-9-]{1,32}/[0-9a-f]{1,32}"
)


def alb_key_url(region: str) -> str:
    """The key URL template of ALB in ``region`` (of the commercial AWS partition)."""
    return f"https://public-keys.auth.elb.{region}.amazonaws.com/{_PLACEHOLDER}"


@dataclass(frozen=True, slots=True)
class KeyURLTemplate:
    """A parsed key URL template: the fixed text on either side of its ``{kid}``."""

    prefix: str
    suffix: str

    @classmethod
    def parse(cls, text: str, variable: str = "JWT_KEY_URL_TEMPLATE") -> Self:
        """The template ``text``, or ``ValueError`` naming ``variable`` (never the text)."""
        if text.count(_PLACEHOLDER) != 1 or text.count("{") != 1 or text.count("}") != 1:
            raise ValueError(f"{variable} must hold {_PLACEHOLDER} exactly once")
        prefix, suffix = text.split(_PLACEHOLDER)
        if (
            not _FIXED.fullmatch(prefix)
            or not _SUFFIX.fullmatch(suffix)
            or _DOT_SEGMENT.search(prefix + "k" + suffix)
        ):
            raise ValueError(
                f"{variable} must be an https URL (http only on loopback) whose {_PLACEHOLDER} "
                "starts a path segment after the host, without query or escapes, e.g. "
                "https://HOST/PATH/{kid}"
            )
        return cls(prefix=prefix, suffix=suffix)

    def url(self, kid: object) -> str | None:
        """The URL of ``kid``'s key, or ``None`` when ``kid`` is not one to put in a URL
        (not a string of 1 to 64 letters, digits, ``-`` or ``_``)."""
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            return None
        return self.prefix + kid + self.suffix


#: ``JWT_ALB_SIGNER``: one ARN, or a JSON list of them.
Signers = Annotated[str | list[str] | None, NoDecode, BeforeValidator(one_or_list)]


class ALBSettings(KeySettings):
    """The key settings, with keys fetched one per ``kid`` and the signer check of ALB.

    ``JWT_ALB_REGION`` or ``JWT_KEY_URL_TEMPLATE`` is the only place keys come from when
    set (as ``JWT_JWKS_FILE`` is), serves ES256 only, and needs ``JWT_ALB_SIGNER``.
    ``JWT_ALB_SIGNER`` alone (with keys pinned by ``JWT_PUBLIC_KEYS``, say) is allowed.
    """

    alb_region: str | None = Field(
        default=None,
        description="Fetch ES256 keys one per kid from AWS ALB's key host in this region.",
    )
    key_url_template: str | None = Field(
        default=None,
        description="Fetch ES256 keys one PEM per kid from this URL, which holds {kid}.",
    )
    alb_signer: Signers = Field(
        default=None,
        description="Accept only tokens whose header names one of these load balancer ARNs "
        "as `signer`: one, or a JSON list.",
    )

    @field_validator("alb_region")
    @classmethod
    def _region_is_a_commercial_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _REGION.fullmatch(value):
            raise ValueError("JWT_ALB_REGION must be an AWS region such as eu-west-1")
        if value.startswith(_OTHER_PARTITIONS):
            raise ValueError(
                "JWT_ALB_REGION builds the key URL of the commercial AWS partition; for "
                "GovCloud and China regions set JWT_KEY_URL_TEMPLATE to the URL AWS documents"
            )
        return value

    @field_validator("key_url_template")
    @classmethod
    def _template_is_a_key_url(cls, value: str | None) -> str | None:
        if value is not None:
            KeyURLTemplate.parse(value)
        return value

    @field_validator("alb_signer")
    @classmethod
    def _signers_are_alb_arns(cls, value: str | list[str] | None) -> str | list[str] | None:
        items = [value] if isinstance(value, str) else value or []
        if value is not None and not items:
            raise ValueError("JWT_ALB_SIGNER must not be empty")
        for item in items:
            if not _ALB_ARN.fullmatch(item):
                raise ValueError(
                    "JWT_ALB_SIGNER must be Application Load Balancer ARNs, "
                    "arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID"
                )
        return value

    @model_validator(mode="after")
    def _keys_by_kid_come_with_a_signer(self) -> Self:
        variable = self._key_url_variable()
        if self.alb_region is not None and self.key_url_template is not None:
            raise ValueError(
                "JWT_ALB_REGION and JWT_KEY_URL_TEMPLATE are both set: the first builds the "
                "second, set one"
            )
        if variable is None:
            return self
        if not self.alb_signers:
            raise ValueError(
                f"{variable} needs JWT_ALB_SIGNER, your load balancer's ARN: the keys are "
                "shared by every ALB in the region, so only the token's signer says it "
                "came from yours"
            )
        self._check_sole_key_source(variable)
        if self.algorithms != (ALB_KEY_ALGORITHM,):
            raise ValueError(
                f"{variable} serves {ALB_KEY_ALGORITHM} keys only: leave JWT_ALGORITHMS and "
                f"JWT_ALGORITHM unset, or set them to {ALB_KEY_ALGORITHM}"
            )
        if self.alb_region is not None:
            for signer in self.alb_signers:
                found = _ALB_ARN.fullmatch(signer)
                if found is not None and found.group(1) != self.alb_region:
                    raise ValueError(
                        "JWT_ALB_SIGNER names a load balancer of another region than "
                        "JWT_ALB_REGION: ALB's keys are a region's"
                    )
        return self

    @property
    def alb_signers(self) -> tuple[str, ...]:
        """The accepted ``signer`` header values (empty: not checked)."""
        value = self.alb_signer
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)

    @property
    def key_url(self) -> KeyURLTemplate | None:
        """The template keys are fetched with, one per ``kid``, if any."""
        if self.alb_region is not None:
            return KeyURLTemplate.parse(alb_key_url(self.alb_region), "JWT_ALB_REGION")
        if self.key_url_template is not None:
            return KeyURLTemplate.parse(self.key_url_template)
        return None

    def _key_url_variable(self) -> str | None:
        if self.alb_region is not None:
            return "JWT_ALB_REGION"
        if self.key_url_template is not None:
            return "JWT_KEY_URL_TEMPLATE"
        return None
