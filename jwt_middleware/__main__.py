"""``python -m jwt_middleware routes module:app``: what each route of an app requires.

Prints every route (method, path) with what the middleware asks of its requests: public,
optional, or a token and the scopes (and step-up) it must have; then the rules that match no
route. The app is imported as uvicorn would import it (``module:attribute``, from the
current folder); the middleware's settings are not read, only its rules.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .report import routes_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jwt_middleware")
    commands = parser.add_subparsers(dest="command", required=True)
    routes = commands.add_parser("routes", help="print what each route of an app requires")
    routes.add_argument("app", help="the app to read, as module:attribute (like uvicorn)")
    arguments = parser.parse_args(argv)
    module_name, _, attribute = arguments.app.partition(":")
    if not module_name or not attribute:
        parser.error("the app is module:attribute, e.g. myservice.main:app")
    sys.path.insert(0, str(Path.cwd()))
    try:
        app = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        print(f"cannot import {arguments.app}: {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        print(routes_report(app))
    except LookupError as exc:
        print(f"{arguments.app}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
