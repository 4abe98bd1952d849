"""FastAPI annotations for handlers: the identity the middleware already verified.

``def handler(user_id: CurrentUserId)`` reads ``request.state.user_id``; the token is not
verified a second time. Needs the ``fastapi`` extra.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from .types import Claims
from .user import current_claims, current_user_id

__all__ = ["CurrentClaims", "CurrentUserId"]

CurrentUserId = Annotated[str, Depends(current_user_id)]
CurrentClaims = Annotated[Claims, Depends(current_claims)]
