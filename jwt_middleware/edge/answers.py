"""How the middleware answers a request it refuses: status, ``WWW-Authenticate``, body.

The status and the challenge follow RFC 6750 (and RFC 9470 for step-up, RFC 9728 for the
``resource_metadata`` parameter, RFC 9449 for DPoP) and never depend on anything but the
error, whose ``scheme`` the challenge names (``Bearer``, unless an authenticator of another
kind raised it), followed by the challenges of the other schemes it says are accepted too
(:meth:`~jwt_middleware.errors.AuthenticationError.other_challenges`), and whose own
headers (a ``DPoP-Nonce``) go with it; the body is
``{"detail": "<fixed text>"}`` by default, or whatever an ``error_body`` hook makes of the
error (RFC 9457 problem details, say: :func:`problem_details`). One :class:`Answers` per
middleware is put in ``scope["jwt_middleware"]``, so that errors raised inside the app are
answered in exactly the same shape (:func:`authentication_error_handler`).

Since an answer depends on nothing but the error and the scopes of the resource, the
middleware does not build a ``Response`` per refusal: :class:`Answers` builds each answer
once, the fixed refusals at construction, and sends the same status, headers and body as
raw ASGI messages (:meth:`Answers.send`), so a flood of forged tokens costs no more than
the check that refuses them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from ..errors import (
    AuthenticationError,
    AuthenticationUnavailableError,
    InvalidRequestError,
    InvalidTokenError,
    KeysUnavailableError,
    MissingTokenError,
    TokenExpiredError,
    TokenRevokedError,
)

__all__ = [
    "Answers",
    "ErrorBody",
    "authentication_error_handler",
    "challenge_response",
    "problem_details",
]

#: ``(error) -> (media type, body)``: the body of an answer, status and challenge aside.
ErrorBody = Callable[[AuthenticationError], tuple[str, bytes]]

logger = logging.getLogger("jwt_middleware")

#: How long a client should wait before retrying a 503.
RETRY_AFTER_SECONDS: Final = 5
_DEFAULT_REALM: Final = "api"


def json_detail(error: AuthenticationError) -> tuple[str, bytes]:
    """The default body: ``{"detail": "<fixed text>"}``."""
    return "application/json", _json({"detail": error.description})


def problem_details(error: AuthenticationError) -> tuple[str, bytes]:
    """An RFC 9457 ``application/problem+json`` body, for ``error_body=``.

    ``type`` names the RFC 6750 error code where there is one; ``detail`` is the same fixed
    text as the default body.
    """
    document = {
        "type": f"urn:ietf:params:oauth:error:{error.error}" if error.error else "about:blank",
        "title": error.error.replace("_", " ") if error.error else "authentication required",
        "status": error.status_code,
        "detail": error.description,
    }
    return "application/problem+json", _json(document)


def _json(document: object) -> bytes:
    # The same bytes as Starlette's JSONResponse, so answers look alike wherever they come from.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _guarded(body: ErrorBody | None) -> ErrorBody:
    """The body to answer with: the default for ``None``, our own bodies as they are (they
    cannot fail), any other hook behind a :class:`_GuardedBody` (once: a guarded one is
    kept)."""
    if body is None:
        return json_detail
    if body in (json_detail, problem_details) or isinstance(body, _GuardedBody):
        return body
    return _GuardedBody(body)


class _GuardedBody:
    """An ``error_body`` hook that cannot turn a refusal into a 500.

    A hook that raises, or returns something other than ``(str, bytes)``, gets the default
    body instead: the status and challenge are what matter to a client, and a bug in the
    hook must not answer a bad token with a bare 500. The failure is logged once per hook,
    by the exception's class name only (its message may quote the request).
    """

    __slots__ = ("hook", "logged")

    def __init__(self, hook: ErrorBody) -> None:
        self.hook = hook
        self.logged = False

    def __call__(self, error: AuthenticationError) -> tuple[str, bytes]:
        try:
            media_type, content = self.hook(error)
            if not isinstance(media_type, str) or not isinstance(content, bytes):
                raise TypeError  # handled below, like any other failure of the hook
        except Exception as exc:
            if not self.logged:
                self.logged = True
                logger.error(
                    "error_body hook failed (%s); answering with the default body",
                    type(exc).__name__,
                )
            return json_detail(error)
        return media_type, content


#: An answer as ASGI sends it: status, raw headers, body.
_Answer = tuple[int, tuple[tuple[bytes, bytes], ...], bytes]
#: What an answer depends on: the error's class, description and challenge parameters,
#: and the scopes of the resource.
_AnswerKey = tuple[type[AuthenticationError], str, tuple[object, ...], frozenset[str]]
#: Answers remembered at most; past that (an app raising errors with ever new
#: descriptions) they are built for each refusal.
_MAX_BUILT_ANSWERS: Final = 256
#: The refusals whose answer is fixed, built with every :class:`Answers`.
_FIXED_REFUSALS: Final = (
    MissingTokenError,
    InvalidRequestError,
    InvalidTokenError,
    TokenExpiredError,
    TokenRevokedError,
    AuthenticationUnavailableError,
    KeysUnavailableError,
)


class Answers:
    """How one middleware answers: its realm, the URL of its protected resource metadata
    (RFC 9728) for the challenges, and the shape of the body (an ``error_body`` hook that
    fails gets the default body, see :class:`_GuardedBody`).

    Each answer is built once (the fixed refusals here, others on first use) and sent as
    raw ASGI messages by :meth:`send`, unless ``body`` is a hook of your own, which is
    asked on every refusal since it may answer differently each time. The attributes are
    read at construction: build a new :class:`Answers` to change them.
    """

    __slots__ = ("_built", "body", "realm", "resource_metadata")

    def __init__(
        self,
        *,
        realm: str,
        resource_metadata: str | None = None,
        body: ErrorBody | None = None,
    ) -> None:
        self.realm = realm
        self.resource_metadata = resource_metadata
        self.body = _guarded(body)
        self._built: dict[_AnswerKey, _Answer] | None = (
            None if isinstance(self.body, _GuardedBody) else {}
        )
        for error in _FIXED_REFUSALS:
            self._answer(error(), frozenset())

    async def send(
        self, error: AuthenticationError, scope: Scope, send: Send, *, scopes: Collection[str] = ()
    ) -> None:
        """Send the answer to ``error``: the same status, headers and body as
        :meth:`response`, in the shape of a WebSocket denial response for a WebSocket."""
        status, headers, body = self._answer(error, frozenset(scopes))
        prefix = "websocket." if scope["type"] == "websocket" else ""
        # New messages and a new header list each time: a middleware outside may change them.
        await send(
            {"type": prefix + "http.response.start", "status": status, "headers": [*headers]}
        )
        await send({"type": prefix + "http.response.body", "body": body})

    def _answer(self, error: AuthenticationError, scopes: frozenset[str]) -> _Answer:
        # An answer with headers of its own (a nonce that changes with time) is not kept.
        built = self._built if not error.response_headers() else None
        key: _AnswerKey | None = None
        if built is not None:
            key = (
                type(error),
                error.description,
                (
                    tuple(error.challenge_parameters()),
                    error.other_challenges(),
                ),
                scopes,
            )
            known = built.get(key)
            if known is not None:
                return known
        response = self.response(error, scopes=scopes)
        answer = (response.status_code, tuple(response.raw_headers), bytes(response.body))
        if built is not None and key is not None and len(built) < _MAX_BUILT_ANSWERS:
            built[key] = answer
        return answer

    def response(self, error: AuthenticationError, *, scopes: Collection[str] = ()) -> Response:
        """The answer to ``error``; see :func:`challenge_response`."""
        return challenge_response(
            error,
            realm=self.realm,
            resource_metadata=self.resource_metadata,
            body=self.body,
            scopes=scopes,
        )


def challenge_response(
    error: AuthenticationError,
    *,
    realm: str,
    resource_metadata: str | None = None,
    body: ErrorBody | None = None,
    scopes: Collection[str] = (),
) -> Response:
    """The answer to ``error``: its status, ``WWW-Authenticate`` and a short fixed body.

    ``scopes`` are the scopes the requested resource needs: a 401 for a missing or invalid
    token names them in its challenge (RFC 6750 section 3), so that a client asks its
    authorization server for those and no others (the MCP authorization spec asks servers
    to); a 403 ``insufficient_scope`` names them already. A 503 (a revocation
    store or the identity provider is unreachable) carries ``Retry-After`` instead of a
    challenge: the client's credentials were not found wanting; a 403 without an RFC 6750
    error code (a cross-site request refused) has no challenge either. A ``body`` hook that
    raises gets the default body instead, never a 500.
    """
    headers = {"Cache-Control": "no-store"}
    if error.status_code == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif error.status_code == 403 and error.error is None:
        pass  # refused for something other than its credentials (a cross-site request)
    else:
        parameters = [("realm", realm)]
        if error.error is not None:
            parameters += [("error", error.error), ("error_description", error.description)]
        own = error.challenge_parameters()
        parameters += own
        if scopes and error.error in (None, "invalid_token"):
            parameters.append(("scope", " ".join(sorted(scopes))))
        if resource_metadata is not None:
            parameters.append(("resource_metadata", resource_metadata))
        challenges = [_challenge(error.scheme, parameters)]
        for scheme, others in error.other_challenges():
            extra = [("realm", realm), *others]
            if scopes and error.error is None:
                extra.append(("scope", " ".join(sorted(scopes))))
            if resource_metadata is not None:
                extra.append(("resource_metadata", resource_metadata))
            challenges.append(_challenge(scheme, extra))
        headers["WWW-Authenticate"] = ", ".join(challenges)
        # A browser hides every response header but a few from a client on another origin;
        # this lets it read the challenge (the app's CORS layer still decides the origin).
        headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    own_headers = error.response_headers()
    if own_headers:
        headers.update(own_headers)
        exposed = headers.get("Access-Control-Expose-Headers")
        names = ", ".join(name for name, _ in own_headers)
        headers["Access-Control-Expose-Headers"] = f"{exposed}, {names}" if exposed else names
    media_type, content = _guarded(body)(error)
    return Response(content, status_code=error.status_code, headers=headers, media_type=media_type)


def _challenge(scheme: str, parameters: list[tuple[str, str]]) -> str:
    """One challenge (RFC 9110 section 11.3): the scheme and its quoted parameters."""
    return scheme + " " + ", ".join(f'{name}="{value}"' for name, value in parameters)


async def authentication_error_handler(request: Request, exc: Exception) -> Response:
    """An exception handler for :class:`AuthenticationError` (Starlette and FastAPI).

    The middleware already answers these errors when they escape the app, so this is only
    needed when something between them would turn the error into a 500 first (a catch-all
    handler of your own, say)::

        app.add_exception_handler(AuthenticationError, authentication_error_handler)

    It answers as the middleware that handled the request would.
    """
    if not isinstance(exc, AuthenticationError):
        raise exc
    answers = request.scope.get("jwt_middleware")
    if isinstance(answers, Answers):
        return answers.response(exc)
    return challenge_response(exc, realm=_DEFAULT_REALM)
