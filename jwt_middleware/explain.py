"""``python -m jwt_middleware explain``: what the middleware would do with a request, and why.

The verdict is not worked out beside the middleware: the app's own
:class:`~jwt_middleware.middleware.JWTAuthMiddleware` answers the request, through a
copy of it (:meth:`~jwt_middleware.middleware.JWTAuthMiddleware.replica`: the same
settings, policy, authenticators and caches) whose app is a stand-in that only records
that the request got through (no handler runs; the middleware that serves is left as it
was). The status, ``WWW-Authenticate`` and body printed are the ones it sent, and the
reason is the one its refusal log wrote (``jwt_middleware.refusals``), so the
explanation cannot disagree with the server. Around that verdict it says what it can
without the token's secrets: the rule the path falls under, where the credential was,
the token's header (algorithm, ``kid``, ``typ``), the issuer and the key source that
serve it, and each claim check of that issuer with its outcome.

Sender-constrained tokens are explained as the server would see them: a DPoP request
(``Authorization: DPoP`` and its ``DPoP`` proof, RFC 9449) gets, beside the verdict,
each check of the proof with its outcome (the library's own
:class:`~.verification.dpop.ProofChecker`, run on the same proof, names which one
failed: ``htm`` or ``htu`` for ``dpop_request``) and the URL the proof must name.
Whether a proof was used before is not knowable here: only the server's replay memory
knows, so in that copy the DPoP replay memory is one that answers "first use" and
records nothing, and the explanation says so, instead of guessing (the server's own
memory is neither asked nor filled). A client certificate (for a token bound to one, RFC
8705) is handed over as a server that ended TLS itself hands it (the ASGI ``tls``
extension), and its thumbprint shown.

It never prints the token, the proof, a claim's value, a secret or key material.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from starlette.types import Message, Receive, Scope, Send

from . import jws
from .access.policy import Access
from .edge.client_certificate import CertificateRefused, certificate_thumbprint
from .errors import AuthenticationError
from .keys.issuers import IssuerPolicy
from .middleware import JWTAuthMiddleware
from .refusals import Reason
from .types import VerifiedToken
from .verification.authenticator import Authenticator
from .verification.bearer import BearerAuthenticator
from .verification.certificate_bound import CertificateBoundAuthenticator, names_a_certificate
from .verification.chain import AuthenticatorChain
from .verification.dpop import PROOF_CHECKS, ProofRefused
from .verification.dpop_authenticator import DPoPAuthenticator

__all__ = ["REPLAY_NOT_KNOWABLE", "Explanation", "explain", "find_middleware"]

_REFUSALS_LOGGER: Final = "jwt_middleware.refusals"
_SHOWN_HEADERS: Final = frozenset({"www-authenticate", "content-type", "retry-after"})
_SCHEMES: Final = {"bearer": "Bearer", "dpop": "DPoP"}
_REFUSED: Final = "refused: reason="
_Found = TypeVar("_Found")
#: What is said of a DPoP proof that passed every other check: explain cannot know it.
REPLAY_NOT_KNOWABLE: Final = (
    "not knowable offline: the verdict assumes the proof's first use; whether it was used "
    "before only the server's replay memory knows, and explain neither asks nor fills it"
)


@dataclass
class Explanation:
    """What the middleware did with one request, and the facts around it."""

    method: str
    path: str
    access: str
    required_scopes: tuple[str, ...]
    credential: str
    status: int
    headers: list[tuple[str, str]]
    body: str
    let_through: bool
    log_lines: list[str] = field(default_factory=list)
    jose_header: str | None = None
    issuer: str | None = None
    key_source: str | None = None
    checks: list[tuple[str, str]] = field(default_factory=list)
    #: The DPoP proof's header (``alg``, ``typ``), the method and URL it must name, and
    #: each of its checks with its outcome; ``None`` for a request without DPoP.
    proof_header: str | None = None
    proof_target: str | None = None
    proof_checks: list[tuple[str, str]] = field(default_factory=list)
    #: What can be said of the proof's replay (:data:`REPLAY_NOT_KNOWABLE`, or why not).
    replay: str | None = None
    #: The client certificate sent: its ``x5t#S256`` thumbprint, or why it has none.
    certificate: str | None = None

    @property
    def reason(self) -> str | None:
        """The reason the middleware logged for its refusal, ``None`` if it logged none."""
        for line in self.log_lines:
            if line.startswith(_REFUSED):
                return line.removeprefix(_REFUSED).split()[0]
        return None

    def render(self) -> str:
        """The explanation as the command prints it."""
        scopes = f", scopes {' '.join(self.required_scopes)}" if self.required_scopes else ""
        lines = [
            f"request     {self.method} {self.path}",
            f"rule        {self.access}{scopes}",
            f"credential  {self.credential}",
        ]
        if self.jose_header is not None:
            lines.append(f"token       {self.jose_header}")
        if self.issuer is not None or self.key_source is not None:
            lines.append(f"issuer      {self.issuer or '(iss not checked)'}")
            lines.append(f"keys        {self.key_source}")
        if self.checks:
            lines.append("claims      (each check of this issuer, on the token's claims)")
            lines += [f"  {name:<10}{outcome}" for name, outcome in self.checks]
        if self.proof_header is not None:
            lines.append(f"proof       {self.proof_header}")
        if self.proof_target is not None:
            lines.append(f"  for       {self.proof_target}")
        lines += [f"  {name:<10}{outcome}" for name, outcome in self.proof_checks]
        if self.replay is not None:
            lines.append(f"replay      {self.replay}")
        if self.certificate is not None:
            lines.append(f"certificate {self.certificate}")
        lines += [f"log         {line}" for line in self.log_lines]
        why = _WHY.get(self.reason or "")
        if why is not None:
            lines.append(f"why         {why}")
        lines.append(f"answer      {self.status}")
        lines += [f"  {name}: {value}" for name, value in self.headers]
        if self.body:
            lines.append(f"  body: {self.body}")
        verdict = "let through to the app" if self.let_through else "refused"
        lines.append(f"verdict     {verdict}")
        return "\n".join(lines)


#: What a refusal of a sender-constrained token means, where the checks shown do not say.
_WHY: Final = {
    Reason.BOUND_TOKEN.value: "the token is bound to a key or a certificate (cnf) that this "
    "request does not prove: send it with its DPoP proof, or over TLS with its certificate",
    Reason.DPOP_BINDING.value: "the token's cnf.jkt is missing, or is not the thumbprint of "
    "the proof's key: the proof was made with another key than the token's",
    Reason.DPOP_NONCE.value: "the proof has no nonce, or not one of the server's "
    "(JWT_DPOP_NONCE): a client retries with the DPoP-Nonce it is sent",
    Reason.CERTIFICATE_MISSING.value: "the token is bound to a client certificate, and none "
    "came with the request",
    Reason.CERTIFICATE_MISMATCH.value: "the client certificate is not the one the token's "
    "cnf.x5t#S256 names",
    Reason.CERTIFICATE_MALFORMED.value: "the client certificate could not be read",
    Reason.CERTIFICATE_UNTRUSTED.value: "the only certificate came in a proxy's header from "
    "a peer not in JWT_TRUSTED_PROXIES, or the server's TLS verification refused it",
}


def find_middleware(app: Any) -> JWTAuthMiddleware:
    """The app's :class:`JWTAuthMiddleware`, built as the app builds it for a request."""
    layer: Any = app
    build = getattr(app, "build_middleware_stack", None)
    if callable(build) and getattr(app, "middleware_stack", None) is None:
        app.middleware_stack = build()
    layer = getattr(app, "middleware_stack", None) or app
    while layer is not None:
        if isinstance(layer, JWTAuthMiddleware):
            return layer
        layer = getattr(layer, "app", None)
    raise LookupError("the app has no JWTAuthMiddleware")


