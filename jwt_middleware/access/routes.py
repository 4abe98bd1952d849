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

from .index import REST_OF_PATH
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


def _expanded(routes: Iterable[Any]) -> list[Any]:
    """The routes, with FastAPI's included routers (resolved lazily since FastAPI 0.13x, as
    ``_IncludedRouter`` entries) expanded into the routes they hold."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # no FastAPI, or one whose included routes are plain routes
        return list(routes)
    return list(iter_route_contexts(list(routes)))


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[RouteInfo]:
    for route in _expanded(routes):
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        kind = type(getattr(route, "original_route", route)).__name__
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
    """One message per public, optional or requirement rule that matches no route, and per
    requirement rule that covers one segment of a route's whole-path parameter.

    ``served`` are paths the middleware answers itself (the RFC 9728 metadata). A typo in a
    public rule silently leaves a route protected, in a requirement rule silently leaves it
    open to any token: both deserve a word at start-up.
    """
    targets = [*routes, *(RouteInfo(("GET", "HEAD"), path) for path in served)]
    messages = []
    for kind, rules in (
        ("public", policy.public.rules),
        ("optional", policy.optional.rules),
        ("scopes", tuple(rule for rule, _ in policy.rules)),
    ):
        for rule in rules:
            if not any(_overlaps(rule, route) for route in targets):
                messages.append(f"{kind} rule {rule.spec!r} matches no route of the app")
    for rule, _ in policy.rules:
        messages += [
            f"scopes rule {rule.spec!r} covers one segment of route {route.path!r}, whose "
            "parameter takes a whole path: end the rule with '/*' to cover all of it"
            for route in routes
            if _covers_one_segment_of_a_path_parameter(rule, route)
        ]
    return messages


def _covers_one_segment_of_a_path_parameter(rule: PathRule, route: RouteInfo) -> bool:
    """Whether a rule ends with a one-segment parameter where the route takes a whole path
    (``/files/{name}`` against ``/files/{name:path}``): ``/files/a/b`` is the route's and
    not the rule's, so the requirement silently stops at the first ``/``."""
    if rule.segments is None or not rule.segments or rule.segments[-1] is not None:
        return False
    if not any(rule.methods is None or m in rule.methods for m in route.methods):
        return False
    template = route.path[1:].split("/")
    last = len(rule.segments) - 1
    if last >= len(template):
        return False
    parameter = _PARAMETER.fullmatch(template[last])
    if parameter is None or parameter.group(2) != "path":
        return False
    for segment, part in zip(rule.segments[:last], template, strict=False):
        if segment is not None and _PARAMETER.fullmatch(part) is None and segment != part:
            return False
    return True


def _overlaps(rule: PathRule, route: RouteInfo) -> bool:
    """Whether some request could match both the rule and the route."""
    methods = [m for m in route.methods if rule.methods is None or m in rule.methods]
    if not methods:
        return False
    if rule.segments is None or not _expressible(route.path):
        # A regex, or a template the rule syntax cannot read: try the route's sample path.
        return any(rule.matches(m, sample_path(route.path)) for m in methods)
    template = route.path[1:].split("/") if route.path != "/" else [""]
    for index, segment in enumerate(rule.segments):
        if index >= len(template):
            return False
        part = template[index]
        parameter = _PARAMETER.fullmatch(part)
        if segment == REST_OF_PATH or (parameter is not None and parameter.group(2) == "path"):
            return True  # everything below matches on one side or the other
        if segment is not None and parameter is None and segment != part:
            return False
    return len(template) == len(rule.segments)


def _expressible(template: str) -> bool:
    """Whether a route template reads as a rule (no ``{id}.json``, no ``{p:path}`` before
    its end, no custom convertor)."""
    try:
        PathRule.parse(template, kind="route")
    except ValueError:
        return False
    return True


def route_table(policy: AccessPolicy, routes: list[RouteInfo]) -> list[tuple[str, str, str]]:
    """(methods, path, what they require) for every route: the table a review asks for.

    The methods of one route that require the same are one row (``GET,HEAD``).
    """
    rows = []
    for route in routes:
        by_need: dict[str, list[str]] = {}
        for method in route.methods:
            need = _describe(decision_for(policy, method, route.path))
            by_need.setdefault(need, []).append(method or "WEBSOCKET")
        rows += [(",".join(methods), route.path, need) for need, methods in by_need.items()]
    return rows


def _describe(decision: Decision) -> str:
    if decision.access is not Access.TOKEN:
        return str(decision.access.value)
    details = decision.requirement.describe()
    return "token" + (f" ({details})" if details else "")
