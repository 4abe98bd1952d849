"""What the package's docstrings name exists: every ``:mod:``, ``:class:``, ``:func:``,
``:meth:``, ``:attr:``, ``:data:`` and ``:exc:`` reference resolves. One case per
reference, named ``module:line``."""

from __future__ import annotations

import builtins
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import pytest

from .pages import REPO_ROOT

PACKAGE: Final = REPO_ROOT / "jwt_middleware"
_ROLE: Final = re.compile(r":(?:mod|class|func|meth|attr|data|exc):`~?([^`]+)`")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _references(pattern: re.Pattern[str]) -> list[Any]:
    cases = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for found in pattern.finditer(text):
            line = text.count("\n", 0, found.start()) + 1
            where = f"{path.relative_to(REPO_ROOT).as_posix()}:{line}"
            cases.append(pytest.param(_module_name(path), found.group(1), id=where))
    return cases


def _lookup(start: object, dotted: list[str]) -> bool:
    value = start
    for name in dotted:
        if not hasattr(value, name):
            return False
        value = getattr(value, name)
    return True


def _package_modules() -> list[ModuleType]:
    return [importlib.import_module(_module_name(path)) for path in sorted(PACKAGE.rglob("*.py"))]


def _is_package(module_name: str) -> bool:
    return (PACKAGE.parent / module_name.replace(".", "/") / "__init__.py").exists()


def _resolves_absolute(target: str) -> bool:
    dotted = target.split(".")
    for cut in range(len(dotted), 0, -1):
        try:
            module = importlib.import_module(".".join(dotted[:cut]))
        except ImportError:
            continue
        if _lookup(module, dotted[cut:]):
            return True
    return False


def _resolves(module_name: str, target: str) -> bool:
    """As Sphinx would look it up from ``module_name``: absolute, relative to the package
    (``.types.BoundKey``), in the module or one of its classes, or a builtin; and, for a
    short name, anywhere in the package (``InMemoryRevocationStore`` from ``errors``)."""
    if target.startswith("."):
        # Relative to the module's own package first (a wing's ``.source``), then to the
        # top package (``.types.BoundKey`` from anywhere).
        package = module_name if _is_package(module_name) else module_name.rpartition(".")[0]
        bases = dict.fromkeys([package, "jwt_middleware"])
        return any(_resolves_absolute(base + target) for base in bases)
    if _resolves_absolute(target):
        return True
    dotted = target.split(".")
    if _lookup(builtins, dotted):
        return True
    candidates = [importlib.import_module(module_name), *_package_modules()]
    for module in candidates:
        if _lookup(module, dotted):
            return True
        classes = [value for _, value in inspect.getmembers(module, inspect.isclass)]
        if any(_lookup(cls, dotted) for cls in classes):
            return True
    return False


@pytest.mark.parametrize(("module_name", "target"), _references(_ROLE))
def test_docstring_reference_exists(module_name: str, target: str) -> None:
    assert _resolves(module_name, target), f"{module_name} names {target}, which does not exist"


@pytest.mark.parametrize(
    ("module_name", "target", "exists"),
    [
        ("jwt_middleware.keys.refetch", "allowed", True),
        ("jwt_middleware.keys.refetch", "force", False),
        ("jwt_middleware.jws", ".types.BoundKey", True),
        ("jwt_middleware.errors", "InMemoryRevocationStore", True),
        ("jwt_middleware.errors", "jwt_middleware.nowhere", False),
    ],
    ids=["method-of-a-class", "no-such-method", "relative", "elsewhere-in-package", "missing"],
)
def test_reference_lookup(module_name: str, target: str, exists: bool) -> None:
    """The lookup above finds what exists and only that."""
    assert _resolves(module_name, target) is exists