async def explain(
    app: Any,
    *,
    token: str | None,
    method: str = "GET",
    path: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    scheme: str | None = None,
    dpop_proof: str | None = None,
    client_certificate: str | None = None,
) -> Explanation:
    """Send one request through the app's middleware (no handler runs) and explain it.

    ``token`` goes in ``Authorization: <scheme>``: ``DPoP`` when a ``dpop_proof`` is
    given (sent in the ``DPoP`` header), else ``Bearer``, unless ``scheme`` says which.
    ``client_certificate`` (PEM) comes as a server that ended TLS itself hands it, in the
    ``tls`` extension, from no peer address (so no ``JWT_TRUSTED_PROXIES`` header stands
    in for it). ``headers`` are sent as well (a cookie, a proxy's header), lower-cased as
    servers give them. The request goes through a copy of the app's middleware whose DPoP
    replay memory records nothing (see the module)."""
    middleware = find_middleware(app)
    if scheme is None:
        scheme = "DPoP" if dpop_proof is not None else "Bearer"
    if scheme.lower() not in _SCHEMES:
        raise ValueError("scheme is Bearer or DPoP")
    scheme = _SCHEMES[scheme.lower()]
    sent = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if token is not None:
        credentials = scheme.encode("ascii") + b" " + token.encode("ascii", "replace")
        sent.append((b"authorization", credentials))
    if dpop_proof is not None:
        sent.append((b"dpop", dpop_proof.encode("ascii", "replace")))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("utf-8", "replace"),
        "root_path": "",
        "query_string": b"",
        "headers": sent,
        "client": ("127.0.0.1", 0),
        "server": ("localhost", 443),
        "app": app,
        "state": {},
    }
    if client_certificate is not None:
        chain = [client_certificate]
        scope["extensions"] = {"tls": {"client_cert_chain": chain, "client_cert_error": None}}
        scope["client"] = None  # the server's own TLS: no proxy's header counts
    decision = middleware.policy.decide(method.upper(), path, scope["raw_path"])
    replay = _ReplayNotAsked()
    status, answer_headers, body, through, lines = await _answer(middleware, scope, replay)
    words = _credential_words(scheme, token, dpop_proof, client_certificate, headers)
    explanation = Explanation(
        method=method.upper(),
        path=path,
        access=_ACCESS_WORDS[decision.access],
        required_scopes=tuple(sorted(decision.requirement.scopes)),
        credential=words,
        status=status,
        headers=answer_headers,
        body=body,
        let_through=through,
        log_lines=lines,
    )
    authenticators = getattr(middleware, "authenticators", ())
    dpop = _find(authenticators, DPoPAuthenticator) if scheme == "DPoP" else None
    if token is not None:
        _describe_token(explanation, _verifier_for(authenticators, dpop, token), token)
    if scheme == "DPoP" and token is not None:
        _describe_proof(explanation, dpop, scope, token, dpop_proof, replay)
    if client_certificate is not None:
        explanation.certificate = _certificate_words(client_certificate)
    return explanation


