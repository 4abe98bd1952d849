"""``python -m jwt_middleware explain``: what the middleware would do with a request, and why.

The verdict is not worked out beside the middleware: the app's own
:class:`~jwt_middleware.middleware.JWTAuthMiddleware` answers the request, with the app
behind it replaced by a stand-in that only records that the request got through (no
handler runs). The status, ``WWW-Authenticate`` and body printed are the ones it sent, and
the reason is the one its refusal log wrote (``jwt_middleware.refusals``), so the
explanation cannot disagree with the server. Around that verdict it says what it can
without the token's secrets: the rule the path falls under, where the credential was,
the token's header (algorithm, ``kid``, ``typ``), the issuer and the key source that
serve it, and each claim check of that issuer with its outcome.

It never prints the token, a claim's value, a secret or key material.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import jws
from .access.policy import Access
from .errors import AuthenticationError
from .keys.issuers import IssuerPolicy
from .middleware import JWTAuthMiddleware
from .refusals import Reason
from .types import VerifiedToken
from .verification.bearer import BearerAuthenticator
from .verification.chain import AuthenticatorChain

__all__ = ["Explanation", "explain", "find_middleware"]

_REFUSALS_LOGGER: Final = "jwt_middleware.refusals"
_SHOWN_HEADERS: Final = frozenset({"www-authenticate", "content-type", "retry-after"})


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
        lines += [f"log         {line}" for line in self.log_lines]
        lines.append(f"answer      {self.status}")
        lines += [f"  {name}: {value}" for name, value in self.headers]
        if self.body:
            lines.append(f"  body: {self.body}")
        verdict = "let through to the app" if self.let_through else "refused"
        lines.append(f"verdict     {verdict}")
        return "\n".join(lines)


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
) -> Explanation:
    """Send one request through the app's middleware (no handler runs) and explain it.

    ``token`` goes in ``Authorization: Bearer``; ``headers`` are sent as well (a cookie, a
    proxy's header), lower-cased as servers give them."""
    middleware = find_middleware(app)
    sent = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if token is not None:
        sent.append((b"authorization", b"Bearer " + token.encode("ascii", "replace")))
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
    decision = middleware.policy.decide(method.upper(), path, scope["raw_path"])
    status, answer_headers, body, through, lines = await _answer(middleware, scope)
    explanation = Explanation(
        method=method.upper(),
        path=path,
        access=_ACCESS_WORDS[decision.access],
        required_scopes=tuple(sorted(decision.requirement.scopes)),
        credential=_credential_words(token, headers),
        status=status,
        headers=answer_headers,
        body=body,
        let_through=through,
        log_lines=lines,
    )
    if token is not None:
        _describe_token(explanation, middleware, token, scope)
    return explanation


_ACCESS_WORDS: Final = {
    Access.PUBLIC: "public (no token needed; a bad one is ignored)",
    Access.OPTIONAL: "optional (no token passes as anonymous; a sent one must be valid)",
    Access.TOKEN: "protected (a valid token needed)",
    Access.REFUSED: "refused (the path is not canonical)",
}


def _credential_words(token: str | None, headers: Iterable[tuple[str, str]]) -> str:
    names = sorted({name.lower() for name, _ in headers})
    where = [f"Authorization: Bearer ({len(token)} characters)"] if token is not None else []
    where += [f"{name} header" for name in names]
    return ", ".join(where) if where else "none sent"


async def _answer(
    middleware: JWTAuthMiddleware, scope: Scope
) -> tuple[int, list[tuple[str, str]], str, bool, list[str]]:
    """The middleware's answer to ``scope``, with the app behind it stood in for."""
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

    capture = _Capture()
    logger = logging.getLogger(_REFUSALS_LOGGER)
    level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    real_app: ASGIApp = middleware.app
    middleware.app = stand_in
    try:
        await middleware(scope, receive, send)
    finally:
        middleware.app = real_app
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


def _describe_token(
    explanation: Explanation, middleware: JWTAuthMiddleware, token: str, scope: Scope
) -> None:
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
    verifier = _bearer_verifier(middleware.authenticators)
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


def _bearer_verifier(authenticators: Sequence[object]) -> Any:
    for authenticator in authenticators:
        if isinstance(authenticator, BearerAuthenticator):
            return authenticator.verifier
        if isinstance(authenticator, AuthenticatorChain):
            found = _bearer_verifier(authenticator.authenticators)
            if found is not None:
                return found
    return None


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


#: Refusals made before, or at, the signature: the claims were never trusted.
_BEFORE_CLAIMS: Final = frozenset(
    reason.value
    for reason in (
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
        if line.startswith("refused: reason="):
            reason = line.removeprefix("refused: reason=").split()[0]
            return reason not in _BEFORE_CLAIMS
    return False


def _source_words(source: object) -> str:
    url = getattr(source, "url", None)
    name = type(source).__name__
    return f"{name} ({url})" if isinstance(url, str) else name


def run(app: Any, **options: Any) -> Explanation:
    """:func:`explain` from synchronous code (the command line)."""
    return asyncio.run(explain(app, **options))
