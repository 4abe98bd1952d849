"""Who may call what: public, optional and token-only requests, and what a token must have.

One :class:`AccessPolicy` per middleware drives the answers at run time, the OpenAPI
document (:func:`jwt_middleware.fastapi.document_security`), the RFC 9728 metadata's
``scopes_supported`` and the route table (``python -m jwt_middleware routes``), so that
documentation and behaviour cannot drift apart.

How a request is decided, in this order:

1. Every **requirement rule** that matches it applies (``scopes={"POST /todos":
   ["todos:write"]}``, and route-level declarations): the request needs a valid token with
   all their scopes, whatever the allowlist says. Several matching rules add up (their
   scopes are all needed; ``acr_values`` must satisfy each; the smallest ``max_age``
   wins), so no rule can relax another and their order does not matter.
2. Else, a **public** rule: no token needed; a valid token still fills the request's
   state, an invalid one is ignored.
3. Else, an **optional** rule: no token passes as anonymous, but a token that is sent must
   be valid (an expired one is a 401, not silently anonymous).
4. Else a valid token is needed.

0. Before all of these, a path that could mean something else downstream (dot segments,
   empty segments, encoded separators, double encodings, Unicode look-alikes: see
   :func:`~.paths.is_safe_path`) is **refused** with 400, token or not: the rules match the
   path as written, while a file server or a ``{p:path}`` route may normalise it into a
   path another rule protects (``/files/public/../secret/x.txt``). No public path is
   refused: a public rule never applied to such a path.

Requirement rules match the decoded path the router sees, so a request the router would
send to a route is held to that route's requirement; a method in lower case is held to the
requirements of its upper-case form too (an app further on may upper-case it), while a
public or optional rule for a method only ever applies to that method exactly.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, Final, TypeVar

from ..errors import CertificateRequiredError, DPoPRequiredError, InsufficientScopeError
from ..types import Claims
from ..verification.certificate_bound import CERTIFICATE_PROVED_SCOPE_KEY
from ..verification.claims import check_acr, check_auth_time
from ..verification.dpop import DPOP_PROVED_SCOPE_KEY
from .index import RuleIndex
from .paths import is_safe_path
from .rules import PathRule, PublicPaths, RuleSpec

__all__ = [
    "Access",
    "AccessPolicy",
    "Decision",
    "Requirement",
    "ScopeRules",
    "require_scopes",
    "requirement_of",
]

#: ``scopes=``: rule to what a token must have (a list of scopes, or a :class:`Requirement`).
ScopeRules = (
    Mapping[str, "Requirement | Iterable[str]"] | Mapping[RuleSpec, "Requirement | Iterable[str]"]
)

#: The attribute a route-level declaration leaves on an endpoint (or a FastAPI dependency).
REQUIREMENT_ATTRIBUTE: Final = "__jwt_requirement__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a token must have for a request: ``scopes`` (all of them); optionally an
    ``acr`` among ``acr_values`` and an ``auth_time`` at most ``max_age`` seconds ago
    (RFC 9470 step-up authentication); with ``dpop``, a DPoP proof of the key the token is
    bound to (RFC 9449: a bearer token is refused there, ``dpop_required``); with
    ``mtls``, a binding to the request's TLS client certificate (RFC 8705: a token without
    one is refused there, ``certificate_required``)."""

    scopes: frozenset[str] = frozenset()
    acr_values: tuple[str, ...] | None = None
    max_age: int | None = None
    dpop: bool = False
    mtls: bool = False

    @classmethod
    def of(cls, value: Requirement | Iterable[str]) -> Requirement:
        """A requirement from a rule's value: a :class:`Requirement` or a list of scopes."""
        if isinstance(value, Requirement):
            return value
        if isinstance(value, str):
            raise TypeError("scopes are a list of strings, e.g. ['todos:write']")
        return cls(scopes=frozenset(value))

    def merged(self, other: Requirement) -> Requirement:
        """Both at once: all scopes, ``acr`` values acceptable to both, the shorter age."""
        acr_values = self.acr_values
        if other.acr_values is not None:
            acr_values = (
                other.acr_values
                if acr_values is None
                else tuple(v for v in acr_values if v in other.acr_values)
            )
        ages = [age for age in (self.max_age, other.max_age) if age is not None]
        return Requirement(
            self.scopes | other.scopes,
            acr_values,
            min(ages) if ages else None,
            self.dpop or other.dpop,
            self.mtls or other.mtls,
        )

    def check(
        self,
        scopes: Iterable[str],
        claims: Claims,
        *,
        now: float | None = None,
        proved: bool = False,
        certified: bool = False,
        dpop_algorithms: str = "",
    ) -> None:
        """Raise the error a token with these scopes and claims deserves, or nothing;
        ``proved``: whether it came with a DPoP proof (asked only with :attr:`dpop`), whose
        refusal's challenge names ``dpop_algorithms`` (RFC 9449 section 7.1);
        ``certified``: whether it is bound to the request's TLS client certificate, which
        was compared (asked only with :attr:`mtls`)."""
        if self.dpop and not proved:
            raise DPoPRequiredError(algorithms=dpop_algorithms)
        if self.mtls and not certified:
            raise CertificateRequiredError
        granted = set(scopes)
        if not self.scopes <= granted:
            raise InsufficientScopeError(scopes=sorted(self.scopes))
        if self.acr_values is not None:
            check_acr(claims, self.acr_values, max_age=self.max_age)
        if self.max_age is not None:
            moment = time.time() if now is None else now
            check_auth_time(claims, self.max_age, moment, acr_values=self.acr_values)

    def describe(self) -> str:
        """One line for a route table."""
        parts = []
        if self.scopes:
            parts.append("scopes: " + " ".join(sorted(self.scopes)))
        if self.acr_values is not None:
            parts.append("acr: " + " ".join(self.acr_values))
        if self.max_age is not None:
            parts.append(f"max_age: {self.max_age}s")
        if self.dpop:
            parts.append("dpop")
        if self.mtls:
            parts.append("mtls")
        return ", ".join(parts)