_ACCESS_WORDS: Final = {
    Access.PUBLIC: "public (no token needed; a bad one is ignored)",
    Access.OPTIONAL: "optional (no token passes as anonymous; a sent one must be valid)",
    Access.TOKEN: "protected (a valid token needed)",
    Access.REFUSED: "refused (the path is not canonical)",
}


def _credential_words(
    scheme: str,
    token: str | None,
    proof: str | None,
    certificate: str | None,
    headers: Iterable[tuple[str, str]],
) -> str:
    names = sorted({name.lower() for name, _ in headers})
    where = [f"Authorization: {scheme} ({len(token)} characters)"] if token is not None else []
    if proof is not None:
        where.append(f"DPoP proof ({len(proof)} characters)")
    if certificate is not None:
        where.append("client certificate (in the server's tls extension)")
    where += [f"{name} header" for name in names]
    return ", ".join(where) if where else "none sent"


class _ReplayNotAsked:
    """Stands in for the server's DPoP replay memory: records nothing, takes every proof
    for a first use, and notes that it was asked (the proof passed everything before)."""

    def __init__(self) -> None:
        self.asked = False

    def first_use_now(self, key: bytes, *, expires_at: float) -> bool:
        self.asked = True
        return True

    async def first_use(self, key: bytes, *, expires_at: float) -> bool:
        return self.first_use_now(key, expires_at=expires_at)

    async def aclose(self) -> None:
        """Nothing to release."""


def _without_replay(
    authenticators: Sequence[Authenticator], replay: _ReplayNotAsked
) -> list[Authenticator]:
    """``authenticators``, each DPoP one (in a chain too) remembering proofs in ``replay``."""
    replaced: list[Authenticator] = []
    for authenticator in authenticators:
        if isinstance(authenticator, DPoPAuthenticator):
            authenticator = authenticator.with_replay(replay)
        elif isinstance(authenticator, AuthenticatorChain):
            authenticator = AuthenticatorChain(
                _without_replay(authenticator.authenticators, replay)
            )
        replaced.append(authenticator)
    return replaced


