"""Keys read rather than fetched: ``JWT_JWKS_FILE`` read again when the file changes (after
the check interval, or sooner for an unknown ``kid`` but not more often than the refetch
limit), a broken rewrite keeping the last good keys, a broken file at start-up refused with
its variable's name, and both local settings exclusive with every other key setting.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import ConfigurationError, JWTSettings
from jwt_middleware.keys.local import JWKSFileKeys
from tests.helpers import FakeClock, build_app, mint_token
from tests.keypairs import EC_P256, RSA, RSA_ATTACKER, public_pem
from tests.keys.endpoint import public_jwk

CHECK_SECONDS = 30.0
RECHECK_SECONDS = 5.0


def write_set(path: Path, *jwks: dict[str, Any]) -> None:
    """Replace the file as a deployment does: a new file renamed over the old one."""
    staged = path.with_suffix(".new")
    staged.write_text(json.dumps({"keys": list(jwks)}))
    os.replace(staged, path)


def kids(source: JWKSFileKeys, kid: str) -> list[str | None]:
    return [key.kid for key in source.keys_now("RS256", kid)]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    write_set(path, public_jwk(RSA, "old"))
    return path


def open_source(path: Path, clock: FakeClock) -> JWKSFileKeys:
    return JWKSFileKeys(
        path,
        algorithms=["RS256"],
        check_seconds=CHECK_SECONDS,
        min_recheck_seconds=RECHECK_SECONDS,
        clock=clock,
    )


@pytest.mark.parametrize(
    ("asked_kid", "wait_seconds", "seen"),
    [
        pytest.param("old", CHECK_SECONDS - 1, False, id="known-kid-before-the-interval"),
        pytest.param("old", CHECK_SECONDS, True, id="known-kid-after-the-interval"),
        pytest.param("new", RECHECK_SECONDS - 1, False, id="unknown-kid-before-the-limit"),
        pytest.param("new", RECHECK_SECONDS, True, id="unknown-kid-after-the-limit"),
    ],
)
def test_a_changed_file_is_read_again(
    key_file: Path, clock: FakeClock, asked_kid: str, wait_seconds: float, seen: bool
) -> None:
    source = open_source(key_file, clock)
    write_set(key_file, public_jwk(RSA, "old"), public_jwk(RSA_ATTACKER, "new"))
    clock.advance(wait_seconds)
    answer = kids(source, asked_kid)
    assert source.reloads == (1 if seen else 0)
    assert answer == ([asked_kid] if seen or asked_kid == "old" else [])
    assert kids(source, "old") == ["old"]


def test_a_flood_of_unknown_kids_looks_once_per_limit(key_file: Path, clock: FakeClock) -> None:
    source = open_source(key_file, clock)
    clock.advance(RECHECK_SECONDS)
    looks = 0
    original = os.stat

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        nonlocal looks
        looks += 1
        return original(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "stat", counting_stat)
        for index in range(1000):
            assert kids(source, f"made-up-{index}") == []
    assert looks == 1


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda path: path.write_text("{not json"), id="not-json"),
        pytest.param(lambda path: path.write_text('{"keys": []}'), id="no-key"),
        pytest.param(
            lambda path: path.write_text(json.dumps({"keys": [{"kty": "oct"}]})), id="oct"
        ),
        pytest.param(lambda path: path.unlink(), id="removed"),
    ],
)
def test_a_broken_rewrite_keeps_the_last_good_keys(
    key_file: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture, rewrite: Any
) -> None:
    source = open_source(key_file, clock)
    rewrite(key_file)
    caplog.set_level(logging.WARNING, logger="jwt_middleware.keys.local")
    for _ in range(3):
        clock.advance(CHECK_SECONDS)
        assert kids(source, "old") == ["old"]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, "one warning per change, not per check"
    assert warnings[0].startswith("JWK Set file unusable (")
    assert str(key_file) not in warnings[0]
    # Repaired: read again.
    write_set(key_file, public_jwk(RSA_ATTACKER, "new"))
    clock.advance(CHECK_SECONDS)
    assert kids(source, "new") == ["new"]
    assert kids(source, "old") == []


def test_the_middleware_sees_a_rotated_key(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = JWTSettings(jwks_file=key_file, jwks_file_check_seconds=0.001)
    app = build_app(settings)
    rotated = mint_token(secret=RSA_ATTACKER, algorithm="RS256", headers={"kid": "new"})
    first = mint_token(secret=RSA, algorithm="RS256", headers={"kid": "old"})
    with TestClient(app) as client:
        old = client.get("/private", headers={"Authorization": f"Bearer {first}"})
        before = client.get("/private", headers={"Authorization": f"Bearer {rotated}"})
        write_set(key_file, public_jwk(RSA_ATTACKER, "new"))
        after = client.get("/private", headers={"Authorization": f"Bearer {rotated}"})
    assert old.json()["user_id"] == "user-1"
    assert before.status_code == 401
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"jwks_file": "{missing}"}, "JWT_JWKS_FILE: the file cannot be read", id="missing"
        ),
        pytest.param({"jwks_file": "{broken}"}, "JWT_JWKS_FILE: document is not JSON", id="broken"),
        pytest.param({"jwks": "[]"}, "JWT_JWKS: document is not a JWK Set", id="inline-list"),
        pytest.param(
            {"jwks": "{set}", "jwks_url": "https://idp.example/jwks"},
            "verification keys come from one place",
            id="with-url",
        ),
        pytest.param(
            {"jwks": "{set}", "public_key": "{pem}"},
            "verification keys come from one place",
            id="with-public-key",
        ),
        pytest.param(
            {"jwks": "{set}", "jwks_file": "{good}"},
            "JWT_JWKS_FILE and JWT_JWKS are both set",
            id="both-local",
        ),
        pytest.param(
            {
                "jwks": "{set}",
                "issuer": [{"issuer": "https://a.example", "jwks_url": "https://a.example/k"}],
            },
            "a jwks_url in JWT_ISSUER",
            id="with-issuer-url",
        ),
        pytest.param({"jwks": "{set}", "algorithm": "HS256"}, "need an asymmetric", id="hmac"),
    ],
)
def test_local_keys_refused_at_start_up(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    good = tmp_path / "good.json"
    write_set(good, public_jwk(RSA, "a"))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    names = {
        "{missing}": str(tmp_path / "missing.json"),
        "{broken}": str(broken),
        "{good}": str(good),
        "{set}": good.read_text(),
        "{pem}": public_pem(RSA),
    }
    filled = {
        name: names.get(value, value) if isinstance(value, str) else value
        for name, value in values.items()
    }
    with pytest.raises(ConfigurationError) as raised:
        JWTSettings(**filled)
    assert message in str(raised.value)
    assert str(tmp_path) not in str(raised.value)


def test_inline_jwks_verifies_through_the_middleware() -> None:
    document = json.dumps({"keys": [public_jwk(EC_P256, "e")]})
    settings = JWTSettings(jwks=document, algorithms=["ES256"], issuer="https://proxy.example")
    token = mint_token(
        secret=EC_P256, algorithm="ES256", headers={"kid": "e"}, iss="https://proxy.example"
    )
    with TestClient(build_app(settings)) as client:
        response = client.get("/private", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["user_id"] == "user-1"
