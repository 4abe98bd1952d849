"""``python -m jwt_middleware``: the route table of an app, and why a request would be refused.

``routes module:app`` prints every route (method, path) with what the middleware asks of
its requests: public, optional, or a token and the scopes (and step-up) it must have; then
the rules that match no route. The middleware's settings are not read, only its rules.

``explain module:app --token T --method GET --path /orders`` sends one request through the
app's middleware (no handler runs) and prints what it answered and why: the rule, the
credential, the token's header, the issuer and keys, each claim check, and the exact
status, ``WWW-Authenticate`` and body. The token is read from ``--token``, from a file
(``--token-file``), or from standard input (``--token -``), and never printed. The exit
code is 0 when the request would reach the app, 1 when it would be refused. For a
sender-constrained token: ``--dpop-proof`` (or ``--dpop-proof-file``) sends the token as
``Authorization: DPoP`` with that proof (``--scheme`` says otherwise: ``Bearer`` to see a
bound token sent as a bearer token, ``DPoP`` without a proof), and ``--client-cert`` a PEM
file holding the client certificate of the TLS connection.

The app is imported as uvicorn would import it (``module:attribute``, from the current
folder).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from .explain import run
from .report import routes_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jwt_middleware")
    commands = parser.add_subparsers(dest="command", required=True)
    routes = commands.add_parser("routes", help="print what each route of an app requires")
    routes.add_argument("app", help="the app to read, as module:attribute (like uvicorn)")
    explain = commands.add_parser("explain", help="say what the middleware does with a request")
    explain.add_argument("app", help="the app, as module:attribute (like uvicorn)")
    token = explain.add_mutually_exclusive_group()
    token.add_argument("--token", help="the token, or - to read it from standard input")
    token.add_argument("--token-file", type=Path, help="a file holding the token")
    proof = explain.add_mutually_exclusive_group()
    proof.add_argument("--dpop-proof", help="a DPoP proof, sent in the DPoP header")
    proof.add_argument("--dpop-proof-file", type=Path, help="a file holding the DPoP proof")
    explain.add_argument(
        "--scheme",
        choices=["Bearer", "DPoP"],
        help="the Authorization scheme (DPoP with a proof, else Bearer)",
    )
    explain.add_argument(
        "--client-cert", type=Path, help="a PEM file: the client certificate of the connection"
    )
    explain.add_argument("--method", default="GET", help="the request's method (GET)")
    explain.add_argument("--path", default="/", help="the request's path (/)")
    explain.add_argument(
        "--header", action="append", default=[], help="another header, 'Name: value'"
    )
    arguments = parser.parse_args(argv)
    app = _import(parser, arguments.app)
    if app is None:
        return 2
    if arguments.command == "routes":
        try:
            print(routes_report(app))
        except LookupError as exc:
            print(f"{arguments.app}: {exc}", file=sys.stderr)
            return 2
        return 0
    if arguments.token == arguments.dpop_proof == "-":  # noqa: S105 - "-" is stdin
        parser.error("standard input holds the token or the proof, not both")
    headers = []
    for header in arguments.header:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            parser.error("a header is 'Name: value'")
        headers.append((name.strip(), value.strip()))
    try:
        explanation = run(
            app,
            token=_token(arguments.token, arguments.token_file),
            method=arguments.method,
            path=arguments.path,
            headers=headers,
            scheme=arguments.scheme,
            dpop_proof=_token(arguments.dpop_proof, arguments.dpop_proof_file),
            client_certificate=(
                arguments.client_cert.read_text(encoding="ascii", errors="replace")
                if arguments.client_cert is not None
                else None
            ),
        )
    except LookupError as exc:
        print(f"{arguments.app}: {exc}", file=sys.stderr)
        return 2
    print(explanation.render())
    return 0 if explanation.let_through else 1


def _import(parser: argparse.ArgumentParser, spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        parser.error("the app is module:attribute, e.g. myservice.main:app")
    sys.path.insert(0, str(Path.cwd()))
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        print(f"cannot import {spec}: {type(exc).__name__}", file=sys.stderr)
        return None


def _token(given: str | None, file: Path | None) -> str | None:
    if file is not None:
        return file.read_text(encoding="utf-8").strip()
    if given == "-":
        return sys.stdin.read().strip()
    return given


if __name__ == "__main__":
    sys.exit(main())