#: A request that needs a token and nothing more.
NO_REQUIREMENT: Final = Requirement()
#: A ``dpop=`` rule: a DPoP proof, and nothing more.
_DPOP: Final = Requirement(dpop=True)
#: An ``mtls=`` rule: a token bound to the request's TLS client certificate, and nothing more.
_MTLS: Final = Requirement(mtls=True)


class Access(enum.Enum):
    """What a request needs."""

    PUBLIC = "public"
    OPTIONAL = "optional"
    TOKEN = "token"  # noqa: S105 - a kind of access, not a secret
    #: Refused before any token is looked at: the path is not canonical.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Decision:
    """What one request needs, and what its token must have if it needs one."""

    access: Access
    requirement: Requirement = NO_REQUIREMENT


_PUBLIC: Final = Decision(Access.PUBLIC)
_OPTIONAL: Final = Decision(Access.OPTIONAL)
_TOKEN: Final = Decision(Access.TOKEN)
_REFUSED: Final = Decision(Access.REFUSED)


#: How many decisions :meth:`AccessPolicy.decide` remembers, and for paths how long.
_MAX_DECISIONS: Final = 4096
_MAX_REMEMBERED_PATH: Final = 256
#: The only methods a decision is remembered for: the method is chosen by the client too,
#: at any length, so an unbounded key would unbound the memo.
_REMEMBERED_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", None}
)


