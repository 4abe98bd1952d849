"""What the middleware does once before it serves: load remote keys, read the requirements
declared on the app's routes, audit its rules against those routes; and at shutdown, close
what the authenticators hold open.

With a server that runs the ASGI lifespan it happens in ``lifespan.startup``
(:meth:`StartUp.lifespan`); without one, at the first request (:meth:`StartUp.read_routes`,
keys then load on demand). A strict audit that fails (``JWT_STRICT_RULES``) refuses
start-up: see :mod:`.unconfigured` for why the refusal is answered and then raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..access.policy import AccessPolicy
from ..access.routes import app_routes, audit
from ..errors import ConfigurationError
from ..verification.authenticator import Authenticator
from .unconfigured import cannot_start

__all__ = ["StartUp"]

logger = logging.getLogger("jwt_middleware")


class StartUp:
    """The start-up and shutdown of one middleware.

    ``served`` are the paths the middleware answers itself (the RFC 9728 document), which the
    audit must not report as matching no route; ``on_routes`` is called once the routes'
    requirements are in the policy (the metadata's ``scopes_supported`` count them).
    """

    __slots__ = ("app", "authenticators", "on_routes", "policy", "served", "strict")

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: AccessPolicy,
        authenticators: Sequence[Authenticator],
        strict: bool,
        served: Sequence[str] = (),
        on_routes: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.authenticators = tuple(authenticators)
        self.strict = strict
        self.served = list(served)
        self.on_routes = on_routes

    def read_routes(self, scope: Scope) -> ConfigurationError | None:
        """Take the requirements declared on the app's routes into the policy and audit the
        rules against the routes; the error that must stop the middleware, if any."""
        app = scope.get("app")
        if app is None or not hasattr(app, "routes"):
            return None
        routes = app_routes(app)
        for route in routes:
            if route.requirement is not None:
                self.policy.require_route(route.methods, route.path, route.requirement)
        if self.on_routes is not None:
            self.on_routes()
        problems = audit(self.policy, routes, served=self.served)
        for problem in problems:
            if self.strict:
                logger.error("%s (JWT_STRICT_RULES)", problem)
            else:
                logger.warning("%s", problem)
        if problems and self.strict:
            return ConfigurationError(
                f"{problems[0]}; fix the rule, or unset JWT_STRICT_RULES to only warn"
            )
        return None

    async def lifespan(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        started: Callable[[ConfigurationError | None], None],
    ) -> None:
        """Pass the lifespan through: load remote keys and read the app's routes before the
        app starts (``started`` hears the outcome), close the authenticators once the app
        has shut down.

        A strict audit that fails refuses start-up before the app's own start-up runs:
        ``lifespan.startup.failed`` goes to the server, then :class:`ConfigurationError`
        is raised, as Starlette's own router does. Servers stop on the message; test
        clients (Starlette's ``TestClient``, asgi-lifespan's ``LifespanManager``) wait for
        the lifespan task to end after a failure and raise what it raised, so returning
        normally would leave them waiting forever.
        """
        refusal: str | None = None

        async def starting() -> Message:
            nonlocal refusal
            message = await receive()
            if message["type"] == "lifespan.startup":
                for authenticator in self.authenticators:
                    await authenticator.prefetch()  # never raises: a provider down is logged
                error = self.read_routes(scope)
                started(error)
                if error is not None:
                    refusal = cannot_start(error)
                    # A server's send may raise here itself (hypercorn does): let it.
                    await send({"type": "lifespan.startup.failed", "message": refusal})
                    raise ConfigurationError(refusal)
            return message

        async def stopping(message: Message) -> None:
            if refusal is not None:
                return  # the app's own answer to the refusal: the server has ours
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                for authenticator in self.authenticators:
                    await authenticator.aclose()
            await send(message)

        await self.app(scope, starting, stopping)
        if refusal is not None:
            raise ConfigurationError(refusal)  # the app swallowed the first one
