"""Our verifier never accepts what PyJWT refuses (differential property tests).

Verification does not go through PyJWT's generic ``decode`` (it parses, checks the
signature over the raw bytes, and only then decodes the payload), so hypothesis generates
valid, mutated and hostile tokens (headers, claims, encodings, signatures) and every one is
given to both, under the same configuration: same key, algorithm, issuer, audience and
leeway. Whenever ours accepts, PyJWT must accept with the same claims. Where ours refuses
what PyJWT accepts, the token must fall under one of the reasons in ``STRICTER``, each a
deliberate choice written down here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jwt_middleware import InvalidTokenError, JWTSettings, TokenVerifier
from jwt_middleware.errors import AuthenticationError
from jwt_middleware.jws import MAX_HEADER_CHARACTERS
from jwt_middleware.keys.static import StaticKeys
from jwt_middleware.types import MAX_CLAIM_DEPTH, BoundKey, thaw

SECRET = "differential-secret-that-is-long-enough-0123456789"
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
ED = ed25519.Ed25519PrivateKey.generate()
SIGNERS: dict[str, Any] = {"HS256": SECRET.encode(), "RS256": RSA, "PS256": RSA, "ES256": EC}
SIGNERS["EdDSA"] = ED
PUBLIC: dict[str, Any] = {
    "HS256": SECRET.encode(),
    "RS256": RSA.public_key(),
    "PS256": RSA.public_key(),
    "ES256": EC.public_key(),
    "EdDSA": ED.public_key(),
}
#: Stands for "an hour from now" in the tables, resolved when a test runs (the suite may run
#: for minutes after this module is imported).
LATER = "<an hour from now>"


def _now() -> int:
    return int(time.time())


LEEWAY = 30

PYJWT = jwt.PyJWT(
    options={
        "require": ["exp", "sub"],
        "verify_signature": True,
        "verify_exp": True,
        "verify_nbf": True,
        "verify_iat": True,
        "verify_aud": True,
        "verify_iss": True,
        "verify_sub": True,
        "verify_jti": True,
        "strict_aud": False,
        "enforce_minimum_key_length": True,
    }
)


@dataclass(frozen=True)
class Config:
    algorithm: str
    issuer: str | None
    audience: tuple[str, ...] | None

    def verifier(self) -> TokenVerifier:
        audience = list(self.audience) if self.audience else None
        if self.algorithm.startswith("HS"):
            settings = JWTSettings(
                secret=SECRET,
                algorithm="HS256",
                issuer=self.issuer,
                audience=audience,
                leeway_seconds=LEEWAY,
            )
        else:  # the keys below replace the JWKS, which is never fetched
            settings = JWTSettings(
                algorithms=[self.algorithm],
                jwks_url="https://keys.example/jwks.json",
                issuer=self.issuer,
                audience=audience,
                leeway_seconds=LEEWAY,
            )
        keys = StaticKeys(BoundKey(self.algorithm, PUBLIC[self.algorithm]))
        return TokenVerifier(settings, keys=keys, cache_verified=False)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ours(config: Config, token: str) -> dict[str, Any] | None:
    try:
        return dict(thaw(config.verifier().verify(token)))
    except AuthenticationError:
        return None


def _theirs(config: Config, token: str) -> dict[str, Any] | None:
    try:
        decoded = PYJWT.decode_complete(
            token,
            PUBLIC[config.algorithm],
            algorithms=[config.algorithm],
            audience=list(config.audience) if config.audience else None,
            issuer=config.issuer,
            leeway=LEEWAY,
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    payload: dict[str, Any] = decoded["payload"]
    return payload


def _segments(token: str) -> tuple[Any, Any]:
    """The header and payload as JSON, or None where a segment is not JSON."""

    def load(segment: str) -> Any:
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
            return json.loads(raw.decode("utf-8"))
        except Exception:
            return None

    parts = token.split(".")
    return load(parts[0]), load(parts[1]) if len(parts) > 1 else None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and value == value and abs(value) != float("inf")


def _depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (a scalar: 0)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _with_header(header: dict[str, Any]) -> str:
    """A token signed with :data:`SECRET` whose header is exactly ``header`` (PyJWT's own
    encoder refuses to write some headers that its decoder must still be asked about)."""
    payload = json.dumps({"sub": "user", "exp": 2**40}).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


#: Why we may refuse a token PyJWT accepts: each a predicate on (header, payload, token).
STRICTER: dict[str, Callable[[Any, Any, str], bool]] = {
    # RFC 8725 3.11: explicit typing. Only access tokens (at+jwt) or untyped JWTs pass.
    "typ is not an access token's": lambda h, p, t: (
        isinstance(h, dict)
        and h.get("typ") is not None
        and str(h.get("typ")).lower()
        not in {"at+jwt", "application/at+jwt", "jwt", "application/jwt"}
    ),
    # We understand no critical extension; PyJWT understands b64, which no bearer token needs.
    "crit present": lambda h, p, t: isinstance(h, dict) and "crit" in h,
    "b64 set to something but true": lambda h, p, t: (
        isinstance(h, dict) and "b64" in h and h["b64"] is not True
    ),
    # A header is read before the signature is checked, so its size is bounded.
    "header too long": lambda h, p, t: len(t.split(".")[0]) > MAX_HEADER_CHARACTERS,
    # sub is the user id handed to handlers: it must say something.
    "sub empty or blank": lambda h, p, t: (
        isinstance(p, dict) and isinstance(p.get("sub"), str) and not p["sub"].strip()
    ),
    # NumericDate is a JSON number (RFC 7519 2); PyJWT also takes true and "123".
    "time claim not a JSON number": lambda h, p, t: (
        isinstance(p, dict)
        and any(
            name in p and p[name] is not None and not _is_number(p[name])
            for name in ("exp", "nbf", "iat")
        )
    ),
    # RFC 7800 cnf: a sender-constrained token proves nothing when sent as a bearer token.
    "cnf present": lambda h, p, t: isinstance(p, dict) and "cnf" in p,
    # Claims are walked recursively, by us and by apps: their depth is bounded.
    "claims nested too deep": lambda h, p, t: _depth(p) > MAX_CLAIM_DEPTH,
    # JSON texts are UTF-8 (RFC 8259 8.1); PyJWT's json.loads(bytes) also takes UTF-16/32.
    "segment not UTF-8 JSON": lambda h, p, t: h is None or p is None,
}


def _assert_agrees(config: Config, token: str) -> None:
    ours, theirs = _ours(config, token), _theirs(config, token)
    if ours is not None:
        assert theirs == ours, "we accepted a token PyJWT refuses, or read it differently"
        return
    if theirs is not None:
        header, payload = _segments(token)
        reasons = [name for name, applies in STRICTER.items() if applies(header, payload, token)]
        assert reasons, f"we refuse a token PyJWT accepts, for no written reason: {token!r}"


# --- strategies ------------------------------------------------------------------------------

ALGORITHMS = st.sampled_from(["HS256", "HS256", "RS256", "PS256", "ES256", "EdDSA"])
ISSUERS = st.sampled_from([None, "https://issuer.example"])
AUDIENCES = st.sampled_from([None, ("api",), ("api", "other")])

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
TIMES = st.one_of(
    st.integers(min_value=-7200, max_value=7200).map(lambda offset: _now() + offset),
    st.floats(min_value=-7200, max_value=7200).map(lambda offset: _now() + offset),
    st.just(3600).map(lambda offset: _now() + offset),
    JSON_SCALARS,
    st.text(alphabet="0123456789", min_size=1, max_size=11),
)


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        payload["exp"] = draw(st.one_of(st.just(3600).map(lambda d: _now() + d), TIMES))
    if draw(st.integers(0, 9)):
        payload["sub"] = draw(st.one_of(st.just("user"), st.text(max_size=5), JSON_SCALARS))
    for name in ("nbf", "iat"):
        if draw(st.booleans()):
            payload[name] = draw(TIMES)
    if draw(st.booleans()):
        payload["iss"] = draw(
            st.one_of(st.just("https://issuer.example"), st.just("https://other"), JSON_SCALARS)
        )
    if draw(st.booleans()):
        payload["aud"] = draw(
            st.one_of(
                st.sampled_from(["api", "other", "", [], ["api"], ["x", "api"], ["api", 3]]),
                JSON_SCALARS,
            )
        )
    if draw(st.booleans()):
        payload["jti"] = draw(st.one_of(st.just("j1"), JSON_SCALARS))
    if draw(st.booleans()):
        payload["scope"] = draw(st.text(max_size=10))
    if draw(st.integers(0, 9)) == 0:
        payload["cnf"] = draw(st.one_of(st.just({"jkt": "thumbprint"}), JSON_SCALARS))
    return payload


@st.composite
def headers(draw: st.DrawFn, algorithm: str) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": algorithm}
    if draw(st.integers(0, 4)) == 0:
        header["alg"] = draw(
            st.one_of(
                st.sampled_from(["none", "HS512", "RS256", "ES256", "", "hs256"]), JSON_SCALARS
            )
        )
    if draw(st.booleans()):
        header["typ"] = draw(
            st.one_of(
                st.sampled_from(["JWT", "at+jwt", "AT+JWT", "refresh+jwt", "dpop+jwt"]),
                JSON_SCALARS,
            )
        )
    if draw(st.integers(0, 3)) == 0:
        header["kid"] = draw(st.one_of(st.just("k1"), JSON_SCALARS))
    if draw(st.integers(0, 5)) == 0:
        header["crit"] = draw(st.sampled_from([["b64"], [], ["exp"], "b64", [1]]))
    if draw(st.integers(0, 5)) == 0:
        header["b64"] = draw(st.sampled_from([True, False, "true", 0]))
    if draw(st.integers(0, 8)) == 0:
        header["jku"] = "https://attacker.example/jwks"
        header["jwk"] = {"kty": "oct", "k": b64(b"attacker")}
    return header


def _sign(algorithm: str, signing_input: bytes) -> bytes:
    algorithm_object = jwt.algorithms.get_default_algorithms()[algorithm]
    key = algorithm_object.prepare_key(SIGNERS[algorithm])
    signature: bytes = algorithm_object.sign(signing_input, key)
    return signature


@st.composite
def tokens(draw: st.DrawFn, algorithm: str) -> str:
    header = draw(headers(algorithm))
    payload = draw(payloads())
    header_json = json.dumps(header, allow_nan=True).encode()
    payload_json = json.dumps(payload, allow_nan=True).encode()
    if draw(st.integers(0, 10)) == 0:
        payload_json = payload_json.decode().encode("utf-16")
    header_segment, payload_segment = b64(header_json), b64(payload_json)
    if draw(st.integers(0, 8)) == 0:
        # A payload segment that is not canonical base64url, signed as it is: we check its
        # alphabet only after the signature, PyJWT before; both must refuse it.
        payload_segment = draw(
            st.sampled_from(
                [
                    payload_segment + "=",
                    payload_segment + "==",
                    payload_segment + "A",
                    payload_segment[:-1] + "!",
                    payload_segment[:-1] + "+",
                    payload_segment[:-1] + "\u00e9",
                    payload_segment[:4] + "=" + payload_segment[4:],
                    payload_segment[:-1] + draw(st.sampled_from(list("AQgw_-"))),
                ]
            )
        )
    signing_input = f"{header_segment}.{payload_segment}".encode()
    signer = algorithm if algorithm in SIGNERS else "HS256"
    signature = _sign(signer, signing_input)
    mutation = draw(st.integers(0, 12))
    if mutation == 0:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    elif mutation == 1 and algorithm != "HS256":
        signature = _sign("HS256", signing_input)  # "signed" with the shared secret
    signature_segment = b64(signature)
    parts = [header_segment, payload_segment, signature_segment]
    if mutation == 2:
        parts[draw(st.integers(0, 2))] += "=" * draw(st.integers(1, 3))
    elif mutation == 3:
        index = draw(st.integers(0, 2))
        parts[index] = parts[index][:-1] + draw(st.sampled_from(list("AQgw_-+/!")))
    elif mutation == 4:
        parts.append(draw(st.sampled_from(["", "x"])))
    elif mutation == 5:
        parts = parts[:2]
    elif mutation == 6:
        parts[2] = ""
    elif mutation == 7:
        parts[0] = b64(header_json + b" ")  # a header the signature does not cover
    return ".".join(parts)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Config, str]:
    algorithm = draw(ALGORITHMS)
    config = Config(algorithm, draw(ISSUERS), draw(AUDIENCES))
    return config, draw(tokens(algorithm))


PROPERTY = hypothesis_settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(case=cases())
@example(  # found by this test: PyJWT refuses a present but null time claim
    case=(
        Config("HS256", None, None),
        jwt.encode({"sub": "user", "exp": 2**40, "iat": None}, SECRET, algorithm="HS256"),
    )
)
@example(  # found in CI: PyJWT refuses a present but null jti
    case=(
        Config("HS256", None, None),
        jwt.encode({"sub": "user", "exp": 2**40, "jti": None}, SECRET, algorithm="HS256"),
    )
)
@example(  # found by this test with PyJWT 2.15: it refuses a present but null kid
    case=(Config("HS256", None, None), _with_header({"alg": "HS256", "kid": None})),
)
def test_we_never_accept_what_pyjwt_refuses(case: tuple[Config, str]) -> None:
    config, token = case
    _assert_agrees(config, token)


@PROPERTY
@given(case=cases())
@example(case=(Config("HS256", None, None), jwt.encode({"sub": "u", "exp": 2**40}, SECRET)))
def test_valid_tokens_pass_both(case: tuple[Config, str]) -> None:
    """The other direction, on the tokens both should accept: a verifier that refuses
    good tokens would pass the first property trivially."""
    config, _ = case
    now = _now()
    claims: dict[str, Any] = {"sub": "user", "exp": now + 600, "iat": now, "jti": "j"}
    if config.issuer:
        claims["iss"] = config.issuer
    if config.audience:
        claims["aud"] = config.audience[-1]
    token = jwt.encode(
        claims, SIGNERS[config.algorithm], algorithm=config.algorithm, headers={"typ": "at+jwt"}
    )
    assert _ours(config, token) == _theirs(config, token) == claims


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param({"alg": "HS256", "typ": "dpop+jwt"}, {"sub": "u", "exp": LATER}, id="typ"),
        pytest.param(
            {"alg": "HS256", "crit": ["b64"], "b64": True},
            {"sub": "u", "exp": LATER},
            id="crit-b64",
        ),
        pytest.param({"alg": "HS256"}, {"sub": " ", "exp": LATER}, id="blank-sub"),
        pytest.param({"alg": "HS256"}, {"sub": "u", "exp": LATER, "string": True}, id="exp-string"),
        pytest.param({"alg": "HS256"}, {"sub": "u", "exp": LATER, "nbf": True}, id="nbf-true"),
        pytest.param({"alg": "HS256"}, {"sub": "u", "exp": LATER, "cnf": {"jkt": "t"}}, id="cnf"),
        pytest.param(
            {"alg": "HS256"},
            {"sub": "u", "exp": LATER, "x": json.loads("[" * 40 + "]" * 40)},
            id="nested-40",
        ),
    ],
)
def test_each_written_reason_is_one_pyjwt_accepts(
    header: dict[str, Any], payload: dict[str, Any]
) -> None:
    """Every row of STRICTER describes a real difference (not a dead excuse)."""
    config = Config("HS256", None, None)
    payload = dict(payload)
    payload["exp"] = _now() + 3600
    if payload.pop("string", False):
        payload["exp"] = str(payload["exp"])
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    token = f"{signing_input}.{b64(_sign('HS256', signing_input.encode()))}"
    assert _theirs(config, token) is not None
    assert _ours(config, token) is None
    with pytest.raises(InvalidTokenError):
        config.verifier().verify(token)
