"""The wheel people install: its name, its version, and that it holds the library only.

The distribution is ``jwt-middleware-asgi`` (``jwt-middleware`` on the package index is an
unrelated project); the import name stays ``jwt_middleware``. The demo, the tests and the
benchmark live in the repository and never in the wheel.
"""

from __future__ import annotations

import email
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import jwt_middleware
from tests.processes import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_is_named_for_the_distribution(wheel: Path) -> None:
    assert wheel.name == f"jwt_middleware_asgi-{jwt_middleware.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    assert metadata["Name"] == "jwt-middleware-asgi"
    assert metadata["Version"] == jwt_middleware.__version__
    assert metadata["License-Expression"] == "MIT"
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert extras == {"jwks", "redis", "fastapi", "testing", "otel"}
    requirements = metadata.get_all("Requires-Dist") or []
    # httpx only with the jwks extra; nothing of the demo or the tests anywhere.
    unconditional = {re.split(r"[<>=\[ ]", r)[0] for r in requirements if ";" not in r}
    assert unconditional == {"starlette", "pyjwt", "pydantic", "pydantic-settings"}
    assert not any(name in " ".join(requirements) for name in ("sqlmodel", "uvicorn", "pytest"))


def test_the_wheel_holds_the_library_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    packages = {name.split("/")[0] for name in names}
    assert packages == {
        "jwt_middleware",
        f"jwt_middleware_asgi-{jwt_middleware.__version__}.dist-info",
    }
    assert "jwt_middleware/py.typed" in names
    assert "jwt_middleware/revocation/redis.py" in names
    sources = {
        p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "jwt_middleware").rglob("*.py")
    }
    assert sources <= set(names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_installing_the_wheel_gives_jwt_middleware_and_nothing_else(
    wheel: Path, tmp_path: Path
) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True, system_site_packages=False)
    python = environment / "bin" / "python"
    subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    listing = subprocess.run(  # noqa: S603
        [
            str(python),
            "-c",
            "import importlib.metadata as m; "
            "files = m.files('jwt-middleware-asgi'); "
            "print('\\n'.join(sorted({str(f).split('/')[0] for f in files})))",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert set(listing) == {
        "jwt_middleware",
        f"jwt_middleware_asgi-{jwt_middleware.__version__}.dist-info",
    }
    site = next((environment / "lib").glob("python*/site-packages"))
    assert not (site / "demo_app").exists()
    assert not (site / "tests").exists()