async def _answer(
    middleware: JWTAuthMiddleware, scope: Scope, replay: _ReplayNotAsked
) -> tuple[int, list[tuple[str, str]], str, bool, list[str]]:
    """The middleware's answer to ``scope``, with the app behind it stood in for, and
    ``replay`` for its DPoP replay memory: given to a copy of it, the middleware that
    serves is left as it was."""
    through = False

    async def stand_in(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal through
        through = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    authenticators = getattr(middleware, "authenticators", None)
    replica = middleware.replica(
        app=stand_in,
        authenticators=(
            _without_replay(authenticators, replay) if authenticators is not None else None
        ),
    )
    capture = _Capture()
    logger = logging.getLogger(_REFUSALS_LOGGER)
    level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        await replica(scope, receive, send)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
    start = next(m for m in messages if m["type"] == "http.response.start")
    shown = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in start.get("headers", [])
        if name.decode("latin-1").lower() in _SHOWN_HEADERS
    ]
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    text = "" if through else body.decode("utf-8", "replace")
    return start["status"], shown, text, through, capture.lines


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _describe_token(explanation: Explanation, verifier: Any, token: str) -> None:
    """The token's header, its issuer and key source, and each claim check's outcome.

    The claims are read only from a token whose signature the middleware accepted; for
    one it refused on its form or signature, the checks are not run (their outcome would
    say nothing about a token nobody signed)."""
    try:
        parsed = jws.parse(token)
    except (jws.MalformedTokenError, AuthenticationError):
        explanation.jose_header = "not a compact JWS (three base64url parts with a JSON header)"
        return
    # ascii(): the header's text is the token's, and a terminal must not run it.
    explanation.jose_header = f"alg={parsed.algorithm!a} kid={parsed.kid!a} typ={parsed.typ!a}"
    if verifier is None:
        return
    verified: VerifiedToken | None = verifier.cached(token)
    policy = _policy_for(verifier.policies, verified, explanation.log_lines)
    if policy is None:
        return
    explanation.issuer = policy.issuer
    explanation.key_source = _source_words(policy.keys)
    if verified is None and not _signature_accepted(explanation.log_lines):
        return
    try:
        claims = parsed.payload()
    except (jws.MalformedTokenError, AuthenticationError):
        return
    if not isinstance(claims, dict):
        return
    now = time.time()
    for check in verifier.claim_checks(policy):
        if check.claim is not None and check.claim not in claims:
            explanation.checks.append((check.name, "skipped (claim absent)"))
            continue
        try:
            check(claims, now)
        except AuthenticationError as exc:
            explanation.checks.append((check.name, f"refused: {exc.reason.value}"))
        else:
            explanation.checks.append((check.name, "ok"))


def _find(authenticators: Sequence[object], kind: type[_Found]) -> _Found | None:
    """The first authenticator of ``kind``, in a chain too."""
    for authenticator in authenticators:
        if isinstance(authenticator, kind):
            return authenticator
        if isinstance(authenticator, AuthenticatorChain):
            found = _find(authenticator.authenticators, kind)
            if found is not None:
                return found
    return None


def _verifier_for(
    authenticators: Sequence[object], dpop: DPoPAuthenticator | None, token: str
) -> Any:
    """The verifier whose claim checks the token went through: the DPoP path's for a DPoP
    request, the certificate-bound path's for a bearer token naming a certificate that
    path takes (:func:`~.verification.certificate_bound.names_a_certificate`), else the
    bearer path's."""
    if dpop is not None:
        return dpop.verifier
    bound = _find(authenticators, CertificateBoundAuthenticator)
    if bound is not None and names_a_certificate(token, bound.verifier.settings.max_token_bytes):
        return bound.verifier
    bearer = _find(authenticators, BearerAuthenticator)
    return bearer.verifier if bearer is not None else None


