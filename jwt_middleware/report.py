"""What an app's middleware requires of each of its routes, read from the app itself: for
the OpenAPI document (:func:`jwt_middleware.fastapi.document_security`) and the route
table of ``python -m jwt_middleware routes module:app``.
"""

from __future__ import annotations

from typing import Any

from .access.policy import AccessPolicy
from .access.routes import app_routes, audit, route_table
from .middleware import JWTAuthMiddleware

__all__ = ["policy_of", "routes_report"]


def policy_of(app: Any) -> AccessPolicy:
    """The policy of the app's :class:`JWTAuthMiddleware`, with the routes' declarations.

    Once the app has served a request its middleware is built: its own policy is used.
    Before that, one is built from the options the middleware was added with.
    """
    layer: Any = getattr(app, "middleware_stack", None)
    while layer is not None:
        if isinstance(layer, JWTAuthMiddleware):
            return layer.policy
        layer = getattr(layer, "app", None)
    for entry in getattr(app, "user_middleware", ()):
        if entry.cls is JWTAuthMiddleware:
            options = entry.kwargs
            policy = options.get("policy") or AccessPolicy(
                public=options.get("public", ()),
                optional=options.get("optional", ()),
                scopes=options.get("scopes"),
            )
            for route in app_routes(app):
                if route.requirement is not None:
                    policy.require_route(route.methods, route.path, route.requirement)
            return policy
    raise LookupError("the app has no JWTAuthMiddleware")


def routes_report(app: Any) -> str:
    """The route table of ``app``, then the rules that match no route."""
    policy = policy_of(app)
    routes = app_routes(app)
    rows = [("METHOD", "PATH", "REQUIRES"), *route_table(policy, routes)]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    lines = [f"{m:<{widths[0]}}  {p:<{widths[1]}}  {r}".rstrip() for m, p, r in rows]
    problems = audit(policy, routes)
    if problems:
        lines += ["", *(f"warning: {problem}" for problem in problems)]
    return "\n".join(lines)
