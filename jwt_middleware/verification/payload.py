"""The payload of a token whose signature checked out: its JSON text, parsed strictly, and
the read-only claims made of it.

Only ever asked after a key verified the token (:mod:`.verifier`), so a forged token's
payload is never parsed here. Freezing uses what the payload's text says of its shape
(:class:`~.cache.PayloadShape`, which the cache's size estimate reads as well) to skip
walking the claims where nothing nested needs it.
"""

from __future__ import annotations

from typing import Any

from .. import jws
from ..errors import invalid_token
from ..refusals import Reason
from ..types import Claims, FrozenDict, FrozenList, freeze
from .cache import PayloadShape

__all__ = ["frozen_claims", "payload_of"]


def payload_of(parsed: jws.Token) -> tuple[str, dict[str, Any]]:
    """The payload of a token whose signature checked out: its JSON text and object."""
    try:
        text = parsed.payload_json()
        payload = jws.load_json(text)
    except jws.MalformedTokenError:
        raise invalid_token(Reason.MALFORMED) from None
    if not isinstance(payload, dict):
        raise invalid_token(Reason.MALFORMED)
    return text, payload


def frozen_claims(payload: dict[str, Any], shape: PayloadShape) -> Claims:
    """The claims, read-only (:func:`~jwt_middleware.types.freeze`), without walking every
    item of them where the JSON text shows there is nothing nested to freeze.

    One object in the text: none inside the payload. As many arrays as the payload has
    lists at the top: no list inside a list. Then each top-level list is copied whole in C,
    not item by item: for a token with hundreds of groups that is most of the work of
    freezing it. (A ``[`` or ``{`` inside a string only takes the longer way.)
    """
    arrays = shape.arrays
    names = [name for name, value in payload.items() if type(value) is list] if arrays else []
    if shape.objects != 1 or len(names) != arrays:
        frozen: Claims = freeze(payload)
        return frozen
    for name in names:  # the payload is this verification's own, parsed just now
        payload[name] = FrozenList(payload[name])
    return FrozenDict(payload)