def _describe_proof(
    explanation: Explanation,
    dpop: DPoPAuthenticator | None,
    scope: Scope,
    token: str,
    proof: str | None,
    replay: _ReplayNotAsked,
) -> None:
    """The proof's header, the method and URL it must name, each check of the library's
    own :class:`~.verification.dpop.ProofChecker` on it (run again on the same request:
    what failed, the middleware logged), and what is known of its replay."""
    if dpop is None:
        explanation.replay = "not asked: DPoP is not enabled (JWT_DPOP_ENABLED)"
        return
    method, path = scope["method"], _proof_path(scope)
    target = dpop.checker.request_url(path) or "(none: the path makes no URL)"
    explanation.proof_target = f"{method} {target} (the proof's htm and htu must name it)"
    sent = sum(1 for name, _ in scope["headers"] if name == b"dpop")
    if proof is None or sent != 1:
        explanation.proof_header = f"{sent} DPoP headers sent (exactly one is needed)"
        explanation.replay = "not reached"
        return
    try:
        parsed = jws.parse(proof)
        explanation.proof_header = f"alg={parsed.algorithm!a} typ={parsed.typ!a}"
    except (jws.MalformedTokenError, AuthenticationError):
        explanation.proof_header = "not a compact JWS"
    failed: ProofRefused | None = None
    try:
        dpop.checker.check(proof, method=method, raw_path=path, access_token=token, now=time.time())
    except ProofRefused as refused:
        failed = refused
    outcome = "ok"
    for check in PROOF_CHECKS:
        if failed is not None and check == failed.check:
            explanation.proof_checks.append((check, f"refused: {failed.reason.value}"))
            outcome = "not reached"
        else:
            explanation.proof_checks.append((check, outcome))
    explanation.replay = REPLAY_NOT_KNOWABLE if replay.asked else "not reached"


def _proof_path(scope: Scope) -> str:
    """The path a proof's ``htu`` is compared with, as the DPoP authenticator reads it."""
    raw_path = scope["raw_path"]
    return raw_path.decode("latin-1") if isinstance(raw_path, bytes) else scope["path"]


def _certificate_words(pem: str) -> str:
    try:
        thumbprint = certificate_thumbprint(pem.encode("ascii", "replace"))
    except CertificateRefused as refused:
        return f"not a certificate ({refused.reason.value})"
    return f"x5t#S256 {thumbprint} (what a token bound to it names in cnf)"


def _policy_for(
    policies: Sequence[IssuerPolicy], verified: VerifiedToken | None, lines: list[str]
) -> IssuerPolicy | None:
    """The issuer whose rules applied: the verified token's, the one the refusal names,
    or the only one."""
    wanted = verified.issuer if verified is not None else _logged_issuer(lines)
    for policy in policies:
        if wanted is not None and policy.issuer == wanted:
            return policy
    return policies[0] if len(policies) == 1 else None


def _logged_issuer(lines: list[str]) -> str | None:
    for line in lines:
        for part in line.split():
            if part.startswith("issuer="):
                return part.removeprefix("issuer=")
    return None


#: Refusals made before, or at, the signature: the claims were never trusted. A DPoP
#: request's proof is checked before its token.
_BEFORE_CLAIMS: Final = frozenset(
    reason.value
    for reason in (
        Reason.DPOP_PROOF,
        Reason.DPOP_ALGORITHM,
        Reason.DPOP_SIGNATURE,
        Reason.DPOP_REQUEST,
        Reason.DPOP_TIME,
        Reason.DPOP_TOKEN_HASH,
        Reason.DPOP_NONCE,
        Reason.DPOP_REQUIRED,
        Reason.MISSING,
        Reason.MALFORMED_REQUEST,
        Reason.TOO_LARGE,
        Reason.MALFORMED,
        Reason.ALGORITHM,
        Reason.TOKEN_TYPE,
        Reason.SIGNER,
        Reason.UNKNOWN_KID,
        Reason.BAD_SIGNATURE,
        Reason.KEYS_UNAVAILABLE,
        Reason.ISSUER,
    )
)


def _signature_accepted(lines: list[str]) -> bool:
    """Whether the middleware's refusal came after the signature checked out."""
    for line in lines:
        if line.startswith(_REFUSED):
            return line.removeprefix(_REFUSED).split()[0] not in _BEFORE_CLAIMS
    return False


def _source_words(source: object) -> str:
    url = getattr(source, "url", None)
    name = type(source).__name__
    return f"{name} ({url})" if isinstance(url, str) else name


def run(app: Any, **options: Any) -> Explanation:
    """:func:`explain` from synchronous code (the command line)."""
    return asyncio.run(explain(app, **options))
