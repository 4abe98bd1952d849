"""What verified claims grant: scopes and roles, read from the claims the settings name.

One place for it, so the verifier (which computes a token's scopes once) and the policy
(which checks them) read claims alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..types import Claims

__all__ = ["ClaimPath", "scopes_from"]

#: A claim named by a dotted path (``realm_access.roles``) or by its keys (for names with
#: dots in them).
ClaimPath = str | Sequence[str]

#: RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: Scope tokens separated by single spaces: a string that all of them are valid in.
_SCOPE_STRING: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")


def scopes_from(claims: Claims, claim_paths: Sequence[ClaimPath]) -> list[str]:
    """The scopes (and roles) a token grants, from the claims ``claim_paths`` name.

    A path is a claim name, a dotted path into nested objects (``realm_access.roles``), or
    a sequence of keys for names with dots in them (``["resource_access", "my.app",
    "roles"]``). A value is a string of scope tokens separated by spaces (RFC 6749 section
    3.3, RFC 8693) or a list of strings. Only U+0020 separates: a signed
    ``"read\u00a0admin"`` is one (invalid) token, never ``admin``. Anything that is not a
    valid scope token (other whitespace, control or non-ASCII characters, quotes,
    backslashes) is dropped rather than guessed at. Duplicates are dropped, order kept.
    """
    found: dict[str, None] = {}
    for path in claim_paths:
        # The usual case, a top-level claim, without a call.
        raw = (
            claims.get(path) if isinstance(path, str) and "." not in path else _lookup(claims, path)
        )
        if isinstance(raw, str):
            candidates: list[Any] = raw.split(" ")
            if _SCOPE_STRING.fullmatch(raw):  # every token valid: one match, not one each
                for item in candidates:
                    found[item] = None
                continue
        elif isinstance(raw, list):
            candidates = raw
        else:
            continue
        for item in candidates:
            if isinstance(item, str) and _SCOPE_TOKEN.fullmatch(item):
                found[item] = None
    return list(found)


def _lookup(claims: Claims, path: ClaimPath) -> Any:
    if isinstance(path, str):
        keys: Sequence[str] = path.split(".")
    else:
        keys = path
    value: Any = claims
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
