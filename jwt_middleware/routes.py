"""The app's routes as the policy sees them: route-level declarations, the audit of the
allowlist, and the table a security review asks for.

Starlette and FastAPI apps are read through their ``routes``: ``Route``, ``WebSocketRoute``,
``Mount`` (its own routes, or the whole path below it for an app without routes, such as
``StaticFiles``) and FastAPI's ``APIRoute``, whose dependencies (and theirs) are searched for
a declaration such as :class:`~jwt_middleware.fastapi.RequireScopes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from .policy import Access, AccessPolicy, Decision, Requirement, requirement_of
from .rules import PathRule

__all__ = ["RouteInfo", "app_routes", "audit", "route_table", "sample_path"]

_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_SAMPLES: Final = {
    "int": "1",
    "float": "1.5",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "path": "x/y",
}
_HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """One route: its methods (``None`` for a WebSocket), path template and declaration."""

    methods: tuple[str | None, ...]
    path: str
    requirement: Requirement | None = None


def app_routes(app: Any) -> list[RouteInfo]:
    """Every route of a Starlette or FastAPI app, mounts flattened into full templates."""
    return list(_walk(getattr(app, "routes", ()), ""))


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[RouteInfo]:
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        kind = type(route).__name__
        if kind == "Mount":
            inner = getattr(route, "routes", None) or getattr(
                getattr(route, "app", None), "routes", None
            )
            if inner:
                yield from _walk(inner, prefix + path)
            else:
                yield RouteInfo((*_HTTP_METHODS, None), prefix + path + "/{path:path}")
            continue
        if kind == "Host":
            yield from _walk(getattr(route, "routes", ()), prefix)
            continue
        methods: tuple[str | None, ...]
        if "WebSocket" in kind:
            methods = (None,)
        else:
            methods = tuple(sorted(getattr(route, "methods", None) or _HTTP_METHODS))
        yield RouteInfo(methods, prefix + path, _declared(route))


def _declared(route: Any) -> Requirement | None:
    """The route-level requirement of a route: on its endpoint, or in its dependencies."""
    found = requirement_of(getattr(route, "endpoint", None))
    dependant = getattr(route, "dependant", None)
    for call in _dependency_calls(dependant):
        declared = requirement_of(call)
        if declared is not None:
            found = declared if found is None else found.merged(declared)
    return found


def _dependency_calls(dependant: Any) -> Iterator[Any]:
    if dependant is None:
        return
    for child in getattr(dependant, "dependencies", ()):
        yield getattr(child, "call", None)
        yield from _dependency_calls(child)


def sample_path(template: str) -> str:
    """A concrete path the template matches (``/todos/{id:int}`` -> ``/todos/1``)."""
    return _PARAMETER.sub(lambda m: _SAMPLES.get(m.group(2) or "", "x"), template)


def decision_for(policy: AccessPolicy, method: str | None, template: str) -> Decision:
    """What a route's requests need, by the policy, from a sample of its template."""
    return policy.decide(method, sample_path(template), sample_path(template).encode())


def audit(
    policy: AccessPolicy, routes: list[RouteInfo], *, served: Iterable[str] = ()
) -> list[str]:
    """One message per public, optional or requirement rule that matches no route.

    ``served`` are paths the middleware answers itself (the RFC 9728 metadata). A typo in a
    public rule silently leaves a route protected, in a requirement rule silently leaves it
    open to any token: both deserve a word at start-up.
    """
    samples = [(method, sample_path(route.path)) for route in routes for method in route.methods]
    samples += [("GET", path) for path in served]
    messages = []
    for kind, rules in (
        ("public", policy.public.rules),
        ("optional", policy.optional.rules),
        ("scopes", tuple(rule for rule, _ in policy.rules)),
    ):
        for rule in rules:
            if not any(_covers(rule, method, path) for method, path in samples):
                messages.append(f"{kind} rule {rule.spec!r} matches no route of the app")
    return messages


def _covers(rule: PathRule, method: str | None, path: str) -> bool:
    return rule.matches(method, path) or (method == "GET" and rule.matches("HEAD", path))


def route_table(policy: AccessPolicy, routes: list[RouteInfo]) -> list[tuple[str, str, str]]:
    """(method, path, what it requires) for every route: the table a review asks for."""
    rows = []
    for route in routes:
        for method in route.methods:
            decision = decision_for(policy, method, route.path)
            rows.append((method or "WEBSOCKET", route.path, _describe(decision)))
    return rows


def _describe(decision: Decision) -> str:
    if decision.access is not Access.TOKEN:
        return str(decision.access.value)
    details = decision.requirement.describe()
    return "token" + (f" ({details})" if details else "")
