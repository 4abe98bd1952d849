"""Why a token or a request was refused: a fixed vocabulary, and the one log line that says it.

The client is only ever told "The access token is invalid." (anything more would help an
attacker probe); the server's log is where an operator learns why. Each refusal is one
record of the ``jwt_middleware.refusals`` logger at INFO: ``refused: reason=<code>``, and
``issuer=`` and ``kid=`` when they are known. What a line may hold, and why:

* the reason, a member of :class:`Reason`: a fixed word, never text from the token;
* the issuer only as configured (``JWT_ISSUER``), never the token's raw ``iss``;
* the ``kid`` only of a key we hold (configured, or from the issuer's JWKS), never the
  token's header value;
* never the token, nor any claim value.

:func:`show_refusals` is what ``JWT_LOG_REFUSALS=true`` does at start-up, so that these
lines (and the start-up warnings) appear with their level and logger under a server that
configures no logging for the app (uvicorn, hypercorn and granian all leave the root logger
without handlers).

A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import partial
from typing import Final

__all__ = [
    "APP_REASONS",
    "LOG_FORMAT",
    "REQUEST_REASONS",
    "Reason",
    "log_refusal",
    "refusals_logged",
    "show_refusals",
]

logger = logging.getLogger("jwt_middleware.refusals")

#: The format of the handler :func:`show_refusals` attaches: level and logger name first.
LOG_FORMAT: Final = "%(levelname)s %(name)s: %(message)s"

# Longest issuer or kid written out; longer ones are cut (both come from configuration or
# from the issuer's key set, but a line should stay a line).
_MAX_DETAIL: Final = 200


class Reason(StrEnum):
    """Why a token or a request was refused; ``docs/troubleshooting.md`` explains each."""

    # The request, decided by the middleware.
    MISSING = "missing"
    MALFORMED_REQUEST = "malformed_request"
    CSRF = "csrf"
    # The token's form, before any key is tried.
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    ALGORITHM = "algorithm"
    TOKEN_TYPE = "token_type"  # noqa: S105 - a reason, not a secret
    SIGNER = "signer"  # the header's signer is not an accepted load balancer (JWT_ALB_SIGNER)
    # Its key and signature.
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    KEYS_UNAVAILABLE = "keys_unavailable"
    TENANT_LIMIT = "tenant_limit"  # too many new tenants this minute (503)
    ISSUER = "issuer"
    TENANT_MISMATCH = "tenant_mismatch"  # the template's claim is not the iss segment
    # Its claims, once the signature checked out.
    EXPIRED = "expired"
    TOO_OLD = "too_old"
    NOT_YET_VALID = "not_yet_valid"
    ISSUED_IN_FUTURE = "issued_in_future"
    MISSING_CLAIM = "missing_claim"
    MALFORMED_CLAIM = "malformed_claim"
    AUDIENCE_MISSING = "audience_missing"
    AUDIENCE_MISMATCH = "audience_mismatch"
    AUDIENCE_UNEXPECTED = "audience_unexpected"
    BOUND_TOKEN = "bound_token"  # noqa: S105 - a reason, not a secret
    ID_TOKEN = "id_token"  # noqa: S105 - a reason, not a secret
    CHECK_CLAIMS = "check_claims"
    NO_FAMILY = "no_family"
    # A DPoP request (RFC 9449): the proof, then how it binds to the request and the token.
    DPOP_PROOF = "dpop_proof"
    DPOP_ALGORITHM = "dpop_algorithm"
    DPOP_SIGNATURE = "dpop_signature"
    DPOP_REQUEST = "dpop_request"  # htm or htu is not this request's
    DPOP_TIME = "dpop_time"
    DPOP_NONCE = "dpop_nonce"
    DPOP_REPLAY = "dpop_replay"
    DPOP_REPLAY_UNAVAILABLE = "dpop_replay_unavailable"  # the shared replay store (Redis) is down
    DPOP_TOKEN_HASH = "dpop_token_hash"  # noqa: S105 - a reason, not a secret
    DPOP_BINDING = "dpop_binding"
    DPOP_REQUIRED = "dpop_required"
    # A certificate-bound token (RFC 8705): the request's TLS client certificate.
    CERTIFICATE_MISSING = "certificate_missing"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    CERTIFICATE_MALFORMED = "certificate_malformed"
    CERTIFICATE_MISMATCH = "certificate_mismatch"
    CERTIFICATE_REQUIRED = "certificate_required"
    # An opaque token, by the issuer's introspection endpoint (RFC 7662).
    INACTIVE = "inactive"
    INTROSPECTION_UNAVAILABLE = "introspection_unavailable"
    # What the middleware asks of a verified token.
    NO_JTI = "no_jti"
    REVOKED = "revoked"
    UNAVAILABLE = "unavailable"  # the revocation check failed
    INSUFFICIENT_SCOPE = "insufficient_scope"
    STEP_UP = "step_up"
    # An error raised by the app's own code, answered by the middleware.
    APP = "app"
    CLAIMS_MODEL = "claims_model"  # the claims do not fit the app's model (typed claims)
    USER_UNKNOWN = "user_unknown"  # the app's user loader found no user for the token
    # No reason given (an error raised without one).
    INVALID = "invalid"


#: The reasons the middleware decides itself, and logs when it answers with them; the
#: verifier logs the others as it refuses (a bad token on a public path is still logged,
#: a missing one is not).
REQUEST_REASONS: Final = frozenset(
    {
        Reason.MISSING,
        Reason.MALFORMED_REQUEST,
        Reason.CSRF,
        Reason.NO_JTI,
        Reason.REVOKED,
        Reason.INSUFFICIENT_SCOPE,
        Reason.STEP_UP,
        Reason.DPOP_REQUIRED,
        Reason.CERTIFICATE_REQUIRED,
    }
)


#: The reasons of errors the library's own helpers raise inside the app (typed claims, the
#: user loader); any other error the app raises is logged as :attr:`Reason.APP`.
APP_REASONS: Final = frozenset({Reason.CLAIMS_MODEL, Reason.USER_UNKNOWN})


def log_refusal(
    reason: Reason,
    *,
    issuer: str | None = None,
    kid: str | None = None,
    level: int = logging.INFO,
) -> None:
    """Log one refusal. ``issuer`` must come from configuration and ``kid`` from a key we
    hold (:class:`~jwt_middleware.types.BoundKey`), never from the token itself."""
    if not logger.isEnabledFor(level):
        return  # a flood of forged tokens costs no formatting
    details = ""
    if issuer is not None:
        details += f" issuer={_one_line(issuer)}"
    if kid is not None:
        details += f" kid={_one_line(kid)}"
    logger.log(level, "refused: reason=%s%s", reason.value, details)


#: ``refusals_logged()``: whether :func:`log_refusal` writes INFO lines, for details that
#: cost something to work out, so that a flood of forged tokens does not pay for them. The
#: logger's own method, bound once: asked on every refusal, it is one call, not two.
refusals_logged: Final = partial(logger.isEnabledFor, logging.INFO)


def _one_line(text: str) -> str:
    """``text`` as printable ASCII without spaces: escapes for anything else, cut short."""
    text = text[:_MAX_DETAIL]
    if text.isascii() and text.isprintable() and " " not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")


def show_refusals() -> None:
    """Make the package's records visible: what ``JWT_LOG_REFUSALS=true`` does at start-up.

    When no handler would receive the ``jwt_middleware`` logger's records (neither its own
    nor the root logger's: the case under uvicorn, hypercorn and granian unless the app
    configures logging), attach one that writes them to stderr as :data:`LOG_FORMAT`. And
    let INFO records through, unless the logger is set lower already. An app that
    configures logging keeps its handlers and format; only the level is lowered to INFO.
    Calling it again changes nothing.
    """
    package = logging.getLogger("jwt_middleware")
    if not package.hasHandlers():
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        package.addHandler(handler)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