class AccessPolicy:
    """The rules of one middleware, indexed once (see the module's docstring for the order).

    Args:
        public: rules for requests that need no token (:mod:`.rules` syntax).
        optional: rules for requests that may come with or without a token; a token that
            comes must be valid.
        scopes: rule to the scopes a token must all have (a list), or a
            :class:`Requirement` (scopes, ``acr_values``, ``max_age``, ``dpop``). Rules
            here also take path templates: ``"GET /todos/{id}"``.
        dpop: rules (the same syntax) for requests that must prove their token's key with
            DPoP: ``Requirement(dpop=True)`` for each.
        mtls: rules (the same syntax) for requests whose token must be bound to their TLS
            client certificate: ``Requirement(mtls=True)`` for each.
    """

    __slots__ = ("_decisions", "_requirements", "optional", "public", "route_rules", "rules")

    def __init__(
        self,
        *,
        public: Iterable[RuleSpec] = (),
        optional: Iterable[RuleSpec] = (),
        scopes: ScopeRules | None = None,
        dpop: Iterable[RuleSpec] = (),
        mtls: Iterable[RuleSpec] = (),
    ) -> None:
        self.public = PublicPaths(public)
        self.optional = PublicPaths(optional, kind="optional")
        self._requirements = RuleIndex[Requirement]()
        #: The requirement rules of the configuration (``scopes=``).
        self.rules: list[tuple[PathRule, Requirement]] = []
        #: The requirements declared on the app's routes, added at start-up.
        self.route_rules: list[tuple[PathRule, Requirement]] = []
        #: Decisions already made, by method, path and raw path: an API serves a few hundred
        #: paths again and again. Bounded (see decide), and emptied when a rule is added.
        self._decisions: dict[tuple[str | None, str, bytes | None], Decision] = {}
        for spec, value in (scopes or {}).items():
            self.require(spec, Requirement.of(value))
        for spec in dpop:
            self.require(spec, _DPOP)
        for spec in mtls:
            self.require(spec, _MTLS)

    def require(self, spec: RuleSpec, requirement: Requirement) -> None:
        """Add a requirement rule."""
        rule = PathRule.parse(spec, kind="scopes")
        self._requirements.add(rule, requirement)
        self.rules.append((rule, requirement))
        self._decisions.clear()

    def require_route(
        self, methods: Iterable[str | None], template: str, requirement: Requirement
    ) -> None:
        """Add the requirement declared on a route (its methods, its path template)."""
        for method in dict.fromkeys(methods):
            spec = template if method is None else f"{method} {template}"
            only = frozenset({"WEBSOCKET"}) if method is None else None
            rule = _route_rule(spec, template, only)
            self._requirements.add(rule, requirement)
            self.route_rules.append((rule, requirement))
        self._decisions.clear()

    @property
    def asks_for_dpop(self) -> bool:
        """Whether a rule of the configuration requires DPoP (see ``dpop``)."""
        return any(requirement.dpop for _, requirement in self.rules)

    @property
    def asks_for_mtls(self) -> bool:
        """Whether a rule of the configuration requires certificate-bound tokens (see
        ``mtls``)."""
        return any(requirement.mtls for _, requirement in self.rules)

    @property
    def scopes_supported(self) -> tuple[str, ...]:
        """Every scope some rule needs, sorted (RFC 9728 ``scopes_supported``)."""
        rules = [*self.rules, *self.route_rules]
        return tuple(sorted({scope for _, req in rules for scope in req.scopes}))

    def decide(self, method: str | None, path: str, raw_path: bytes | None = None) -> Decision:
        """What a request needs. ``path`` is the decoded path relative to the app; ``method``
        is ``None`` for a WebSocket.

        A decision depends on nothing but these three and the rules, so it is remembered.
        Methods and paths are chosen by clients, so only the standard methods are, with
        short paths, and at most :data:`_MAX_DECISIONS` of them (about 2.5 MB at most), the
        memo starting over when full: a client sending a new path each time costs one
        insertion per request.
        """
        key = (method, path, raw_path)
        known = self._decisions.get(key)
        if known is not None:
            return known
        decision = self._decide(method, path, raw_path)
        if (
            method in _REMEMBERED_METHODS
            and len(path) <= _MAX_REMEMBERED_PATH
            and (raw_path is None or len(raw_path) <= _MAX_REMEMBERED_PATH)
        ):
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _decide(self, method: str | None, path: str, raw_path: bytes | None) -> Decision:
        if not is_safe_path(path, raw_path):
            return _REFUSED
        matched = self._requirements.match(method or "WEBSOCKET", path)
        if method is not None and method.upper() != method:
            # Methods are case-sensitive (RFC 9110), but an app further on may upper-case
            # "get" into GET: the lower-case form needs at least what the upper-case one does.
            matched += self._requirements.match(method.upper(), path)
        if matched:
            requirement = matched[0]
            for other in matched[1:]:
                requirement = requirement.merged(other)
            return Decision(Access.TOKEN, requirement)
        if self.public and self.public.matching(method, path):
            return _PUBLIC
        if self.optional and self.optional.matching(method, path):
            return _OPTIONAL
        return _TOKEN


