"""Refusing a key never shows the key: every key-loading path, every malformed input.

The message of the error (and of anything chained to it, which a traceback would print)
must name the variable and contain no fragment of the value longer than a few characters.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jwt_middleware import ConfigurationError, JWTAuthMiddleware, JWTSettings
from jwt_middleware.algorithms import load_private_key, load_public_key
from tests.asgi import lifespan_startup
from tests.keypairs import EC_P256, RSA, private_pem, public_pem

FRAGMENT = 8
_ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z ]+-----")


def _body(pem: str) -> str:
    """The base64 inside the armour: the part that is key material."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


PRIVATE = private_pem(RSA)
PUBLIC = public_pem(RSA)

#: (id, value, what the message must say); each value is malformed for JWT_PRIVATE_KEY.
BAD_PRIVATE = [
    pytest.param(_body(PRIVATE), "neither inline PEM", id="headerless-one-line"),
    pytest.param("\n".join(PRIVATE.splitlines()[1:-1]), "neither inline PEM", id="headerless"),
    pytest.param(
        PRIVATE[: len(PRIVATE) // 2], "not an unencrypted PEM private key", id="truncated"
    ),
    pytest.param(
        PRIVATE.replace("\n", "\\n")[:-20], "not an unencrypted PEM", id="escaped-truncated"
    ),
    pytest.param('"' + PRIVATE + "'", "neither inline PEM", id="mismatched-quotes"),
    pytest.param("x" + PRIVATE, "neither inline PEM", id="text-before-armour"),
    pytest.param(PUBLIC, "not an unencrypted PEM private key", id="public-for-private"),
    pytest.param(
        private_pem(RSA, password=b"hunter2-hunter2"), "not an unencrypted PEM", id="encrypted"
    ),
    pytest.param(private_pem(EC_P256), "must be an RSA key", id="ec-for-rs256"),
    pytest.param(
        PRIVATE.replace(PRIVATE.splitlines()[2], "!" * 64), "not an unencrypted", id="corrupted"
    ),
]

#: Malformed for JWT_PUBLIC_KEY / JWT_PUBLIC_KEYS; a private key there is the worst case.
BAD_PUBLIC = [
    pytest.param(PRIVATE, "not a PEM public key", id="private-for-public"),
    pytest.param(PRIVATE.replace("\n", "\\n"), "not a PEM public key", id="private-escaped"),
    pytest.param(_body(PUBLIC), "neither inline PEM", id="headerless"),
    pytest.param(PUBLIC[:100], "not a PEM public key", id="truncated"),
    pytest.param(public_pem(EC_P256), "must be an RSA key", id="ec-for-rs256"),
]


def _fragments(value: str) -> set[str]:
    material = _ARMOUR.sub("", value)
    material = re.sub(r"\\n|\s|[\"']", "", material)
    return {material[i : i + FRAGMENT] for i in range(max(0, len(material) - FRAGMENT + 1))}


def _assert_nothing_leaks(error: BaseException, value: str, variable: str) -> None:
    # What a log or a traceback would show of it: its text, and of anything chained to it.
    shown = "".join(traceback.format_exception_only(error)) + repr(error)
    chained = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if chained is not None:
        shown += "".join(traceback.format_exception_only(chained))
    assert variable in str(error)
    leaked = sorted(fragment for fragment in _fragments(value) if fragment in shown)
    assert not leaked, f"key material in the error: {leaked[:3]}"
    # Nothing chained either: a traceback would print it.
    assert error.__cause__ is None


Loader = Callable[[str], object]

LOADERS_PRIVATE: list[Any] = [
    pytest.param(
        lambda value: JWTSettings(algorithm="RS256", private_key=value), id="settings-field"
    ),
    pytest.param(lambda value: load_private_key(value, "RS256"), id="load_private_key"),
]
LOADERS_PUBLIC: list[Any] = [
    pytest.param(
        lambda value: JWTSettings(algorithm="RS256", public_key=value), id="settings-public_key"
    ),
    pytest.param(
        lambda value: JWTSettings(algorithm="RS256", public_keys={"old": value}),
        id="settings-public_keys",
    ),
    pytest.param(lambda value: load_public_key(value, "RS256"), id="load_public_key"),
]


@pytest.mark.parametrize("load", LOADERS_PRIVATE)
@pytest.mark.parametrize(("value", "says"), BAD_PRIVATE)
def test_malformed_private_key_is_refused_without_showing_it(
    load: Loader, value: str, says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says) as info:
        load(value)
    _assert_nothing_leaks(info.value, value, "JWT_PRIVATE_KEY")


@pytest.mark.parametrize("load", LOADERS_PUBLIC)
@pytest.mark.parametrize(("value", "says"), BAD_PUBLIC)
def test_malformed_public_key_is_refused_without_showing_it(
    load: Loader, value: str, says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says) as info:
        load(value)
    _assert_nothing_leaks(info.value, value, "JWT_PUBLIC_KEY")


@pytest.mark.parametrize(("value", "says"), BAD_PRIVATE)
def test_from_the_environment_too(monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_PRIVATE_KEY", value)
    with pytest.raises(ConfigurationError, match=says) as info:
        JWTSettings()
    _assert_nothing_leaks(info.value, value, "JWT_PRIVATE_KEY")


@pytest.mark.parametrize(("value", "says"), BAD_PRIVATE[:3])
def test_nor_in_the_startup_failure_the_server_prints(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_PRIVATE_KEY", value)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never reached")

    reply = lifespan_startup(JWTAuthMiddleware(app))
    assert reply["type"] == "lifespan.startup.failed"
    assert says in reply["message"]
    assert not {f for f in _fragments(value) if f in reply["message"]}


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda tmp: str(tmp / "missing.pem"), id="missing-file"),
        pytest.param(lambda tmp: str(tmp), id="a-directory"),
        pytest.param(lambda tmp: str(tmp / "bad\x00name.pem"), id="nul-in-path"),
        pytest.param(lambda tmp: "~nobody-such-user/key.pem", id="unknown-home"),
        pytest.param(lambda tmp: str(tmp / ("d" * 300) / "key.pem"), id="name-too-long"),
    ],
)
def test_unreadable_path_is_refused_without_showing_it(
    tmp_path: Path, make_path: Callable[[Path], str]
) -> None:
    folder = tmp_path / "Zq8vK3wXy7"  # random-looking, so no word of the message is in it
    folder.mkdir()
    path = make_path(folder)
    with pytest.raises(ConfigurationError, match="readable file") as info:
        load_private_key(path, "RS256")
    _assert_nothing_leaks(info.value, path.replace(str(tmp_path), ""), "JWT_PRIVATE_KEY")


def test_a_file_with_the_wrong_content_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(PUBLIC)  # a public key where the private one belongs
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM") as info:
        load_private_key(str(path), "RS256")
    _assert_nothing_leaks(info.value, PUBLIC, "JWT_PRIVATE_KEY")


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 200_000)
    with pytest.raises(ConfigurationError, match="too large"):
        load_private_key(str(path), "RS256")


@pytest.mark.parametrize("value", [123, b"-----BEGIN", None], ids=["int", "bytes", "none"])
def test_a_value_of_the_wrong_type_is_refused(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be a string"):
        load_private_key(value, "RS256")


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda pem: f'"{pem}"', id="double-quoted"),
        pytest.param(lambda pem: f"'{pem}'", id="single-quoted"),
        pytest.param(lambda pem: '"' + pem.replace("\n", "\\n") + '"', id="quoted-escaped"),
        pytest.param(lambda pem: f"  {pem}  \n", id="surrounding-space"),
    ],
)
def test_quoted_pem_as_docker_env_file_passes_it_is_accepted(wrap: Callable[[str], str]) -> None:
    key = load_private_key(wrap(PRIVATE), "RS256")
    assert key.public_key().public_numbers() == RSA.public_key().public_numbers()
