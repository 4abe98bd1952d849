"""The value types everything else shares: verified claims, and the read-only JSON they are.

Near the ground: it imports only :mod:`.algorithms` (for a key's signature check), so
importing it (or :mod:`.user`) loads neither PyJWT nor httpx.

Verified claims are handed to every request that presents the same token, and the
verified-token cache hands out the very same object again, so they are read-only all the
way down: :class:`FrozenDict` and :class:`FrozenList` are ``dict`` and ``list`` (``json``,
pydantic and ``isinstance`` checks treat them as such), but any attempt to change them
raises ``TypeError``. A handler that wants to change claims works on its own copy:
``copy.deepcopy(claims)`` (or ``thaw(claims)``) gives plain, mutable ``dict`` and ``list``.
Freezing once at verification costs about a microsecond; copying on every cache hit would
cost that on every request, and a copy one level deep (what we did before) still shared
nested lists such as ``scp`` between requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, SupportsIndex

from .algorithms import SignatureCheck, signature_check

__all__ = [
    "MAX_CLAIM_DEPTH",
    "BoundKey",
    "Claims",
    "FrozenDict",
    "FrozenList",
    "VerifiedToken",
    "freeze",
    "thaw",
]

#: How deep verified claims may nest (objects and arrays inside the payload object). Real
#: claims nest three or four deep (``resource_access.<client>.roles``); a signed payload
#: nested hundreds deep would make every recursive walk over it, ours (:func:`freeze`) or
#: the app's (``json.dumps``, ``copy.deepcopy``), hit Python's recursion limit.
MAX_CLAIM_DEPTH: Final = 32

#: The verified payload of a token: a read-only JSON object (a :class:`FrozenDict`).
Claims = Mapping[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class BoundKey:
    """A verification key and the one algorithm it may ever be used with.

    The binding is made from configuration (or the key's own ``alg`` in a JWK Set), never
    from a token: a token's header only selects among bound keys by ``alg`` and ``kid``, so
    an RSA public key can never be offered to an HMAC check, nor an HS256 secret to HS512.
    ``key`` is the HMAC secret (bytes) or a ``cryptography`` public key object; ``check``
    verifies a signature with exactly this key and algorithm (built once, here).
    """

    algorithm: str
    key: Any
    kid: str | None = None
    check: SignatureCheck = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", signature_check(self.algorithm, self.key))

    def __repr__(self) -> str:
        # Never the key: for HMAC it is the secret.
        return f"BoundKey({self.algorithm!r}, kid={self.kid!r})"


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says, in the shapes the middleware hands to a request.

    ``scopes`` are the token's scopes (and roles, by ``JWT_SCOPE_CLAIMS``) without
    Starlette's ``"authenticated"``; ``issuer`` is the accepted issuer that signed it, or
    ``None`` where ``iss`` is not checked. ``expires_at`` is the wall-clock moment the token
    stops verifying: its ``exp`` or its ``iat`` plus ``JWT_MAX_TOKEN_AGE_SECONDS``,
    whichever comes first, plus the leeway (``math.inf`` past what a float holds); an open
    WebSocket is closed then.
    """

    claims: Claims
    subject: str
    scopes: tuple[str, ...]
    issuer: str | None
    expires_at: float


def _refuse(*_args: object, **_kwargs: object) -> NoReturn:
    raise TypeError("verified claims are read-only; copy.deepcopy() them to change a copy")


class FrozenDict(dict[str, Any]):
    """A ``dict`` that cannot be changed after it is made; its values are frozen too."""

    __slots__ = ()

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __ior__(self, _other: object) -> NoReturn:  # type: ignore[misc]
        _refuse()

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, _memo: dict[int, Any]) -> dict[str, Any]:
        thawed: dict[str, Any] = thaw(self)
        return thawed

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (thaw(self),)

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


class FrozenList(list[Any]):
    """A ``list`` that cannot be changed after it is made; its items are frozen too."""

    __slots__ = ()

    __setitem__ = __delitem__ = _refuse
    append = extend = insert = remove = clear = sort = reverse = _refuse

    def pop(self, _index: SupportsIndex = -1) -> NoReturn:
        _refuse()

    def __iadd__(self, _other: object) -> NoReturn:  # type: ignore[misc]
        _refuse()

    def __imul__(self, _other: object) -> NoReturn:
        _refuse()

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, _memo: dict[int, Any]) -> list[Any]:
        thawed: list[Any] = thaw(self)
        return thawed

    def __reduce__(self) -> tuple[type[list[Any]], tuple[list[Any]]]:
        return list, (thaw(self),)

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"


def freeze(value: Any) -> Any:
    """``value`` (parsed JSON) with every ``dict`` and ``list`` in it made read-only.

    Raises :class:`ValueError` when containers nest deeper than :data:`MAX_CLAIM_DEPTH`
    (``value`` itself counts as the first level), rather than ``RecursionError`` at a depth
    that depends on how deep the caller's stack already is.
    """
    return _freeze(value, 1)


def _freeze(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is not dict and kind is not FrozenDict and kind is not list and kind is not FrozenList:
        return value
    if depth > MAX_CLAIM_DEPTH:
        raise ValueError("claims nested too deep")
    deeper = depth + 1
    if kind is dict or kind is FrozenDict:
        return FrozenDict(
            {
                key: _freeze(item, deeper) if type(item) in _CONTAINERS else item
                for key, item in value.items()
            }
        )
    return FrozenList(
        [_freeze(item, deeper) if type(item) in _CONTAINERS else item for item in value]
    )


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of frozen JSON (``dict``, ``list`` and scalars)."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    return value


_CONTAINERS = frozenset({dict, list, FrozenDict, FrozenList})
