"""Drive panva's ``dpop`` (the npm package ``tests/dpop/package-lock.json`` pins) from
Python: a real DPoP client makes the key pairs and the proofs the tests send.

One ``node`` process (:file:`client.mjs`) per :class:`DPoPClient`, spoken to one JSON line
at a time; its private keys never leave it. Node.js and the package come from
:func:`tests.oidc.node.ensure_node`, so a machine without them skips these tests, and CI
(``JWT_MIDDLEWARE_REQUIRE_SERVICES=1``) fails them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

from tests.dpop.proofs import thumbprint
from tests.oidc.node import ensure_node

DPOP_DIR: Final = Path(__file__).resolve().parent


class ClientKey:
    """One key pair of the client: its public JWK, and the RFC 7638 thumbprint a token is
    bound to (``cnf.jkt``), worked out by the tests' own code (``client_jkt`` is the
    client's own)."""

    def __init__(
        self, client: DPoPClient, key_id: int, jwk: dict[str, Any], client_jkt: str
    ) -> None:
        self._client = client
        self.id = key_id
        self.jwk = jwk
        self.jkt = thumbprint(jwk)
        self.client_jkt = client_jkt

    def proof(
        self, htm: str, htu: str, *, token: str | None = None, nonce: str | None = None
    ) -> str:
        """A proof for a ``htm`` request to ``htu``, bound to ``token`` (its ``ath``)."""
        answer = self._client.ask(
            {"op": "proof", "id": self.id, "htm": htm, "htu": htu, "token": token, "nonce": nonce}
        )
        proof: str = answer["proof"]
        return proof


class DPoPClient:
    """The node process; close it (or use it as a context manager) when done."""

    def __init__(self) -> None:
        node = ensure_node(DPOP_DIR)
        self._process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            [node, str(DPOP_DIR / "client.mjs")],
            cwd=DPOP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the DPoP client exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the DPoP client failed: {answer['error']}")
        return answer

    def key(self, alg: str = "ES256") -> ClientKey:
        """A new key pair of ``alg`` (ES256, Ed25519, PS256 or RS256)."""
        answer = self.ask({"op": "key", "alg": alg})
        return ClientKey(self, answer["id"], answer["jwk"], answer["jkt"])

    def close(self) -> None:
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> DPoPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
