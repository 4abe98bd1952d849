"""The ``typ`` header, compared case-insensitively with the accepted types: whatever the
spelling a token uses, it is accepted exactly when its lower case is."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from jwt_middleware import InvalidTokenError, JWTSettings, TokenVerifier
from jwt_middleware.refusals import Reason
from tests.helpers import SECRET, mint_token

#: accepted types (None: the default), explicit typing required, the typ sent, accepted?
TYPE_CASES = [
    pytest.param(None, False, None, True, id="untyped"),
    pytest.param(None, False, "JWT", True, id="JWT"),
    pytest.param(None, False, "jwt", True, id="jwt"),
    pytest.param(None, False, "Jwt", True, id="Jwt"),
    pytest.param(None, False, "AT+JWT", True, id="AT+JWT"),
    pytest.param(None, False, "At+Jwt", True, id="At+Jwt"),
    pytest.param(None, False, "application/AT+jwt", True, id="application/AT+jwt"),
    pytest.param(None, False, "refresh+jwt", False, id="refresh"),
    pytest.param(None, False, "REFRESH+JWT", False, id="REFRESH"),
    pytest.param(None, False, "dpop+jwt", False, id="dpop"),
    pytest.param(None, True, None, False, id="explicit-untyped"),
    pytest.param(None, True, "JWT", False, id="explicit-JWT"),
    pytest.param(None, True, "AT+JWT", True, id="explicit-AT+JWT"),
    pytest.param(["Custom+JWT"], False, "custom+jwt", True, id="custom-lower"),
    pytest.param(["Custom+JWT"], False, "CUSTOM+JWT", True, id="custom-upper"),
    pytest.param(["Custom+JWT"], False, "JWT", False, id="custom-not-jwt"),
    # "ß" upper-cases to "SS", whose lower case is "ss": not the type configured.
    pytest.param(["ß+jwt"], False, "ß+JWT", True, id="sharp-s"),
    pytest.param(["ß+jwt"], False, "SS+JWT", False, id="sharp-s-upper"),
]


@pytest.mark.parametrize(("token_types", "explicit", "typ", "accepted"), TYPE_CASES)
def test_a_typ_is_accepted_when_its_lower_case_is(
    token_types: Collection[str] | None, explicit: bool, typ: str | None, accepted: bool
) -> None:
    settings = JWTSettings(secret=SECRET, require_access_token_type=explicit)
    verifier = TokenVerifier(settings, token_types=token_types, cache_verified=False)
    token = mint_token(headers={"typ": typ})  # None: no typ at all (PyJWT drops it)
    if accepted:
        assert verifier.verify(token)["sub"] == "user-1"
        return
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify(token)
    assert refused.value.reason is Reason.TOKEN_TYPE