def _route_rule(spec: str, template: str, methods: frozenset[str] | None) -> PathRule:
    """The rule of a route's declaration: the template read as a rule where the rule syntax
    can say it, else the very regex Starlette routes it with (``/items/{id}.json``, a
    ``{p:path}`` before the end, a custom convertor), so that it covers exactly the
    requests the route serves. ``methods`` overrides the spec's (a WebSocket route)."""
    try:
        rule = PathRule.parse(spec, kind="route")
    except ValueError:
        from starlette.routing import compile_path

        regex, _, _ = compile_path(template)
        # Starlette anchors with "^...$"; rules full-match, and without the anchors the
        # rule index can hang the regex on its literal leading path.
        pattern = re.compile(regex.pattern.removeprefix("^").removesuffix("$"))
        method = spec[: -len(template)].strip()
        rule_methods = None
        if method:
            rule_methods = frozenset({"GET", "HEAD"}) if method == "GET" else frozenset({method})
        rule = PathRule(spec, None, rule_methods, pattern)
    if methods is not None:
        rule = PathRule(rule.spec, rule.segments, methods, rule.pattern)
    return rule


def require_scopes(
    *scopes: str, acr_values: Iterable[str] | None = None, max_age: int | None = None
) -> Callable[[F], F]:
    """Declare what a Starlette endpoint's token must have, on the endpoint itself.

    The middleware reads the declaration from the app's routes at start-up and enforces it
    before the endpoint runs, with the same 403 (or RFC 9470 401) as a ``scopes=`` rule; the
    endpoint checks it again when called, should it be reached another way::

        @require_scopes("todos:write")
        async def create_todo(request: Request) -> Response: ...
    """
    requirement = Requirement(
        frozenset(scopes), tuple(acr_values) if acr_values is not None else None, max_age
    )

    def declare(endpoint: F) -> F:
        @wraps(endpoint)
        async def checked(request: Any, *args: Any, **kwargs: Any) -> Any:
            check_connection(request, requirement)
            result = endpoint(request, *args, **kwargs)
            return await result if hasattr(result, "__await__") else result

        setattr(checked, REQUIREMENT_ATTRIBUTE, requirement)
        return checked  # type: ignore[return-value]

    return declare


def requirement_of(target: object) -> Requirement | None:
    """The route-level requirement declared on an endpoint or dependency, if any."""
    found = getattr(target, REQUIREMENT_ATTRIBUTE, None)
    return found if isinstance(found, Requirement) else None


def check_connection(connection: Any, requirement: Requirement) -> None:
    """Check a request's verified token against ``requirement`` (route-level checks)."""
    from ..errors import MissingTokenError

    state = connection.scope.get("state", {})
    claims = state.get("claims")
    if claims is None:
        raise MissingTokenError
    auth = connection.scope.get("auth")
    scopes = getattr(auth, "scopes", ())
    requirement.check(
        scopes,
        claims,
        proved=DPOP_PROVED_SCOPE_KEY in connection.scope,
        certified=CERTIFICATE_PROVED_SCOPE_KEY in connection.scope,
    )
